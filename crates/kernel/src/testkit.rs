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
    let name = format!("gonggu_test_{}", uuid::Uuid::new_v4().simple());
    conn.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("create test database");
    let _ = conn.close().await;
    let (prefix, _) = base.rsplit_once('/').expect("database URL has a path");
    Some(format!("{prefix}/{name}"))
}
