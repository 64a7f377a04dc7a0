-- How the payment attempt under way is taken: 'card' (POST /orders/{id}/payment)
-- or 'manual' (PUT /orders/{id}/status to paid: money taken outside Shop).
-- Recovery settles an interrupted attempt with the same method.
ALTER TABLE orders ADD COLUMN paying_method TEXT NOT NULL DEFAULT 'card' CHECK (paying_method IN ('card', 'manual'));
