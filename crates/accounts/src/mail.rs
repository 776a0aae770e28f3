//! Outgoing mail through `lettre`: SMTP when `mail.smtp_url` is set, otherwise each message is
//! written as an `.eml` file under `<data dir>/mail/` (and the path is logged, never the content).

use std::path::PathBuf;

use lettre::{
    message::{header::ContentType, Mailbox},
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};

#[derive(Clone)]
pub enum Mailer {
    File { dir: PathBuf, transport: AsyncFileTransport<Tokio1Executor>, from: Mailbox },
    Smtp { transport: AsyncSmtpTransport<Tokio1Executor>, from: Mailbox },
}

impl Mailer {
    pub fn file(dir: PathBuf, from: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(Mailer::File { transport: AsyncFileTransport::new(&dir), dir, from: from.parse()? })
    }

    /// `smtp://user:pass@host:587` (STARTTLS), `smtps://…` (TLS) or `smtp://host:25` without TLS
    /// for a local relay — lettre's URL format.
    pub fn smtp(url: &str, from: &str) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?.build();
        Ok(Mailer::Smtp { transport, from: from.parse()? })
    }

    pub async fn send(&self, to: &str, subject: &str, body: String) -> anyhow::Result<()> {
        let from = match self {
            Mailer::File { from, .. } | Mailer::Smtp { from, .. } => from.clone(),
        };
        let message = Message::builder().from(from).to(to.parse()?).subject(subject).header(ContentType::TEXT_PLAIN).body(body)?;
        match self {
            Mailer::File { dir, transport, .. } => {
                let id = transport.send(message).await?;
                tracing::info!(path = %dir.join(format!("{id}.eml")).display(), "mail written to file");
            }
            Mailer::Smtp { transport, .. } => {
                transport.send(message).await?;
                tracing::info!("mail handed to SMTP server");
            }
        }
        Ok(())
    }
}
