//! Argon2id hashing on a bounded blocking pool: at most `permits` hashes run at once, so a
//! flood of logins queues here instead of starving the rest of the API of CPU.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString},
    Algorithm, Argon2, Params, Version,
};
use tokio::sync::Semaphore;

#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    params: Params,
    /// Verified against when the login id is unknown, so both paths cost the same.
    dummy_hash: Arc<String>,
    verifications: Arc<AtomicU64>,
}

impl PasswordHasher {
    /// OWASP's Argon2id recommendation: m = 19 MiB, t = 2, p = 1.
    pub fn new(permits: usize) -> Self {
        Self::with_params(permits, Params::new(19 * 1024, 2, 1, None).expect("valid argon2 params"))
    }

    pub fn with_params(permits: usize, params: Params) -> Self {
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let salt = SaltString::generate(&mut OsRng);
        let dummy = argon.hash_password(crate::random_secret().as_bytes(), &salt).expect("hash dummy").to_string();
        Self {
            permits: Arc::new(Semaphore::new(permits.max(1))),
            params,
            dummy_hash: Arc::new(dummy),
            verifications: Arc::new(AtomicU64::new(0)),
        }
    }

    fn argon(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    pub async fn hash(&self, password: &str) -> anyhow::Result<String> {
        let _permit = self.permits.acquire().await?;
        let argon = self.argon();
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon.hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| anyhow::anyhow!("argon2 hash: {e}"))
        })
        .await?
    }

    /// `None` means "no such user": a dummy hash is verified instead and the answer is false.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> anyhow::Result<bool> {
        let _permit = self.permits.acquire().await?;
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let real = stored.is_some();
        let hash = stored.map(str::to_owned).unwrap_or_else(|| self.dummy_hash.as_ref().clone());
        let argon = self.argon();
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || {
            let parsed = PasswordHash::new(&hash).map_err(|e| anyhow::anyhow!("stored hash unreadable: {e}"))?;
            Ok::<_, anyhow::Error>(argon.verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await??;
        Ok(ok && real)
    }

    /// How many verifications ran (tests use it to see that unknown ids cost a hash too).
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> PasswordHasher {
        PasswordHasher::with_params(2, Params::new(1024, 1, 1, None).unwrap())
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let h = fast();
        let stored = h.hash("correct horse").await.unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(h.verify("correct horse", Some(&stored)).await.unwrap());
        assert!(!h.verify("wrong horse", Some(&stored)).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_user_still_costs_a_verification() {
        let h = fast();
        let before = h.verifications();
        assert!(!h.verify("anything", None).await.unwrap());
        assert_eq!(h.verifications(), before + 1);
    }

    #[test]
    fn default_params_are_owasp() {
        let h = PasswordHasher::new(1);
        assert_eq!((h.params.m_cost(), h.params.t_cost(), h.params.p_cost()), (19 * 1024, 2, 1));
    }
}
