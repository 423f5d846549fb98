"""Signing in with another identity provider: OpenID Connect (any provider, by discovery) and
the presets for GitHub, Google, Microsoft and GitLab.

The providers come from IDENTITY_PROVIDERS_FILE (``file.py``); ``client.py`` speaks OAuth 2.0
and OpenID Connect to them through Authlib; ``service.py`` turns what a provider vouches for
into gateway-auth's own accounts and sessions. No aiohttp here.
"""
