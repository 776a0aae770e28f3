-- Search compares text folded in Rust (src/search.rs: NFKC, Unicode lowercase, no spacing or
-- punctuation), so both engines match the same way; LOWER() folds only ASCII on SQLite.
ALTER TABLE deals ADD COLUMN search_text TEXT;
-- The bigrams were of the old, unfolded text. The store indexes every deal whose search_text is
-- NULL (all of them, after this) when it opens.
DELETE FROM deal_grams;
