//! Helpers for tests of every context.

/// A fresh, empty PostgreSQL database for one test, created on the server named by
/// `GONGGU_TEST_DATABASE_URL`. `None` (after printing that the test was skipped) when the
/// variable is unset — unless `GONGGU_REQUIRE_POSTGRES=1`, as in CI, where that is a failure.
pub async fn fresh_postgres(test: &str) -> Option<String> {
    let Ok(base) = std::env::var("GONGGU_TEST_DATABASE_URL") else {
        if std::env::var("GONGGU_REQUIRE_POSTGRES").as_deref() == Ok("1") {
            panic!("{test}: GONGGU_REQUIRE_POSTGRES=1 but GONGGU_TEST_DATABASE_URL is not set");
        }
        eprintln!("skipped: {test} on PostgreSQL (set GONGGU_TEST_DATABASE_URL to run it)");
        return None;
    };
    use sqlx::{Connection, Executor};
    let mut conn = sqlx::PgConnection::connect(&base).await.expect("connect to GONGGU_TEST_DATABASE_URL");
    // A test's pools live until the test ends, so nothing can drop its database then; instead
    // every new one clears those left by runs more than an hour old (the name says when).
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let old: Vec<(String,)> = sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'gonggu\\_test\\_%'")
        .fetch_all(&mut conn)
        .await
        .expect("list test databases");
    for (db,) in old {
        let born = db.strip_prefix("gonggu_test_").and_then(|rest| rest.split('_').next()).and_then(|t| t.parse::<u64>().ok());
        // Names without a time are from before this rule: as stale as can be.
        if born.is_none_or(|t| t + 3600 < now) {
            let _ = conn.execute(format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)").as_str()).await;
        }
    }
    let name = format!("gonggu_test_{now}_{}", uuid::Uuid::new_v4().simple());
    conn.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("create test database");
    let _ = conn.close().await;
    let (prefix, _) = base.rsplit_once('/').expect("database URL has a path");
    Some(format!("{prefix}/{name}"))
}

/// The NATS server named by `GONGGU_TEST_NATS_URL` (e.g. `nats://127.0.0.1:4222`), and a fresh
/// prefix for this test's stream and subjects. `None` (after printing that the test was skipped)
/// when unset — unless `GONGGU_REQUIRE_NATS=1`, as in CI.
pub fn nats(test: &str) -> Option<(String, String)> {
    let Ok(url) = std::env::var("GONGGU_TEST_NATS_URL") else {
        if std::env::var("GONGGU_REQUIRE_NATS").as_deref() == Ok("1") {
            panic!("{test}: GONGGU_REQUIRE_NATS=1 but GONGGU_TEST_NATS_URL is not set");
        }
        eprintln!("skipped: {test} on NATS (set GONGGU_TEST_NATS_URL to run it)");
        return None;
    };
    Some((url, format!("t{}", uuid::Uuid::new_v4().simple())))
}
