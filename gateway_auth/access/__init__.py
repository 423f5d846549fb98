"""The access rules and the /verify decision: pure, no aiohttp, no store."""
