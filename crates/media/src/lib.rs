//! The media context: image uploads, made safe and stored by content address.

pub mod api;
pub mod module;
pub mod process;
pub mod testdata;

use std::sync::Arc;

use object_store::{path::Path as StorePath, ObjectStore};

pub use process::{Processed, Rejected};

pub struct Media {
    pub store: Arc<dyn ObjectStore>,
    /// At most this many images are decoded at once (decoding is CPU and memory heavy).
    pub permits: Arc<tokio::sync::Semaphore>,
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
        Self { store, permits: Arc::new(tokio::sync::Semaphore::new(2)) }
    }

    /// Processes and stores one upload; returns what was stored.
    pub async fn upload(&self, bytes: Vec<u8>) -> anyhow::Result<Result<Processed, Rejected>> {
        let _permit = self.permits.acquire().await?;
        let processed = match tokio::task::spawn_blocking(move || process::process(&bytes)).await? {
            Ok(p) => p,
            Err(r) => return Ok(Err(r)),
        };
        self.store.put(&object_path(&processed.key), processed.image.clone().into()).await?;
        self.store.put(&object_path(&processed.thumbnail_key), processed.thumbnail.clone().into()).await?;
        Ok(Ok(processed))
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
