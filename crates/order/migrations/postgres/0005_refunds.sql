-- Cancelling a paid order refunds its payment. `refund_status` is set in
-- the cancel's own transaction: 'pending' until the payment service has
-- recorded the refund, then 'refunded' (with the refund's id and time).
-- NULL for every order that was not paid when it was cancelled (and for
-- orders cancelled before refunds existed: they are not refunded now).
ALTER TABLE orders ADD COLUMN refund_status TEXT;
ALTER TABLE orders ADD COLUMN refund_id TEXT;
ALTER TABLE orders ADD COLUMN refunded_at TEXT;

-- What recovery looks for: refunds not yet recorded.
CREATE INDEX orders_refunds_pending ON orders (id) WHERE refund_status = 'pending';
