"""What the tests share, one module per thing: ``clock`` (time from the real present),
``credentials`` (passwords and secrets), ``waiting`` (``eventually``: the one way to wait for a
condition), ``processes`` (free ports, starting and always stopping a process, redis-server,
``gateway-auth serve``, nginx's main configuration), ``browser`` (a cookie-keeping HTTP client
of the app), ``wire`` (raw HTTP/1.1 and the aiohttp-only twin), ``conformance`` (answers checked
against the OpenAPI document), ``records`` (store records at a fixed moment), ``stores`` (the
stores a suite runs on), ``recipes`` (deploy/'s gateways as real processes), ``gateways``,
``chromium``, ``instances`` and ``metrics``.

No test module imports another; what two of them need lives here.
"""
