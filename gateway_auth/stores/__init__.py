"""Storage backends behind the protocols of ``stores.base``."""
