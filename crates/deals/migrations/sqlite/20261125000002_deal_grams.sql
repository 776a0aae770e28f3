-- The search index: the distinct pairs of adjacent characters of each deal's title, description
-- and keywords (see src/search.rs). Deals from before this table are indexed when the store opens.
CREATE TABLE deal_grams (
    gram     TEXT NOT NULL,
    deal_seq INTEGER NOT NULL REFERENCES deals (seq),
    PRIMARY KEY (gram, deal_seq)
) WITHOUT ROWID;
CREATE INDEX deal_grams_by_deal ON deal_grams (deal_seq);
