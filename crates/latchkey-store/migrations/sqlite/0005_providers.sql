-- Messaging providers set by an administrator, SQLite flavour. Keep equivalent to
-- ../postgres/0005_providers.sql. While messaging_provider_state says `in_use` = 1, the
-- database's ordered list replaces the configuration file's (0: the file's applies again).
-- `version` grows by one at every change and is never reused, so every node can tell cheaply
-- whether to rebuild its providers. Credentials (Twilio auth token, Kannel password, generic
-- header values) are one sealed JSON object per provider, bound to `messaging-provider:NAME`;
-- `settings` holds the rest, secrets blanked.
CREATE TABLE messaging_provider_state (
    id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    version    INTEGER NOT NULL,
    in_use     INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE messaging_providers (
    id             INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    position       INTEGER NOT NULL UNIQUE,
    name           TEXT    NOT NULL UNIQUE,
    kind           TEXT    NOT NULL,
    settings       TEXT    NOT NULL,
    secrets_sealed BLOB    NULL
) STRICT;
