-- Signing keys rotate: a key is the `next` one (published in the key set,
-- not yet signing), the `current` one (signing; the first made, if a race
-- of replicas made several) or a `previous` one (published until
-- `retire_at`, when every token it signed has expired).
ALTER TABLE signing_keys ADD COLUMN state TEXT NOT NULL DEFAULT 'current';
ALTER TABLE signing_keys ADD COLUMN retire_at TEXT;
