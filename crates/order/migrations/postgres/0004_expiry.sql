-- Unpaid orders expire (ORDER_PAYMENT_TIMEOUT): why an order was cancelled,
-- 'expired' when the shop cancelled it for want of payment, NULL otherwise.
ALTER TABLE orders ADD COLUMN cancel_reason TEXT;

-- What the expiry pass looks for, oldest first, without reading paid or
-- finished orders.
CREATE INDEX orders_unpaid_by_age ON orders (created_at)
    WHERE status IN ('pending', 'confirmed');
