-- Security Console sessions, PostgreSQL flavour. Keep equivalent to ../sqlite/0007_console.sql.
-- Only the SHA-256 of a session identifier is stored: the identifier itself lives in the
-- administrator's cookie. A session dies with its administrator.
CREATE TABLE console_sessions (
    id_hash    TEXT   NOT NULL PRIMARY KEY,
    admin_id   BIGINT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    admin_name TEXT   NOT NULL,
    source     TEXT   NULL,
    created_at BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL
);
CREATE INDEX console_sessions_admin_id ON console_sessions (admin_id);
