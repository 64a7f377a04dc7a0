-- A checkout is marked placed in the same message as its order is stored,
-- finding the order by its reservation key (see workflow/checkout.rs).
CREATE INDEX orders_reservation_key ON orders (reservation_key);
