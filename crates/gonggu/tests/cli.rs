//! The binary itself: help, configuration errors, serving, graceful shutdown, key persistence.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

const BIN: &str = env!("CARGO_BIN_EXE_gonggu");

fn gonggu(data_dir: &std::path::Path) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GONGGU_DATA_DIR", data_dir)
        .env("GONGGU_HTTP__ADDR", "127.0.0.1:0")
        .current_dir(data_dir);
    c
}

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

/// Starts `gonggu serve`, returns the child and its address (read from the JSON start-up log).
fn serve(dir: &std::path::Path) -> (std::process::Child, String) {
    let mut child = gonggu(dir).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    loop {
        let parsed = rx
            .recv_timeout(Duration::from_secs(20))
            .map_err(|e| format!("no start-up log line: {e}"))
            .and_then(|line| serde_json::from_str::<serde_json::Value>(&line).map_err(|e| format!("logs are JSON lines: {e}: {line}")));
        let v = match parsed {
            Ok(v) => v,
            Err(why) => {
                // Do not leave the server running behind a failed test.
                let _ = child.kill();
                let _ = child.wait();
                panic!("{why}");
            }
        };
        if v["fields"]["message"] == "gonggu listening" {
            let addr = v["fields"]["addr"].as_str().unwrap().to_owned();
            std::thread::spawn(move || while rx.recv().is_ok() {});
            return (child, format!("http://{addr}"));
        }
    }
}

fn terminate(child: &mut std::process::Child) -> std::process::ExitStatus {
    let ok = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(ok.success());
    for _ in 0..100 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    panic!("gonggu did not stop within 10 s of SIGTERM");
}

#[tokio::test(flavor = "multi_thread")]
async fn serves_then_stops_gracefully_and_keeps_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base) = serve(dir.path());
    let http = reqwest::Client::new();
    assert_eq!(http.get(format!("{base}/healthz")).send().await.unwrap().text().await.unwrap(), "ok");
    let res = http
        .post(format!("{base}/api/v1/auth/register"))
        .json(&serde_json::json!({"login_id": "cli_user", "email": "cli@example.com", "password": "coffee-and-tissues-42"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let pair: serde_json::Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"login_id": "cli_user", "password": "coffee-and-tissues-42"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(terminate(&mut child).success(), "clean exit on SIGTERM");

    let key = dir.path().join("jwt.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // A restart reads the same key and the same database: the old access token still verifies.
    let (mut child, base) = serve(dir.path());
    let res = http.get(format!("{base}/api/v1/me")).bearer_auth(pair["access_token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(terminate(&mut child).success());
}
