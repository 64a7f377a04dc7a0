-- The seed platform's Monitor starts with 15 units, not 20. Only a catalog
-- created by this very migration run is corrected: its sample Monitor was
-- inserted by 0001 seconds ago, never changed and never reserved. A shop
-- that already runs keeps its stock.
UPDATE products SET stock = 15
WHERE id = 4 AND name = 'Monitor' AND stock = 20 AND category = 'Electronics'
  AND created_at = updated_at
  AND created_at >= to_char((now() - interval '60 seconds') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
  AND NOT EXISTS (SELECT 1 FROM reservations);
