-- A category sorted by price or by name (browsing a shop's shelf) reads
-- its own index instead of sorting the whole category: 263 ms at a million
-- products on SQLite before, a millisecond after. Stock changes, the hot
-- path, touch none of the products' indexes.
CREATE INDEX products_category_price ON products (LOWER(category), price_cents, id);
CREATE INDEX products_category_name ON products (LOWER(category), name, id);
