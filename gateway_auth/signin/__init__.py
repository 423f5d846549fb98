"""Signing in: sessions, OAuth grants, passwords, and the regulation of guessing."""
