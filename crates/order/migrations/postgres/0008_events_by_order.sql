-- An order's events (GET /events?order_id=, the staff console's order
-- page) in sequence order, published or not.
CREATE INDEX outbox_order ON outbox (order_id, seq);
