"""Accounts: registering, changing and deleting clients, operators' actions, mailed links."""
