-- Security Console sessions, SQLite flavour. Keep equivalent to ../postgres/0007_console.sql.
-- Only the SHA-256 of a session identifier is stored: the identifier itself lives in the
-- administrator's cookie. A session dies with its administrator.
CREATE TABLE console_sessions (
    id_hash    TEXT    NOT NULL PRIMARY KEY,
    admin_id   INTEGER NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    admin_name TEXT    NOT NULL,
    source     TEXT    NULL,
    created_at INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL
) STRICT;
CREATE INDEX console_sessions_admin_id ON console_sessions (admin_id);
