//! The binary itself: help, configuration errors, serving, graceful shutdown, key persistence.

use std::{process::Command, time::Duration};

#[path = "process_kit/mod.rs"]
mod process_kit;

use process_kit::{gonggu, sigterm, wait_exit, BIN};

#[test]
fn help_lists_the_commands() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["serve", "migrate", "config"] {
        assert!(text.contains(cmd), "{text}");
    }
}

#[test]
fn a_bad_setting_stops_start_up_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = gonggu(dir.path()).env("GONGGU_HTTP__ADDR", "not-an-address").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("GONGGU_HTTP__ADDR"), "{err}");
}

#[test]
fn config_hides_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let out = gonggu(dir.path()).arg("config").env("GONGGU_DATABASE__URL", "postgres://u:hunter2@db/x").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("hunter2") && text.contains("Secret(***)"), "{text}");
}

#[test]
fn migrate_creates_the_databases() {
    let dir = tempfile::tempdir().unwrap();
    let out = gonggu(dir.path()).arg("migrate").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.path().join("accounts.db").exists());
}

fn terminate(child: &mut std::process::Child) -> std::process::ExitStatus {
    sigterm(child);
    wait_exit(child, Duration::from_secs(10))
}

#[tokio::test(flavor = "multi_thread")]
async fn serves_then_stops_gracefully_and_keeps_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base) = process_kit::serve(gonggu(dir.path()));
    let http = reqwest::Client::new();
    assert_eq!(http.get(format!("{base}/healthz")).send().await.unwrap().text().await.unwrap(), "ok");
    let token = process_kit::sign_up(&http, &base, "cli_user", None).await;
    assert!(terminate(&mut child).success(), "clean exit on SIGTERM");

    let key = dir.path().join("jwt.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // A restart reads the same key and the same database: the old access token still verifies.
    let (mut child, base) = process_kit::serve(gonggu(dir.path()));
    let res = http.get(format!("{base}/api/v1/me")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(terminate(&mut child).success());
}
