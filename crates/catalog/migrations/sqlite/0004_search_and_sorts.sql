-- Product lists: each filter and sort has its index, and free-text search
-- has a trigram index (FTS5), so a search reads the index, not the table.

-- ?category= compares case-insensitively.
DROP INDEX products_category;
CREATE INDEX products_category ON products (LOWER(category), id);
-- ?sort=price, ?sort=name (and price ranges).
CREATE INDEX products_price ON products (price_cents, id);
CREATE INDEX products_name ON products (name, id);

-- ?search=: a case-insensitive substring of the name or description. The
-- trigram tokenizer makes a quoted phrase of 3 characters or more match
-- exactly the rows holding that substring. Kept in step with the table by
-- triggers (stock changes, the hot path, never touch it).
CREATE VIRTUAL TABLE products_fts USING fts5(
    name, description, content = 'products', content_rowid = 'id', tokenize = 'trigram'
);
INSERT INTO products_fts (products_fts) VALUES ('rebuild');
CREATE TRIGGER products_fts_insert AFTER INSERT ON products BEGIN
    INSERT INTO products_fts (rowid, name, description) VALUES (new.id, new.name, new.description);
END;
CREATE TRIGGER products_fts_delete AFTER DELETE ON products BEGIN
    INSERT INTO products_fts (products_fts, rowid, name, description)
        VALUES ('delete', old.id, old.name, old.description);
END;
CREATE TRIGGER products_fts_update AFTER UPDATE OF name, description ON products BEGIN
    INSERT INTO products_fts (products_fts, rowid, name, description)
        VALUES ('delete', old.id, old.name, old.description);
    INSERT INTO products_fts (rowid, name, description) VALUES (new.id, new.name, new.description);
END;
