//! Turning untrusted upload bytes into safe images: the type is sniffed from the bytes (never the
//! file name or the client's Content-Type), the pixel count is checked from the header before
//! decoding, and the decoded pixels are encoded afresh — so no metadata (EXIF, GPS, comments)
//! and nothing but pixels survive.

use std::io::Cursor;

use image::{codecs::jpeg::JpegEncoder, DynamicImage, ImageFormat, ImageReader, Limits};
use sha2::{Digest, Sha256};

pub const MAX_BYTES: usize = 5 * 1024 * 1024;
pub const MAX_PIXELS: u64 = 40_000_000;
pub const THUMBNAIL_SIDE: u32 = 400;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    TooLarge,
    Unsupported,
    TooManyPixels,
    Corrupt,
}

impl Rejected {
    pub fn message(self) -> &'static str {
        match self {
            Rejected::TooLarge => "사진 한 장은 5MB까지 올릴 수 있습니다.",
            Rejected::Unsupported => "JPEG, PNG, WebP, GIF 사진만 올릴 수 있습니다.",
            Rejected::TooManyPixels => "사진이 너무 큽니다 (4천만 화소까지).",
            Rejected::Corrupt => "사진 파일을 읽을 수 없습니다.",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Processed {
    /// Content address: SHA-256 of the encoded image, hex, 40 characters, plus extension.
    pub key: String,
    pub thumbnail_key: String,
    pub image: Vec<u8>,
    pub thumbnail: Vec<u8>,
    pub content_type: &'static str,
    pub width: u32,
    pub height: u32,
}

pub fn process(bytes: &[u8]) -> Result<Processed, Rejected> {
    if bytes.len() > MAX_BYTES {
        return Err(Rejected::TooLarge);
    }
    let format = image::guess_format(bytes).map_err(|_| Rejected::Unsupported)?;
    if !matches!(format, ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP | ImageFormat::Gif) {
        return Err(Rejected::Unsupported);
    }
    let (w, h) = ImageReader::with_format(Cursor::new(bytes), format).into_dimensions().map_err(|_| Rejected::Corrupt)?;
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(Rejected::TooManyPixels);
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(w);
    limits.max_image_height = Some(h);
    limits.max_alloc = Some(MAX_PIXELS * 4 + 64 * 1024 * 1024);
    reader.limits(limits);
    let img = reader.decode().map_err(|_| Rejected::Corrupt)?;
    let alpha = img.color().has_alpha();
    let (image, ext, content_type) = encode(&img, alpha)?;
    let thumb = img.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE);
    let (thumbnail, _, _) = encode(&thumb, alpha)?;
    let hash: String = Sha256::digest(&image).iter().take(20).map(|b| format!("{b:02x}")).collect();
    Ok(Processed {
        key: format!("{hash}.{ext}"),
        thumbnail_key: format!("{hash}_t.{ext}"),
        image,
        thumbnail,
        content_type,
        width: img.width(),
        height: img.height(),
    })
}

/// Photos become JPEG; anything with transparency becomes PNG.
fn encode(img: &DynamicImage, alpha: bool) -> Result<(Vec<u8>, &'static str, &'static str), Rejected> {
    let mut out = Vec::new();
    if alpha {
        img.to_rgba8().write_to(&mut Cursor::new(&mut out), ImageFormat::Png).map_err(|_| Rejected::Corrupt)?;
        Ok((out, "png", "image/png"))
    } else {
        JpegEncoder::new_with_quality(&mut out, 85).encode_image(&img.to_rgb8()).map_err(|_| Rejected::Corrupt)?;
        Ok((out, "jpg", "image/jpeg"))
    }
}

/// `<40 hex>[_t].(jpg|png)`: the only keys that exist.
pub fn valid_key(key: &str) -> Option<&'static str> {
    let (stem, ext) = key.rsplit_once('.')?;
    let hash = stem.strip_suffix("_t").unwrap_or(stem);
    if hash.len() != 40 || !hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    match ext {
        "jpg" => Some("image/jpeg"),
        "png" => Some("image/png"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testdata::{jpeg, jpeg_with_gps};

    #[test]
    fn exif_and_gps_do_not_survive() {
        let input = jpeg_with_gps();
        assert!(input.windows(4).any(|w| w == b"Exif") && input.windows(15).any(|w| w == b"GPS-LEAK-CAMERA"));
        let out = process(&input).unwrap();
        for bytes in [&out.image, &out.thumbnail] {
            assert!(!bytes.windows(4).any(|w| w == b"Exif"), "no EXIF");
            assert!(!bytes.windows(15).any(|w| w == b"GPS-LEAK-CAMERA"));
            assert!(!bytes.windows(2).any(|w| w == [0xFF, 0xE1]), "no APP1 segment");
        }
        assert_eq!((out.width, out.height, out.content_type), (64, 48, "image/jpeg"));
    }

    #[test]
    fn type_is_sniffed_from_bytes() {
        assert_eq!(process(b"<svg xmlns='http://www.w3.org/2000/svg'/>").unwrap_err(), Rejected::Unsupported);
        assert!(matches!(process(b"GIF89a-not-really"), Err(Rejected::Corrupt | Rejected::TooManyPixels)), "sniffed as GIF, then refused");
        let mut png = Vec::new();
        image::RgbaImage::new(10, 10).write_to(&mut Cursor::new(&mut png), ImageFormat::Png).unwrap();
        let out = process(&png).unwrap();
        assert_eq!(out.content_type, "image/png");
        assert!(valid_key(&out.key).is_some() && valid_key(&out.thumbnail_key).is_some());
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut c = 0xFFFF_FFFFu32;
        for &b in data {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            }
        }
        !c
    }

    #[test]
    fn limits() {
        assert_eq!(process(&vec![0u8; MAX_BYTES + 1]).unwrap_err(), Rejected::TooLarge);
        // A PNG header claiming 10000 x 5000 = 50 megapixels is refused before decoding.
        let mut png = Vec::new();
        image::GrayImage::new(1, 1).write_to(&mut Cursor::new(&mut png), ImageFormat::Png).unwrap();
        png[16..20].copy_from_slice(&10_000u32.to_be_bytes());
        png[20..24].copy_from_slice(&5_000u32.to_be_bytes());
        let crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(process(&png).unwrap_err(), Rejected::TooManyPixels);
    }

    #[test]
    fn thumbnails_are_small_and_keys_content_addressed() {
        let out = process(&jpeg(1200, 800)).unwrap();
        let thumb = image::load_from_memory(&out.thumbnail).unwrap();
        assert!(thumb.width() <= THUMBNAIL_SIDE && thumb.height() <= THUMBNAIL_SIDE);
        assert_eq!(process(&jpeg(1200, 800)).unwrap().key, out.key, "same content, same key");
        assert!(valid_key("../../etc/passwd").is_none());
        assert!(valid_key(&format!("{}.gif", "a".repeat(40))).is_none());
    }
}
