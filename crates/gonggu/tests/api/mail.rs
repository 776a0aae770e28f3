//! Mail through a real SMTP conversation (lettre's SMTP transport against a minimal server).

use reqwest::StatusCode;
use serde_json::json;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
    sync::mpsc,
};

use crate::helpers::{extract_code, spawn_app_with};

/// Accepts SMTP sessions and forwards each message's DATA.
async fn fake_smtp() -> (u16, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 fake.smtp ESMTP\r\n").await.unwrap();
                while let Ok(Some(line)) = lines.next_line().await {
                    let cmd = line.to_ascii_uppercase();
                    if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
                        write.write_all(b"250-fake.smtp\r\n250 8BITMIME\r\n").await.unwrap();
                    } else if cmd.starts_with("DATA") {
                        write.write_all(b"354 go ahead\r\n").await.unwrap();
                        let mut data = String::new();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            data.push_str(&l);
                            data.push_str("\r\n");
                        }
                        tx.send(data).unwrap();
                        write.write_all(b"250 queued\r\n").await.unwrap();
                    } else if cmd.starts_with("QUIT") {
                        write.write_all(b"221 bye\r\n").await.unwrap();
                        return;
                    } else {
                        write.write_all(b"250 OK\r\n").await.unwrap();
                    }
                }
            });
        }
    });
    (port, rx)
}

#[tokio::test]
async fn reset_codes_go_out_over_smtp_when_configured() {
    let (port, mut inbox) = fake_smtp().await;
    let app = spawn_app_with(|s| s.mail.smtp_url = Some(gonggu::settings::Secret::new(format!("smtp://127.0.0.1:{port}")))).await;
    app.register("smtp_user").await;
    let res = app.post_json("/api/v1/auth/password-reset", &json!({"email": "smtp_user@example.com"})).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let message = tokio::time::timeout(std::time::Duration::from_secs(10), inbox.recv()).await.expect("mail sent").unwrap();
    assert!(message.contains("To: smtp_user@example.com"), "{message}");
    let code = extract_code(&message);
    let res = app
        .post_json(
            "/api/v1/auth/password-reset/confirm",
            &json!({"email": "smtp_user@example.com", "code": code, "new_password": "via-smtp-secret"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.mail_count(), 0, "nothing written to the file outbox when SMTP is configured");
}
