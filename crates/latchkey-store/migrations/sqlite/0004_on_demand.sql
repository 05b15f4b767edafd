-- On-demand tokencodes on the manager channel, SQLite flavour. Keep equivalent to
-- ../postgres/0004_on_demand.sql. A user enabled here types this PIN alone; a code goes to
-- their phone and answers a next-tokencode challenge. The PIN is kept as a keyed verifier.
CREATE TABLE on_demand (
    user_id      INTEGER NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    pin_verifier TEXT    NOT NULL,
    created_at   INTEGER NOT NULL
) STRICT;
