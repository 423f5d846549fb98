"""The SQLite schema, as numbered migrations applied once each, in order, at start-up."""

from __future__ import annotations

import logging

import aiosqlite

from gateway_auth.emails import email_key, email_skeleton
from gateway_auth.errors import ConfigurationError
from gateway_auth.logging import log_event

log = logging.getLogger(__name__)

# Timestamps are integer milliseconds since the epoch, UTC.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE clients (
            id TEXT PRIMARY KEY,
            email TEXT NOT NULL,
            email_key TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('user', 'service', 'guest')),
            scopes TEXT NOT NULL DEFAULT '[]',
            first_name TEXT,
            last_name TEXT,
            password_hash TEXT,
            suspended INTEGER NOT NULL DEFAULT 0,
            suspended_at INTEGER,
            suspend_reason TEXT,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            deleted_at INTEGER
        )""",
        "CREATE UNIQUE INDEX clients_email_key ON clients (email_key)",
        "CREATE INDEX clients_created ON clients (created_at, id)",
        "CREATE INDEX clients_deleted ON clients (deleted_at) WHERE deleted_at IS NOT NULL",
        "CREATE INDEX clients_suspended ON clients (id) WHERE suspended = 1",
        """CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
            refresh_hash TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            last_used_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            absolute_expires_at INTEGER NOT NULL,
            user_agent TEXT NOT NULL DEFAULT '',
            ip TEXT NOT NULL DEFAULT '',
            revoked_at INTEGER
        )""",
        "CREATE INDEX sessions_client ON sessions (client_id)",
        "CREATE INDEX sessions_revoked ON sessions (revoked_at) WHERE revoked_at IS NOT NULL",
        "CREATE INDEX sessions_expires ON sessions (expires_at)",
        # Hashes of rotated refresh tokens: presenting one again is reuse (RFC 9700 4.14.2).
        """CREATE TABLE rotated_refresh_tokens (
            hash TEXT PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            rotated_at INTEGER NOT NULL
        )""",
        "CREATE INDEX rotated_refresh_tokens_session ON rotated_refresh_tokens (session_id)",
        """CREATE TABLE outbox (
            id TEXT PRIMARY KEY,
            client_id TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_at INTEGER NOT NULL
        )""",
        "CREATE INDEX outbox_created ON outbox (created_at, id)",
    ),
    (
        # Service clients authenticate with a secret (stored as a SHA-256 hash: it is random).
        "ALTER TABLE clients ADD COLUMN secret_hash TEXT",
        # A relay leases the entries it publishes, so two instances rarely send one event twice.
        "ALTER TABLE outbox ADD COLUMN claimed_until INTEGER",
        "ALTER TABLE outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0",
        # What stays of a client once its deletion event is published: ids are never reused.
        """CREATE TABLE tombstones (
            id TEXT PRIMARY KEY,
            deleted_at INTEGER NOT NULL
        )""",
        "CREATE INDEX tombstones_deleted ON tombstones (deleted_at)",
    ),
    (
        # "Keep me signed in": whether a refresh renews cookies that outlive the browser.
        "ALTER TABLE sessions ADD COLUMN persistent INTEGER NOT NULL DEFAULT 1",
    ),
    (
        # Email identity (``emails``): NFKC_Casefold keys with IDNA domains, and the UTS #39
        # skeleton, unique, so an address that looks like a registered one is refused.
        "ALTER TABLE clients ADD COLUMN email_skeleton TEXT",
        "rekey_emails",
        "CREATE UNIQUE INDEX clients_email_skeleton ON clients (email_skeleton)",
    ),
    (
        # The account lifecycle: verified emails, and single-use tokens mailed for a password
        # reset or an email verification (only their SHA-256 is kept).
        "ALTER TABLE clients ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0",
        """CREATE TABLE account_tokens (
            hash TEXT PRIMARY KEY,
            client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
            purpose TEXT NOT NULL CHECK (purpose IN ('password-reset', 'email-verification')),
            email_key TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            used_at INTEGER
        )""",
        "CREATE INDEX account_tokens_client ON account_tokens (client_id, purpose, created_at)",
        "CREATE INDEX account_tokens_expires ON account_tokens (expires_at)",
    ),
    (
        # Step-up: until when a session's elevated scopes are in force.
        "ALTER TABLE sessions ADD COLUMN elevated_until INTEGER",
    ),
    (
        # 7: a grant narrowed by OAuth's scope parameter (NULL: every scope the client holds).
        "ALTER TABLE sessions ADD COLUMN scopes TEXT",
    ),
    (
        # 8: second factors. A TOTP secret sealed with ENCRYPTION_KEY (AES-GCM), the newest
        # time step accepted (replay), recovery codes as salted SHA-256; and how each session's
        # sign-in was proved (RFC 8176 amr, a JSON list).
        """CREATE TABLE second_factors (
            client_id TEXT PRIMARY KEY REFERENCES clients (id) ON DELETE CASCADE,
            totp_secret TEXT NOT NULL,
            totp_created_at INTEGER NOT NULL,
            totp_confirmed_at INTEGER,
            totp_last_step INTEGER NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE recovery_codes (
            client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
            hash TEXT NOT NULL,
            PRIMARY KEY (client_id, hash)
        )""",
        "ALTER TABLE sessions ADD COLUMN amr TEXT",
    ),
    (
        # 9: wrong codes in a row for an app, so a slow guesser meets a limit too.
        "ALTER TABLE second_factors ADD COLUMN totp_failures INTEGER NOT NULL DEFAULT 0",
    ),
    (
        # 10: WebAuthn credentials (passkeys, security keys): public keys and counters, found
        # by their id when a passkey signs in without an email address.
        """CREATE TABLE passkeys (
            credential_id TEXT PRIMARY KEY,
            client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
            public_key BLOB NOT NULL,
            sign_count INTEGER NOT NULL DEFAULT 0,
            name TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            last_used_at INTEGER,
            synced INTEGER NOT NULL DEFAULT 0,
            transports TEXT NOT NULL DEFAULT '[]',
            aaguid TEXT NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX passkeys_by_client ON passkeys (client_id, created_at)",
    ),
    (
        # 11: accounts at other identity providers, and the provider a session came through
        # with its own session id, which that provider's back-channel logout names.
        """CREATE TABLE identities (
            provider TEXT NOT NULL,
            subject TEXT NOT NULL,
            client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
            email TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            last_used_at INTEGER,
            PRIMARY KEY (provider, subject)
        )""",
        "CREATE INDEX identities_by_client ON identities (client_id, created_at)",
        "ALTER TABLE sessions ADD COLUMN provider TEXT",
        "ALTER TABLE sessions ADD COLUMN provider_sid TEXT",
        "CREATE INDEX sessions_by_provider ON sessions (provider, provider_sid)"
        " WHERE provider IS NOT NULL",
    ),
    (
        # 12: a session opened on another domain from a live one belongs to that one's family.
        "ALTER TABLE sessions ADD COLUMN family TEXT",
        "CREATE INDEX sessions_by_family ON sessions (family) WHERE family IS NOT NULL",
    ),
    (
        # 13: groups operators give clients (a JSON list, as scopes are kept).
        "ALTER TABLE clients ADD COLUMN groups_json TEXT NOT NULL DEFAULT '[]'",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


async def migrate(db: aiosqlite.Connection) -> int:
    """Bring the schema to SCHEMA_VERSION; safe to run concurrently and repeatedly."""
    await db.execute("BEGIN IMMEDIATE")  # a second process starting at once waits here
    try:
        async with db.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        version = int(row[0]) if row else 0
        _refuse_newer(version)
        for number in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[number - 1]:
                if statement == "rekey_emails":
                    await rekey_emails(db)
                else:
                    await db.execute(statement)
            await db.execute(f"PRAGMA user_version = {number}")
    except BaseException:
        await db.execute("ROLLBACK")
        raise
    await db.execute("COMMIT")
    return SCHEMA_VERSION


async def rekey_emails(db: aiosqlite.Connection) -> None:
    """Recompute every client's email key and skeleton under the current rules, oldest first.

    Two accounts that the new rules call the same, or look-alike, are both kept: the later one
    keeps its old key (or ``kept:<id>`` if that is taken too) and gets the skeleton
    ``kept:<id>`` (it matches nothing); the log names them, for an operator to rename. Every
    key is decided first and written after all of them were cleared, so a new key that equals
    another row's old one is no conflict.
    """
    async with db.execute(
        "SELECT id, email, email_key FROM clients ORDER BY created_at, id"
    ) as rows:
        clients = list(await rows.fetchall())
    keys: set[str] = set()
    skeletons: set[str] = set()
    decided: list[tuple[str, str, str]] = []
    kept: list[str] = []
    for client_id, email, old_key in clients:
        key, skeleton = email_key(email), email_skeleton(email)
        if key in keys or skeleton in skeletons:
            kept.append(client_id)
        if key in keys:
            key = old_key if old_key not in keys else f"kept:{client_id}"
        if skeleton in skeletons:
            skeleton = f"kept:{client_id}"
        keys.add(key)
        skeletons.add(skeleton)
        decided.append((key, skeleton, client_id))
    await db.execute("UPDATE clients SET email_key = 'rekeying:' || id")
    await db.executemany(
        "UPDATE clients SET email_key = ?, email_skeleton = ? WHERE id = ?", decided
    )
    if kept:
        log_event(
            log,
            "confusable_emails_kept",
            level=logging.WARNING,
            clients=len(kept),
            client_ids=kept[:100],
            advice="these accounts look like older ones: ask their owners to change the email",
        )


def _refuse_newer(version: int) -> None:
    if version > SCHEMA_VERSION:
        raise ConfigurationError(
            [
                f"the database schema is version {version}, newer than this release's "
                f"{SCHEMA_VERSION}; upgrade gateway-auth instead of downgrading"
            ]
        )
