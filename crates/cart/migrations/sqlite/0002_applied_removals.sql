-- Keys of the order removals already applied, so a retried removal
-- (after a crash or a timeout) takes the items out only once.
CREATE TABLE applied_removals (
    key        TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    created_at TEXT NOT NULL
);
