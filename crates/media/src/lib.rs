//! The media context: image uploads, made safe and stored by content address.

pub mod api;
pub mod module;
pub mod process;
pub mod testdata;

use std::{
    collections::HashSet,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
};

use object_store::{path::Path as StorePath, ObjectStore};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

pub use process::{Processed, Rejected};

/// How much image work runs at once and how much may wait for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// Images decoded at once (each is CPU and memory heavy: up to 40 megapixels).
    pub decoders: usize,
    /// Images that may wait for a decoder; beyond that an upload is refused at once.
    pub queue: usize,
}

impl Default for Capacity {
    fn default() -> Self {
        Self { decoders: 2, queue: 4 }
    }
}

/// Why an upload was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The file itself.
    Image(Rejected),
    /// Every decoder is busy and the queue is full: come back in a few seconds.
    Busy,
}

impl Refused {
    /// Seconds a refused client should wait (`Retry-After`).
    pub const RETRY_AFTER_SECS: u64 = 5;

    pub fn message(self) -> &'static str {
        match self {
            Refused::Image(r) => r.message(),
            Refused::Busy => "지금 사진을 올리는 분이 많습니다. 잠시 후 다시 올려 주세요.",
        }
    }
}

pub struct Media {
    pub store: Arc<dyn ObjectStore>,
    decoders: Arc<Semaphore>,
    /// Decoders plus queue places: taken without waiting, so a full house refuses in no time.
    admission: Arc<Semaphore>,
    /// Users with an upload under way (one each, so one person cannot fill the queue).
    uploading: Arc<Mutex<HashSet<Uuid>>>,
}

/// One user's upload under way; the place frees itself when dropped.
#[derive(Debug)]
pub struct UploadSlot {
    user_id: Uuid,
    uploading: Arc<Mutex<HashSet<Uuid>>>,
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        self.uploading.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.user_id);
    }
}

/// Tells the blocking work to stop when the upload's future is dropped (the request went away
/// or timed out); otherwise a decode would run on, holding its decoder, for nobody.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl Media {
    /// Local disk under `<data dir>/media`.
    pub fn local(dir: &std::path::Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self::with_store(Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir)?)))
    }

    /// Any S3-compatible bucket (credentials from the usual AWS_* environment variables).
    pub fn s3(bucket: &str, endpoint: Option<&str>) -> anyhow::Result<Self> {
        let mut b = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(e) = endpoint {
            b = b.with_endpoint(e).with_allow_http(e.starts_with("http://"));
        }
        Ok(Self::with_store(Arc::new(b.build()?)))
    }

    pub fn with_store(store: Arc<dyn ObjectStore>) -> Self {
        Self::with_capacity(store, Capacity::default())
    }

    pub fn with_capacity(store: Arc<dyn ObjectStore>, capacity: Capacity) -> Self {
        Self {
            store,
            decoders: Arc::new(Semaphore::new(capacity.decoders)),
            admission: Arc::new(Semaphore::new(capacity.decoders + capacity.queue)),
            uploading: Arc::default(),
        }
    }

    /// The user's one upload place, or `None` while another upload of theirs is under way.
    pub fn slot_for(&self, user_id: Uuid) -> Option<UploadSlot> {
        let mut uploading = self.uploading.lock().unwrap_or_else(|e| e.into_inner());
        uploading.insert(user_id).then(|| UploadSlot { user_id, uploading: self.uploading.clone() })
    }

    /// Processes and stores one upload; returns what was stored. Refuses at once (`Busy`) when
    /// the decoders and the queue are full. Dropping the future drops a queued job before it
    /// starts and stops a running one at its next check.
    pub async fn upload(&self, bytes: Vec<u8>) -> anyhow::Result<Result<Processed, Refused>> {
        let Ok(admitted) = self.admission.clone().try_acquire_owned() else {
            return Ok(Err(Refused::Busy));
        };
        let decoder: OwnedSemaphorePermit = self.decoders.clone().acquire_owned().await?;
        let cancelled = Arc::new(AtomicBool::new(false));
        let _cancel = CancelOnDrop(cancelled.clone());
        let processed = tokio::task::spawn_blocking(move || {
            // The places go with the work, so they are free only once the CPU is.
            let _places = (admitted, decoder);
            process::process_unless(&bytes, &cancelled)
        })
        .await?;
        let processed = match processed {
            Ok(p) => p,
            Err(r) => return Ok(Err(Refused::Image(r))),
        };
        self.store.put(&object_path(&processed.key), processed.image.clone().into()).await?;
        self.store.put(&object_path(&processed.thumbnail_key), processed.thumbnail.clone().into()).await?;
        Ok(Ok(processed))
    }

    /// Decoders free right now (for tests and metrics).
    pub fn idle_decoders(&self) -> usize {
        self.decoders.available_permits()
    }

    /// Whether a key was handed out by this media store.
    pub async fn exists(&self, key: &str) -> anyhow::Result<bool> {
        if process::valid_key(key).is_none() {
            return Ok(false);
        }
        match self.store.head(&object_path(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The stored bytes of a key, if any.
    pub async fn get(&self, key: &str) -> anyhow::Result<Option<bytes::Bytes>> {
        match self.store.get(&object_path(key)).await {
            Ok(r) => Ok(Some(r.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

fn object_path(key: &str) -> StorePath {
    StorePath::from(format!("images/{key}"))
}

pub fn url(key: &str) -> String {
    format!("/media/{key}")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn media(decoders: usize, queue: usize) -> Arc<Media> {
        Arc::new(Media::with_capacity(Arc::new(object_store::memory::InMemory::new()), Capacity { decoders, queue }))
    }

    async fn until(what: &str, ok: impl Fn() -> bool) {
        for _ in 0..200 {
            if ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting until {what}");
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_a_dropped_request_leaves_it() {
        let media = media(1, 1);
        // The one decoder is busy with an upload (as with a long decode).
        let busy = (media.admission.clone().try_acquire_owned().unwrap(), media.decoders.clone().acquire_owned().await.unwrap());
        let queued = tokio::spawn({
            let media = media.clone();
            async move { media.upload(testdata::jpeg(8, 8)).await }
        });
        until("the upload waits in the queue", || media.admission.available_permits() == 0).await;
        let refused = tokio::time::timeout(Duration::from_millis(200), media.upload(testdata::jpeg(8, 8))).await;
        assert_eq!(refused.expect("refused without waiting").unwrap().unwrap_err(), Refused::Busy);
        // The client of the queued upload goes away: its place is given back before it ran.
        queued.abort();
        until("the queue is free again", || media.admission.available_permits() == 1).await;
        drop(busy);
        let stored = media.upload(testdata::jpeg(8, 8)).await.unwrap().unwrap();
        assert!(media.exists(&stored.key).await.unwrap());
        assert_eq!((media.idle_decoders(), media.admission.available_permits()), (1, 2), "every place is back");
    }

    #[test]
    fn one_upload_place_per_user() {
        let media = media(1, 1);
        let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let first = media.slot_for(alice).expect("free");
        assert!(media.slot_for(alice).is_none(), "a second upload of the same user waits");
        assert!(media.slot_for(bob).is_some(), "others are not held up");
        drop(first);
        assert!(media.slot_for(alice).is_some(), "the place is back once the first is done");
    }
}
