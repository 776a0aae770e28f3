-- The worker claims per push service (origin), as many as it can send at once.
CREATE INDEX deliveries_origin_due ON deliveries (state, origin, due_at);
DROP INDEX deliveries_due;
