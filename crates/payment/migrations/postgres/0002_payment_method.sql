-- How a payment was taken: 'card' through Shop, 'manual' when staff record
-- money taken outside Shop ("mark as paid"). Earlier payments were cards.
ALTER TABLE payments ADD COLUMN method TEXT NOT NULL DEFAULT 'card' CHECK (method IN ('card', 'manual'));
