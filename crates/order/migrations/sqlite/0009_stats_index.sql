-- GET /stats aggregates the orders placed in a range by status and refund
-- status from this index alone (it covers every column the query reads).
CREATE INDEX orders_by_created ON orders (created_at, status, refund_status, total_cents);
