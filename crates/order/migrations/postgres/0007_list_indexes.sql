-- Order lists are filtered and sorted by the index of each filter and sort
-- (GET /orders?status=…, ?sort=total; the user's list has orders_user, a
-- created range orders_by_created), then paged by keyset on (key, id).
CREATE INDEX orders_status ON orders (status, id);
CREATE INDEX orders_total ON orders (total_cents, id);
