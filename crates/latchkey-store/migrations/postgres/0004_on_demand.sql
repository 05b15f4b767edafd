-- On-demand tokencodes on the manager channel, PostgreSQL flavour. Keep equivalent to
-- ../sqlite/0004_on_demand.sql. A user enabled here types this PIN alone; a code goes to
-- their phone and answers a next-tokencode challenge. The PIN is kept as a keyed verifier.
CREATE TABLE on_demand (
    user_id      BIGINT NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    pin_verifier TEXT   NOT NULL,
    created_at   BIGINT NOT NULL
);
