-- Authentication state, SQLite flavour. Keep equivalent to ../postgres/0002_authn.sql.
-- ADD COLUMN with a constant default (or NULL) is allowed on STRICT tables and fills the
-- existing rows with the default.

-- Lockout: consecutive failures in the window, when the last one happened, when the current
-- lock ends by itself (NULL while locked: an administrator must unlock), locks since the last
-- success (for escalating lock times).
ALTER TABLE users ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN last_failure_at INTEGER NULL;
ALTER TABLE users ADD COLUMN locked_until INTEGER NULL;
ALTER TABLE users ADD COLUMN lock_count INTEGER NOT NULL DEFAULT 0;

-- Incorrect passcodes since the last success (next-tokencode mode at the policy's limit).
ALTER TABLE tokens ADD COLUMN failed_passcodes INTEGER NOT NULL DEFAULT 0;

-- Pending challenges. `id` is the random identifier given to the agent; `state` is the JSON
-- of the conversation state (no secret in clear); `created_at` is reserved for the creation
-- time (NULL until the core's Attempt carries one).
CREATE TABLE authn_attempts (
    id         TEXT    NOT NULL PRIMARY KEY,
    agent_id   INTEGER NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    login      TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    state      TEXT    NOT NULL,
    created_at INTEGER NULL
) STRICT;
CREATE INDEX authn_attempts_expires_at ON authn_attempts (expires_at);
CREATE INDEX authn_attempts_agent_id ON authn_attempts (agent_id);
CREATE INDEX authn_attempts_user_id ON authn_attempts (user_id);
