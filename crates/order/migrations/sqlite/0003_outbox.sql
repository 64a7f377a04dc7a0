-- Order events, written in the same transaction as the change they
-- describe. `seq` orders them; `published_at` is set once Kafka has
-- acknowledged the event. Published events are pruned after the retention
-- period; unpublished ones never are.
CREATE TABLE outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     TEXT    NOT NULL UNIQUE,
    order_id     INTEGER NOT NULL,
    event_type   TEXT    NOT NULL,
    data         TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    published_at TEXT
);

CREATE INDEX outbox_unpublished ON outbox (order_id, seq) WHERE published_at IS NULL;
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;
