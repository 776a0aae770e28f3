//! Argon2id hashing on a fixed set of dedicated threads with a short queue.
//!
//! - A flood of logins queues here instead of starving the rest of the API of CPU, and once the
//!   queue is full further requests are refused at once (503 with `Retry-After`) rather than
//!   piling up behind each other.
//! - The threads are ours, not tokio's blocking pool: each hash needs a 19 MiB work area, and
//!   glibc keeps freed memory per thread arena, so every blocking thread that ever ran a hash kept
//!   ~19 MiB for good. A fixed set of workers bounds that to `workers × 19 MiB`, and each worker
//!   returns its arena's free memory to the system once the queue runs dry.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        mpsc, Arc, Mutex,
    },
    time::Duration,
};

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString},
    Algorithm, Argon2, Params, Version,
};
use gonggu_kernel::ApiError;
use tokio::sync::oneshot;

/// Queue places per worker: at ~40 ms a hash, a full queue is about a second and a half of work.
pub const QUEUE_PER_WORKER: usize = 32;

/// Why a hash or verification did not run.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every worker is busy and the queue is full.
    #[error("password hashing queue is full")]
    Busy,
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

impl From<HashError> for ApiError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => {
                let mut e = ApiError::unavailable("지금 로그인 요청이 많습니다. 잠시 후 다시 시도해 주세요.").with_code("server_busy");
                e.retry_after_secs = Some(1);
                e
            }
            HashError::Failed(e) => ApiError::internal(e),
        }
    }
}

type Job = Box<dyn FnOnce() + Send>;

#[derive(Clone)]
pub struct PasswordHasher {
    queue: mpsc::SyncSender<Job>,
    params: Params,
    /// Verified against when the login id is unknown, so both paths cost the same.
    dummy_hash: Arc<String>,
    verifications: Arc<AtomicU64>,
}

impl PasswordHasher {
    /// OWASP's Argon2id recommendation: m = 19 MiB, t = 2, p = 1.
    pub fn new(workers: usize) -> Self {
        Self::with_params(workers, Self::owasp())
    }

    pub fn owasp() -> Params {
        Params::new(19 * 1024, 2, 1, None).expect("valid argon2 params")
    }

    /// Cheap parameters for tests that are not about hashing (the suite stays fast as it grows).
    /// Never use them for real accounts.
    pub fn for_tests() -> Self {
        Self::with_params(2, Params::new(8, 1, 1, None).expect("valid argon2 params"))
    }

    pub fn with_params(workers: usize, params: Params) -> Self {
        let workers = workers.max(1);
        Self::with_queue(workers, workers * QUEUE_PER_WORKER, params)
    }

    /// `queue` jobs may wait while all `workers` are busy; one more is refused with [`HashError::Busy`].
    pub fn with_queue(workers: usize, queue: usize, params: Params) -> Self {
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let salt = SaltString::generate(&mut OsRng);
        let dummy = argon.hash_password(crate::random_secret().as_bytes(), &salt).expect("hash dummy").to_string();
        let (tx, rx) = mpsc::sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..workers.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new().name(format!("argon2-{i}")).spawn(move || worker(&rx)).expect("spawn a password hashing thread");
        }
        Self { queue: tx, params, dummy_hash: Arc::new(dummy), verifications: Arc::new(AtomicU64::new(0)) }
    }

    fn argon(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Runs `f` on a worker; refuses at once when the queue is full.
    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, HashError> {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(f());
        });
        self.queue.try_send(job).map_err(|e| match e {
            mpsc::TrySendError::Full(_) => HashError::Busy,
            mpsc::TrySendError::Disconnected(_) => HashError::Failed(anyhow::anyhow!("password hashing threads are gone")),
        })?;
        result.await.map_err(|_| HashError::Failed(anyhow::anyhow!("a password hashing thread panicked")))
    }

    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let argon = self.argon();
        let password = password.to_owned();
        self.run(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon.hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| anyhow::anyhow!("argon2 hash: {e}"))
        })
        .await?
        .map_err(HashError::Failed)
    }

    /// `None` means "no such user": a dummy hash is verified instead and the answer is false.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<bool, HashError> {
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let real = stored.is_some();
        let hash = stored.map(str::to_owned).unwrap_or_else(|| self.dummy_hash.as_ref().clone());
        let argon = self.argon();
        let password = password.to_owned();
        let ok = self
            .run(move || {
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

fn worker(rx: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        // Wait briefly for more work; when none comes, give the work areas back first.
        let next = {
            let Ok(rx) = rx.lock() else { return };
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(job) => Some(job),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        };
        match next {
            Some(job) => job(),
            None => {
                release_free_memory();
                let Ok(rx) = rx.lock() else { return };
                match rx.recv() {
                    Ok(job) => {
                        drop(rx);
                        job()
                    }
                    Err(_) => return,
                }
            }
        }
    }
}

/// glibc keeps freed heap pages in the arena that freed them; `malloc_trim` hands them back.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_memory() {
    // SAFETY: malloc_trim only walks glibc's own arenas; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() {}

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
        let p = PasswordHasher::owasp();
        assert_eq!((p.m_cost(), p.t_cost(), p.p_cost()), (19 * 1024, 2, 1));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_refuses_at_once_instead_of_piling_up() {
        let h = PasswordHasher::with_queue(1, 1, Params::new(1024, 1, 1, None).unwrap());
        // Occupy the only worker with a job that waits for us, and fill the one queue place.
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let blocked = tokio::spawn({
            let h = h.clone();
            async move {
                h.run(move || {
                    started_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                })
                .await
            }
        });
        started_rx.recv_timeout(Duration::from_secs(5)).expect("the worker took the blocking job");
        let queued = tokio::spawn({
            let h = h.clone();
            async move { h.hash("waits in the queue").await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;

        let t = std::time::Instant::now();
        let refused = h.hash("one too many").await;
        assert!(matches!(refused, Err(HashError::Busy)), "{refused:?}");
        let verify = h.verify("one too many", None).await;
        assert!(matches!(verify, Err(HashError::Busy)), "{verify:?}");
        assert!(t.elapsed() < Duration::from_millis(100), "refused at once, not after waiting: {:?}", t.elapsed());

        let api: ApiError = HashError::Busy.into();
        assert_eq!((api.status, api.code, api.retry_after_secs), (http::StatusCode::SERVICE_UNAVAILABLE, "server_busy", Some(1)));

        release_tx.send(()).unwrap();
        blocked.await.unwrap().unwrap();
        assert!(queued.await.unwrap().unwrap().starts_with("$argon2id$"), "the queued hash ran once the worker was free");
        assert!(h.hash("room again").await.is_ok());
    }
}
