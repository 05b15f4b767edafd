-- Offline hosts (docs/design/offline.md), SQLite flavour. Keep equivalent to
-- ../postgres/0006_offline.sql. One row per enrolled offline-host agent; per user and host,
-- what the last download held (generations of the emergency values, expiry, policy
-- fingerprint), so the console can say which value each host accepts; ids of uploaded
-- offline events, so a re-upload is recorded once.
CREATE TABLE offline_hosts (
    agent_id    INTEGER NOT NULL PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,
    host_id     TEXT    NOT NULL UNIQUE,
    hostname    TEXT    NOT NULL,
    public_key  BLOB    NOT NULL,
    enrolled_at INTEGER NOT NULL
) STRICT;

CREATE TABLE offline_downloads (
    user_id               INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    agent_id              INTEGER NOT NULL REFERENCES offline_hosts (agent_id) ON DELETE CASCADE,
    synced_at             INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL,
    policy_fingerprint    TEXT    NOT NULL,
    passcode_generation   INTEGER NULL,
    tokencode_generations TEXT    NOT NULL,
    eac_id                TEXT    NULL,
    PRIMARY KEY (user_id, agent_id)
) STRICT;
CREATE INDEX offline_downloads_agent_id ON offline_downloads (agent_id);

CREATE TABLE offline_events (
    agent_id    INTEGER NOT NULL REFERENCES offline_hosts (agent_id) ON DELETE CASCADE,
    event_id    TEXT    NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (agent_id, event_id)
) STRICT;
