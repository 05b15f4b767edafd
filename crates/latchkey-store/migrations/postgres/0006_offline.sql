-- Offline hosts (docs/design/offline.md), PostgreSQL flavour. Keep equivalent to
-- ../sqlite/0006_offline.sql (see there for what each table holds).
CREATE TABLE offline_hosts (
    agent_id    BIGINT NOT NULL PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,
    host_id     TEXT   COLLATE "C" NOT NULL UNIQUE,
    hostname    TEXT   NOT NULL,
    public_key  BYTEA  NOT NULL,
    enrolled_at BIGINT NOT NULL
);

CREATE TABLE offline_downloads (
    user_id               BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    agent_id              BIGINT NOT NULL REFERENCES offline_hosts (agent_id) ON DELETE CASCADE,
    synced_at             BIGINT NOT NULL,
    expires_at            BIGINT NOT NULL,
    policy_fingerprint    TEXT   NOT NULL,
    passcode_generation   BIGINT NULL,
    tokencode_generations TEXT   NOT NULL,
    eac_id                TEXT   NULL,
    PRIMARY KEY (user_id, agent_id)
);
CREATE INDEX offline_downloads_agent_id ON offline_downloads (agent_id);

CREATE TABLE offline_events (
    agent_id    BIGINT NOT NULL REFERENCES offline_hosts (agent_id) ON DELETE CASCADE,
    event_id    TEXT   COLLATE "C" NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (agent_id, event_id)
);
