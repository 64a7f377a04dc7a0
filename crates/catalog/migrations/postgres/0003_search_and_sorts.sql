-- Product lists: each filter and sort has its index, and free-text search
-- has trigram indexes (pg_trgm), so a search reads the index, not the table.

-- ?category= compares case-insensitively.
DROP INDEX products_category;
CREATE INDEX products_category ON products (LOWER(category), id);
-- ?sort=price, ?sort=name (and price ranges).
CREATE INDEX products_price ON products (price_cents, id);
CREATE INDEX products_name ON products (name, id);

-- ?search=: ILIKE '%…%' on the name or description, served by a GIN
-- trigram index on each (for 3 characters or more).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX products_name_trgm ON products USING gin (name gin_trgm_ops);
CREATE INDEX products_description_trgm ON products USING gin (description gin_trgm_ops);
