//! What media brings to a process (see `gonggu_kernel::module`).

use std::sync::Arc;

use gonggu_kernel::module::{Module, Platform};

use crate::{api::MediaState, Media};

pub const NAME: &str = "media";

/// Where images are kept: local disk under the data dir, or an S3-compatible bucket.
pub enum MediaConfig {
    Local,
    S3 { bucket: String, endpoint: Option<String> },
}

pub fn module(platform: &Platform, config: &MediaConfig) -> anyhow::Result<(Arc<Media>, Module)> {
    use anyhow::Context as _;
    let media = Arc::new(match config {
        MediaConfig::S3 { bucket, endpoint } => Media::s3(bucket, endpoint.as_deref()).context("media.s3_bucket")?,
        MediaConfig::Local => Media::local(&platform.data_dir.join("media"))?,
    });
    let module = Module::new(NAME)
        .api(crate::api::router(MediaState { media: media.clone(), auth: platform.auth.clone() }))
        .files(crate::api::files(media.clone()));
    Ok((media, module))
}
