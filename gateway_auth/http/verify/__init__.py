"""``/verify`` over HTTP: the fast listener, the aiohttp handler, the answers, the target."""
