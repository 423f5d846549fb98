"""Second factors: authenticator apps (TOTP), recovery codes, and the secrets sealed at rest."""
