-- A checkout's removal can be given back (the checkout failed after taking
-- its lines): 'taken' while the lines are out of the cart under the key,
-- 'restored' once they are back, or when the key was given back before
-- anything was taken, so that a late removal under it takes nothing.
-- 'taking' only inside the removal's own transaction, never committed.
ALTER TABLE applied_removals ADD COLUMN state TEXT NOT NULL DEFAULT 'taken'
    CHECK (state IN ('taking', 'taken', 'restored'));
