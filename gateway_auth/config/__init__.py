"""Configuration: settings, their parsing, signing keys and the data directory."""
