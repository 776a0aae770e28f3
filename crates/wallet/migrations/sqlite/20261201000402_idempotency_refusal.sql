-- The typed refusal stored with a refused money-moving answer, so a replay is told what it was
-- without reading its JSON body back.
ALTER TABLE idempotency_keys ADD COLUMN refusal TEXT CHECK (refusal IN ('insufficient_funds', 'no_such_holder', 'deal_tag_invalid'));
-- Answers stored before: 409 was always insufficient funds, 404 always an unknown holder.
UPDATE idempotency_keys SET refusal = 'insufficient_funds' WHERE status = 409;
UPDATE idempotency_keys SET refusal = 'no_such_holder' WHERE status = 404;
