-- Latchkey schema, SQLite flavour. Keep equivalent to ../postgres/0001_initial.sql:
-- same tables, columns, constraints and indexes; only the type spellings differ.
-- STRICT tables make SQLite check column types the way PostgreSQL does.
-- Booleans are INTEGER 0/1 (BIGINT in PostgreSQL); times are Unix seconds.
-- AUTOINCREMENT: ids are never reused, as with PostgreSQL identity columns.

CREATE TABLE domains (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT    NOT NULL UNIQUE,
    parent_id        INTEGER NULL REFERENCES domains (id),
    token_policy     TEXT    NULL,
    lockout_policy   TEXT    NULL,
    offline_policy   TEXT    NULL,
    emergency_policy TEXT    NULL,
    created_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX domains_parent_id ON domains (parent_id);

CREATE TABLE users (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    login      TEXT    NOT NULL UNIQUE,
    domain_id  INTEGER NOT NULL REFERENCES domains (id),
    status     TEXT    NOT NULL,
    email      TEXT    NULL,
    phones     TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX users_domain_id ON users (domain_id);

CREATE TABLE tokens (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    serial           TEXT    NOT NULL UNIQUE,
    token_type       TEXT    NOT NULL,
    algorithm        TEXT    NOT NULL,
    digits           INTEGER NOT NULL,
    period           INTEGER NOT NULL,
    counter          INTEGER NOT NULL CHECK (counter >= 0),
    seed_sealed      BLOB    NOT NULL,
    domain_id        INTEGER NOT NULL REFERENCES domains (id),
    user_id          INTEGER NULL REFERENCES users (id) ON DELETE SET NULL,
    enabled          INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    pin_verifier     TEXT    NULL,
    new_pin_required INTEGER NOT NULL CHECK (new_pin_required IN (0, 1)),
    last_used        INTEGER NULL,
    drift            INTEGER NOT NULL,
    created_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX tokens_user_id ON tokens (user_id);
CREATE INDEX tokens_domain_id ON tokens (domain_id);

CREATE TABLE agents (
    id                            INTEGER PRIMARY KEY AUTOINCREMENT,
    name                          TEXT    NOT NULL UNIQUE,
    kind                          TEXT    NOT NULL,
    domain_id                     INTEGER NOT NULL REFERENCES domains (id),
    api_key_hash                  TEXT    NULL UNIQUE,
    address                       TEXT    NULL,
    secret_sealed                 BLOB    NULL,
    require_message_authenticator INTEGER NOT NULL CHECK (require_message_authenticator IN (0, 1)),
    created_at                    INTEGER NOT NULL
) STRICT;
CREATE INDEX agents_domain_id ON agents (domain_id);

CREATE TABLE admins (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT    NOT NULL UNIQUE,
    role            TEXT    NOT NULL,
    scope_domain_id INTEGER NOT NULL REFERENCES domains (id),
    password_hash   TEXT    NOT NULL,
    created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX admins_scope_domain_id ON admins (scope_domain_id);

CREATE TABLE admin_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    admin_id   INTEGER NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    token_hash TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX admin_tokens_admin_id ON admin_tokens (admin_id);

CREATE TABLE secrets (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL UNIQUE,
    value_sealed BLOB    NOT NULL,
    created_at   INTEGER NOT NULL
) STRICT;

CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    target    TEXT    NOT NULL,
    outcome   TEXT    NOT NULL,
    source    TEXT    NULL,
    detail    TEXT    NOT NULL,
    prev_hash TEXT    NOT NULL,
    hash      TEXT    NOT NULL
) STRICT;

-- The head of the chain: one row, updated in the same transaction as every append.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT    NOT NULL
) STRICT;
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
