-- Authentication state, PostgreSQL flavour. Keep equivalent to ../sqlite/0002_authn.sql.

-- Lockout: consecutive failures in the window, when the last one happened, when the current
-- lock ends by itself (NULL while locked: an administrator must unlock), locks since the last
-- success (for escalating lock times).
ALTER TABLE users ADD COLUMN failures BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN last_failure_at BIGINT NULL;
ALTER TABLE users ADD COLUMN locked_until BIGINT NULL;
ALTER TABLE users ADD COLUMN lock_count BIGINT NOT NULL DEFAULT 0;

-- Incorrect passcodes since the last success (next-tokencode mode at the policy's limit).
ALTER TABLE tokens ADD COLUMN failed_passcodes BIGINT NOT NULL DEFAULT 0;

-- Pending challenges. `id` is the random identifier given to the agent; `state` is the JSON
-- of the conversation state (no secret in clear); `created_at` is reserved for the creation
-- time (NULL until the core's Attempt carries one).
CREATE TABLE authn_attempts (
    id         TEXT   NOT NULL PRIMARY KEY,
    agent_id   BIGINT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    login      TEXT   NOT NULL,
    expires_at BIGINT NOT NULL,
    state      TEXT   NOT NULL,
    created_at BIGINT NULL
);
CREATE INDEX authn_attempts_expires_at ON authn_attempts (expires_at);
CREATE INDEX authn_attempts_agent_id ON authn_attempts (agent_id);
CREATE INDEX authn_attempts_user_id ON authn_attempts (user_id);
