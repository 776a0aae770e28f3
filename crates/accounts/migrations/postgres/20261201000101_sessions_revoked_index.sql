-- Each instance seeds its revoked-token set at start from the sessions revoked within one
-- access-token lifetime; this keeps that look-up off a scan of every session ever made.
CREATE INDEX sessions_revoked ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
