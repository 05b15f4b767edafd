-- Emergency access, SQLite flavour. Keep equivalent to ../postgres/0003_emergency.sql.

-- Online emergency access of a token (at most one grant per token). `kind` is fixed or
-- one_time; `expires_at` NULL means no expiration; `token_available` is what a use of the
-- token itself does meanwhile.
CREATE TABLE emergency_online (
    token_id        INTEGER NOT NULL PRIMARY KEY REFERENCES tokens (id) ON DELETE CASCADE,
    kind            TEXT    NOT NULL,
    expires_at      INTEGER NULL,
    token_available TEXT    NOT NULL,
    created_at      INTEGER NOT NULL
) STRICT;

-- The codes of a grant, as keyed verifiers only. `used_at` is set once for a one-time code
-- (a conditional update admits one winner); a fixed code is never marked.
CREATE TABLE emergency_online_codes (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    token_id INTEGER NOT NULL REFERENCES emergency_online (token_id) ON DELETE CASCADE,
    verifier TEXT    NOT NULL,
    used_at  INTEGER NULL
) STRICT;
CREATE INDEX emergency_online_codes_token_id ON emergency_online_codes (token_id);

-- Offline emergency values: a user's passcode (user_id set) or a token's tokencode
-- (token_id set). The value is sealed with the master key and bound to its owner and
-- generation; `generation` grows with every new value.
CREATE TABLE offline_emergency (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NULL REFERENCES users (id) ON DELETE CASCADE,
    token_id     INTEGER NULL REFERENCES tokens (id) ON DELETE CASCADE,
    generation   INTEGER NOT NULL CHECK (generation >= 1),
    value_sealed BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    online_use   INTEGER NOT NULL CHECK (online_use IN (0, 1)),
    CHECK ((user_id IS NULL) <> (token_id IS NULL))
) STRICT;
CREATE UNIQUE INDEX offline_emergency_user_id ON offline_emergency (user_id);
CREATE UNIQUE INDEX offline_emergency_token_id ON offline_emergency (token_id);

-- Emergency access codes (cloud channel and offline hosts): at most one per user; a new one
-- replaces the old. `verifier` is a keyed HMAC (online checks); `offline_verifier` an Argon2id
-- hash computed at generation, for offline data (the code itself is never stored).
CREATE TABLE emergency_access_codes (
    user_id            INTEGER NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    id                 TEXT    NOT NULL UNIQUE,
    verifier           TEXT    NOT NULL,
    offline_verifier   TEXT    NOT NULL,
    one_time           INTEGER NOT NULL CHECK (one_time IN (0, 1)),
    expires_at         INTEGER NOT NULL,
    offline_expires_at INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    used_at            INTEGER NULL
) STRICT;

-- Notifications to users (the outbox). Delivery providers read it; until one is configured
-- it is the record of what would be sent. Never holds a code.
CREATE TABLE notices (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at  INTEGER NOT NULL,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    domain_id   INTEGER NOT NULL REFERENCES domains (id),
    channel     TEXT    NOT NULL,
    destination TEXT    NULL,
    event       TEXT    NOT NULL,
    body        TEXT    NOT NULL
) STRICT;
CREATE INDEX notices_user_id ON notices (user_id);
CREATE INDEX notices_domain_id ON notices (domain_id);

-- On-demand codes sent by SMS or voice: one row per send, reserved before the provider is
-- called (the abuse limits count these rows) and completed with the provider attempts.
CREATE TABLE phone_deliveries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at  INTEGER NOT NULL,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    destination TEXT    NOT NULL,
    channel     TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    attempts    TEXT    NOT NULL
) STRICT;
CREATE INDEX phone_deliveries_user ON phone_deliveries (user_id, created_at);
CREATE INDEX phone_deliveries_destination ON phone_deliveries (destination, created_at);
CREATE INDEX phone_deliveries_created_at ON phone_deliveries (created_at);
