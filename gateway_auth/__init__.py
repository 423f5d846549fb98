"""gateway-auth: an API-gateway auth sidecar and forward-auth server."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gateway-auth")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
