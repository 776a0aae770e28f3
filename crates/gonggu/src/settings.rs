//! Settings: embedded commented defaults → optional `gonggu.toml` → `GONGGU_<SECTION>__<KEY>`
//! environment variables (DESIGN §5). Validated at start; errors name the offending key.

use std::{fmt, net::SocketAddr, path::PathBuf};

use figment::{
    providers::{Env, Format, Toml},
    Figment,
};
use serde::Deserialize;

pub const DEFAULTS: &str = include_str!("../gonggu.default.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub public_url: String,
    pub bus: BusKind,
    pub http: HttpSettings,
    #[serde(default)]
    pub database: DatabaseSettings,
    #[serde(default)]
    pub nats: NatsSettings,
    pub mail: MailSettings,
    pub auth: AuthSettings,
    pub log: LogSettings,
    #[serde(default)]
    pub media: MediaSettings,
    #[serde(default)]
    pub ops: OpsSettings,
    #[serde(default)]
    pub push: PushSettings,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PushSettings {
    /// Test only (default false): also accept `http://127.0.0.1:<port>` push endpoints, for
    /// local push-service stubs. Never in production: the server POSTs to these URLs.
    #[serde(default)]
    pub allow_insecure_loopback: bool,
    /// Base64url PKCS#8 P-256 key, the same on every instance. Unset: the key made at first
    /// start, kept in push's database.
    pub vapid_private_key: Option<Secret>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct OpsSettings {
    /// Unset: `/metrics` answers only callers on this machine (loopback). Set: it answers
    /// whoever sends `Authorization: Bearer <token>` (a Prometheus scraper elsewhere).
    pub metrics_token: Option<Secret>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct MediaSettings {
    /// Unset: images on local disk under `<data_dir>/media`. Set: this S3-compatible bucket
    /// (credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_REGION).
    pub s3_bucket: Option<String>,
    /// For S3-compatible services other than AWS (MinIO, R2, …).
    pub s3_endpoint: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BusKind {
    Memory,
    Nats,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    pub addr: SocketAddr,
    pub trust_proxy: bool,
    /// Seconds a connection may take to send a request's headers, and may sit idle between requests.
    #[serde(default = "default_header_timeout")]
    pub header_timeout_secs: u64,
    /// Connections open at once; more are closed at accept (also kept below the open-file limit).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

fn default_header_timeout() -> u64 {
    10
}

fn default_max_connections() -> usize {
    10_000
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DatabaseSettings {
    pub url: Option<Secret>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NatsSettings {
    pub url: Option<String>,
    /// Names the JetStream stream (`<prefix>_events`) and its subjects (`<prefix>.<source>.<type>`),
    /// so that several deployments can share one NATS server.
    #[serde(default = "default_nats_prefix")]
    pub prefix: String,
}

impl Default for NatsSettings {
    fn default() -> Self {
        Self { url: None, prefix: default_nats_prefix() }
    }
}

fn default_nats_prefix() -> String {
    "gonggu".into()
}

#[derive(Debug, Clone, Deserialize)]
pub struct MailSettings {
    pub smtp_url: Option<Secret>,
    pub from: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    pub jwt_secret: Option<Secret>,
    pub hash_workers: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

/// A value that must never reach a log line (database URLs carry passwords).
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Settings {
    /// Loads defaults, then `config_file` if it exists, then the environment.
    pub fn load(config_file: Option<&std::path::Path>) -> anyhow::Result<Settings> {
        let file = config_file.map(PathBuf::from).unwrap_or_else(|| PathBuf::from("gonggu.toml"));
        if config_file.is_some() && !file.exists() {
            anyhow::bail!("설정 파일을 찾을 수 없습니다 (config file not found): {}", file.display());
        }
        let figment = Figment::from(Toml::string(DEFAULTS)).merge(Toml::file(&file)).merge(Env::prefixed("GONGGU_").split("__"));
        Self::from_figment(figment)
    }

    /// Defaults only (plus what the caller changes): the starting point for tests.
    pub fn defaults() -> Settings {
        Self::from_figment(Figment::from(Toml::string(DEFAULTS))).expect("embedded defaults are valid")
    }

    fn from_figment(figment: Figment) -> anyhow::Result<Settings> {
        let settings: Settings = figment.extract().map_err(|e| {
            let key = e.path.join(".");
            let env_key = format!("GONGGU_{}", e.path.iter().map(|p| p.to_uppercase()).collect::<Vec<_>>().join("__"));
            anyhow::anyhow!("invalid setting `{key}` ({env_key}): {e}")
        })?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        let url = self.public_url.trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://"))
            || url.split("://").nth(1).is_none_or(|h| h.is_empty() || h.contains('/'))
        {
            anyhow::bail!(
                "invalid setting `public_url` (GONGGU_PUBLIC_URL): expected an origin like https://gonggu.example, got {:?}",
                self.public_url
            );
        }
        if self.http.header_timeout_secs == 0 || self.http.header_timeout_secs > 300 {
            anyhow::bail!("invalid setting `http.header_timeout_secs` (GONGGU_HTTP__HEADER_TIMEOUT_SECS): 1 to 300 seconds");
        }
        if self.http.max_connections == 0 {
            anyhow::bail!("invalid setting `http.max_connections` (GONGGU_HTTP__MAX_CONNECTIONS): at least 1");
        }
        if self.bus == BusKind::Nats {
            if self.nats.url.as_deref().is_none_or(str::is_empty) {
                anyhow::bail!("invalid setting `bus` (GONGGU_BUS): bus = \"nats\" needs `nats.url` (GONGGU_NATS__URL)");
            }
            if self.nats.prefix.is_empty() || !self.nats.prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                anyhow::bail!(
                    "invalid setting `nats.prefix` (GONGGU_NATS__PREFIX): letters, digits, '_' or '-', got {:?}",
                    self.nats.prefix
                );
            }
        }
        if let Some(db) = &self.database.url {
            let u = db.expose();
            if !(u.starts_with("postgres://") || u.starts_with("postgresql://") || u.starts_with("sqlite:")) {
                anyhow::bail!("invalid setting `database.url` (GONGGU_DATABASE__URL): expected postgres://… or sqlite:…");
            }
        }
        if let Some(s) = &self.auth.jwt_secret {
            if s.expose().len() < 32 {
                anyhow::bail!("invalid setting `auth.jwt_secret` (GONGGU_AUTH__JWT_SECRET): must be at least 32 bytes");
            }
        }
        if let Some(s) = &self.mail.smtp_url {
            if !(s.expose().starts_with("smtp://") || s.expose().starts_with("smtps://")) {
                anyhow::bail!("invalid setting `mail.smtp_url` (GONGGU_MAIL__SMTP_URL): expected smtp://… or smtps://…");
            }
        }
        if self.mail.from.parse::<mail_address::MailAddress>().is_err() {
            anyhow::bail!("invalid setting `mail.from` (GONGGU_MAIL__FROM): not a mail address");
        }
        Ok(())
    }

    pub fn public_origin(&self) -> String {
        self.public_url.trim_end_matches('/').to_owned()
    }

    pub fn is_https(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// Just enough address parsing to validate `mail.from` without pulling lettre into the binary.
mod mail_address {
    pub struct MailAddress;
    impl std::str::FromStr for MailAddress {
        type Err = ();
        fn from_str(s: &str) -> Result<Self, ()> {
            let addr = match (s.rfind('<'), s.rfind('>')) {
                (Some(a), Some(b)) if a < b => &s[a + 1..b],
                _ => s.trim(),
            };
            let mut parts = addr.split('@');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(l), Some(d), None) if !l.is_empty() && !d.is_empty() => Ok(MailAddress),
                _ => Err(()),
            }
        }
    }
}

#[cfg(test)]
// figment's `Jail` closures return its own large error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn defaults_are_valid() {
        let s = Settings::defaults();
        assert_eq!(s.http.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(s.data_dir, PathBuf::from("./data"));
        assert_eq!(s.bus, BusKind::Memory);
        assert!(s.database.url.is_none());
    }

    #[test]
    fn environment_overrides_with_fixed_keys() {
        Jail::expect_with(|jail| {
            jail.set_env("GONGGU_HTTP__ADDR", "0.0.0.0:9999");
            jail.set_env("GONGGU_DATA_DIR", "/tmp/gonggu-x");
            jail.set_env("GONGGU_PUBLIC_URL", "https://gonggu.example");
            jail.set_env("GONGGU_MAIL__SMTP_URL", "smtp://localhost:2525");
            jail.set_env("GONGGU_DATABASE__URL", "postgres://localhost/x");
            let s = Settings::load(None).unwrap();
            assert_eq!(s.http.addr.to_string(), "0.0.0.0:9999");
            assert_eq!(s.data_dir, PathBuf::from("/tmp/gonggu-x"));
            assert!(s.is_https());
            assert_eq!(s.mail.smtp_url.unwrap().expose(), "smtp://localhost:2525");
            assert_eq!(s.database.url.unwrap().expose(), "postgres://localhost/x");
            Ok(())
        });
    }

    #[test]
    fn bad_values_name_their_key() {
        Jail::expect_with(|jail| {
            jail.set_env("GONGGU_HTTP__ADDR", "not-an-address");
            let e = Settings::load(None).unwrap_err().to_string();
            assert!(e.contains("http.addr") && e.contains("GONGGU_HTTP__ADDR"), "{e}");
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.set_env("GONGGU_BUS", "nats");
            let e = Settings::load(None).unwrap_err().to_string();
            assert!(e.contains("nats.url"), "{e}");
            jail.set_env("GONGGU_NATS__URL", "nats://127.0.0.1:4222");
            assert_eq!(Settings::load(None).unwrap().nats.prefix, "gonggu");
            jail.set_env("GONGGU_NATS__PREFIX", "a.b");
            let e = Settings::load(None).unwrap_err().to_string();
            assert!(e.contains("GONGGU_NATS__PREFIX"), "{e}");
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.set_env("GONGGU_PUBLIC_URL", "gonggu.example");
            let e = Settings::load(None).unwrap_err().to_string();
            assert!(e.contains("GONGGU_PUBLIC_URL"), "{e}");
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.set_env("GONGGU_AUTH__JWT_SECRET", "short");
            let e = Settings::load(None).unwrap_err().to_string();
            assert!(e.contains("auth.jwt_secret"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn toml_file_is_read() {
        Jail::expect_with(|jail| {
            jail.create_file("gonggu.toml", "[http]\naddr = \"127.0.0.1:7000\"\n")?;
            let s = Settings::load(None).unwrap();
            assert_eq!(s.http.addr.port(), 7000);
            Ok(())
        });
    }

    #[test]
    fn secrets_do_not_print() {
        assert_eq!(format!("{:?}", Secret::new("postgres://u:pw@h/db")), "Secret(***)");
    }
}
