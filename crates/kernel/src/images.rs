//! Photos as contexts other than media see them: a key media handed out, where its picture and
//! thumbnail are served, and the port through which a context asks media about a key. In one
//! process the binary answers from the media context directly; no context reads media's storage.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A key of the form media hands out: 40 lowercase hex digits and `.jpg` or `.png`.
pub fn is_image_key(key: &str) -> bool {
    key.rsplit_once('.').is_some_and(|(h, ext)| {
        h.len() == 40 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) && matches!(ext, "jpg" | "png")
    })
}

/// A photo's key with where it is served: `/media/<key>` and its thumbnail `/media/<hash>_t.<ext>`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ImageView {
    pub key: String,
    pub url: String,
    pub thumbnail_url: String,
}

impl ImageView {
    pub fn of(key: &str) -> Self {
        let (hash, ext) = key.rsplit_once('.').unwrap_or((key, "jpg"));
        Self { key: key.to_owned(), url: format!("/media/{key}"), thumbnail_url: format!("/media/{hash}_t.{ext}") }
    }
}

/// Media, as another context asks it about photos.
#[async_trait::async_trait]
pub trait ImageCatalog: Send + Sync {
    async fn exists(&self, key: &str) -> anyhow::Result<bool>;
    /// Stores an uploaded photo (for no-JavaScript forms); `Err` is the Korean reason it was
    /// refused.
    async fn store(&self, bytes: Vec<u8>) -> anyhow::Result<Result<String, String>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_what_media_hands_out() {
        let hash = "0123456789abcdef0123456789abcdef01234567";
        assert!(is_image_key(&format!("{hash}.jpg")) && is_image_key(&format!("{hash}.png")));
        for bad in [
            format!("{hash}.gif"),
            format!("{}.jpg", &hash[1..]),
            format!("{}.jpg", hash.to_uppercase()),
            "../etc/passwd.jpg".into(),
            hash.into(),
        ] {
            assert!(!is_image_key(&bad), "{bad}");
        }
        let v = ImageView::of(&format!("{hash}.png"));
        assert_eq!((v.url.as_str(), v.thumbnail_url.as_str()), (&*format!("/media/{hash}.png"), &*format!("/media/{hash}_t.png")));
    }
}
