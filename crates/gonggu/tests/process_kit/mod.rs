//! Running the real `gonggu` binary in tests: a clean environment on a data dir, waiting for its
//! start-up log line, waiting for it to exit, signing a user up. Used by `cli.rs`, `crash.rs` and
//! `push_crash.rs` with
//! `#[path = "process_kit/mod.rs"] mod process_kit;`.

#![allow(dead_code)]

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub const BIN: &str = env!("CARGO_BIN_EXE_gonggu");

/// `gonggu` with nothing of this process's environment but `PATH`, on `data_dir`, on a free port.
pub fn gonggu(data_dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GONGGU_DATA_DIR", data_dir)
        .env("GONGGU_HTTP__ADDR", "127.0.0.1:0")
        .current_dir(data_dir);
    c
}

/// Starts `command` and waits for its JSON "gonggu listening" line; returns the child and its
/// base URL. A server that does not get there is killed, not left behind a failed test.
pub fn serve(mut command: Command) -> (Child, String) {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("start gonggu");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    loop {
        let parsed = rx
            .recv_timeout(Duration::from_secs(30))
            .map_err(|e| format!("no start-up log line: {e}"))
            .and_then(|line| serde_json::from_str::<serde_json::Value>(&line).map_err(|e| format!("logs are JSON lines: {e}: {line}")));
        let v = match parsed {
            Ok(v) => v,
            Err(why) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{why}");
            }
        };
        if v["fields"]["message"] == "gonggu listening" {
            let addr = v["fields"]["addr"].as_str().unwrap().to_owned();
            // Keep draining stdout so the server never blocks on a full pipe.
            std::thread::spawn(move || while rx.recv().is_ok() {});
            return (child, format!("http://{addr}"));
        }
    }
}

/// Waits for `child` to exit; kills it and fails the test when it has not within `within`.
pub fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let until = Instant::now() + within;
    while Instant::now() < until {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("gonggu did not stop within {within:?}");
}

/// Sends SIGTERM.
pub fn sigterm(child: &Child) {
    assert!(Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap().success());
}

/// The password of the users the process tests sign up.
pub const PASSWORD: &str = "coffee-and-tissues-42";

/// Registers `login_id` on the server at `base` and logs in, from `ip` when given (with
/// `GONGGU_HTTP__TRUST_PROXY=true`, so that sign-up limits per address stay out of the way);
/// answers the access token.
pub async fn sign_up(http: &reqwest::Client, base: &str, login_id: &str, ip: Option<&str>) -> String {
    let from = |req: reqwest::RequestBuilder| match ip {
        Some(ip) => req.header("x-forwarded-for", ip),
        None => req,
    };
    let res = from(http.post(format!("{base}/api/v1/auth/register")))
        .json(&serde_json::json!({"login_id": login_id, "email": format!("{login_id}@example.com"), "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "register {login_id}");
    let res = from(http.post(format!("{base}/api/v1/auth/login")))
        .json(&serde_json::json!({"login_id": login_id, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "log in {login_id}");
    res.json::<serde_json::Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
}
