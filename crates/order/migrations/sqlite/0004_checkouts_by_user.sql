-- A new checkout first finishes the user's placed ones (see checkout.rs).
CREATE INDEX checkouts_user_state ON checkouts (user_id, state);
