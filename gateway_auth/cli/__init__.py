"""The ``gateway-auth`` command line."""
