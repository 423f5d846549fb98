"""Thin aiohttp handlers and middlewares over the services."""
