//! Turning untrusted upload bytes into safe images: the type is sniffed from the bytes (never the
//! file name or the client's Content-Type), the pixel count is checked from the header before
//! decoding, and the decoded pixels are encoded afresh — so no metadata (EXIF, GPS, comments)
//! and nothing but pixels survive.

use std::{
    io::{self, BufRead, Cursor, Read, Seek, SeekFrom, Write},
    sync::atomic::{AtomicBool, Ordering},
};

use image::{codecs::jpeg::JpegEncoder, metadata::Orientation, DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use sha2::{Digest, Sha256};

pub const MAX_BYTES: usize = 5 * 1024 * 1024;
pub const MAX_PIXELS: u64 = 40_000_000;
/// Longest side: a phone panorama, not a strip made to trip the pixel arithmetic.
pub const MAX_SIDE: u32 = 16_384;
/// Images this small are cheap to decode whatever their file size.
pub const FREE_PIXELS: u64 = 4_000_000;
/// Above `FREE_PIXELS`, at least one byte of file for this many pixels. Camera photos carry
/// sensor noise and stay under ~30 pixels per byte; a decompression bomb (a few KB of PNG that
/// unpack to 40 megapixels, seconds of CPU) is thousands.
pub const MAX_PIXELS_PER_BYTE: u64 = 200;
/// What the decoder may allocate: 40 megapixels of RGBA, plus room for its own tables.
pub const MAX_ALLOC: u64 = MAX_PIXELS * 4 + 64 * 1024 * 1024;
pub const THUMBNAIL_SIDE: u32 = 400;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    TooLarge,
    Unsupported,
    TooManyPixels,
    /// Far more pixels than the file's size can honestly hold (a decompression bomb).
    Implausible,
    Corrupt,
    /// Nobody waits for the answer any more (the request went away).
    Cancelled,
}

impl Rejected {
    pub fn message(self) -> &'static str {
        match self {
            Rejected::TooLarge => "사진 한 장은 5MB까지 올릴 수 있습니다.",
            Rejected::Unsupported => "JPEG, PNG, WebP, GIF 사진만 올릴 수 있습니다.",
            Rejected::TooManyPixels => "사진이 너무 큽니다 (4천만 화소, 한 변 16,384픽셀까지).",
            Rejected::Implausible => "파일 크기에 비해 화소가 지나치게 많아 처리할 수 없는 사진입니다.",
            Rejected::Corrupt => "사진 파일을 읽을 수 없습니다.",
            Rejected::Cancelled => "사진 올리기가 취소되었습니다.",
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
    process_unless(bytes, &AtomicBool::new(false))
}

/// As [`process`], giving up (with `Cancelled`) soon after `cancelled` is set: between stages,
/// and inside the decoder's reads and the encoder's writes.
pub fn process_unless(bytes: &[u8], cancelled: &AtomicBool) -> Result<Processed, Rejected> {
    if bytes.len() > MAX_BYTES {
        return Err(Rejected::TooLarge);
    }
    let format = image::guess_format(bytes).map_err(|_| Rejected::Unsupported)?;
    if !matches!(format, ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP | ImageFormat::Gif) {
        return Err(Rejected::Unsupported);
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    let mut reader = ImageReader::with_format(Watched { inner: Cursor::new(bytes), cancelled }, format);
    reader.limits(limits.clone());
    // Reading the decoder's header decodes no pixels; the decoder itself refuses sides over the limits.
    let mut decoder = reader.into_decoder().map_err(|e| match e {
        image::ImageError::Limits(_) => Rejected::TooManyPixels,
        _ => unreadable(cancelled),
    })?;
    let (w, h) = decoder.dimensions();
    check_cost(w, h, bytes.len())?;
    limits.reserve(decoder.total_bytes()).map_err(|_| Rejected::TooManyPixels)?;
    // Phones store the picture as the sensor saw it and say in EXIF how to turn it; the metadata
    // is about to be dropped, so the turn is applied to the pixels now.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(|_| unreadable(cancelled))?;
    img.apply_orientation(orientation);
    let alpha = img.color().has_alpha();
    let (image, ext, content_type) = encode(&img, alpha, cancelled)?;
    let thumb = img.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE);
    let (thumbnail, _, _) = encode(&thumb, alpha, cancelled)?;
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

/// Decoding cost grows with pixels, so it is bounded from the header, before any decoding.
fn check_cost(w: u32, h: u32, file_bytes: usize) -> Result<(), Rejected> {
    let pixels = u64::from(w) * u64::from(h);
    if pixels > MAX_PIXELS || w > MAX_SIDE || h > MAX_SIDE {
        return Err(Rejected::TooManyPixels);
    }
    if pixels > FREE_PIXELS && pixels > file_bytes as u64 * MAX_PIXELS_PER_BYTE {
        return Err(Rejected::Implausible);
    }
    Ok(())
}

/// A decoder's failure is the file's fault unless the job was cancelled under it.
fn unreadable(cancelled: &AtomicBool) -> Rejected {
    if cancelled.load(Ordering::Relaxed) {
        Rejected::Cancelled
    } else {
        Rejected::Corrupt
    }
}

fn stop_if(cancelled: &AtomicBool) -> Result<(), Rejected> {
    if cancelled.load(Ordering::Relaxed) {
        Err(Rejected::Cancelled)
    } else {
        Ok(())
    }
}

/// Reads and writes in slices no larger than this, so a cancelled job stops within one slice.
const SLICE: usize = 64 * 1024;

/// The upload bytes (or the encoder's output) that fail as soon as the job is cancelled.
struct Watched<'a, T> {
    inner: T,
    cancelled: &'a AtomicBool,
}

impl<T> Watched<'_, T> {
    fn check(&self) -> io::Result<()> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(io::Error::other("upload cancelled"));
        }
        Ok(())
    }
}

impl<T: Read> Read for Watched<'_, T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.check()?;
        let n = buf.len().min(SLICE);
        self.inner.read(&mut buf[..n])
    }
}

impl<T: BufRead> BufRead for Watched<'_, T> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.check()?;
        let buf = self.inner.fill_buf()?;
        Ok(&buf[..buf.len().min(SLICE)])
    }
    fn consume(&mut self, amt: usize) {
        self.inner.consume(amt);
    }
}

impl<T: Seek> Seek for Watched<'_, T> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

impl<T: Write> Write for Watched<'_, T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.check()?;
        self.inner.write(&buf[..buf.len().min(SLICE)])
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Photos become JPEG; anything with transparency becomes PNG.
fn encode(img: &DynamicImage, alpha: bool, cancelled: &AtomicBool) -> Result<(Vec<u8>, &'static str, &'static str), Rejected> {
    let mut out = Vec::new();
    let written = if alpha {
        img.to_rgba8().write_to(&mut Watched { inner: Cursor::new(&mut out), cancelled }, ImageFormat::Png)
    } else {
        JpegEncoder::new_with_quality(&mut Watched { inner: &mut out, cancelled }, 85).encode_image(&img.to_rgb8())
    };
    stop_if(cancelled)?;
    written.map_err(|_| Rejected::Corrupt)?;
    Ok(if alpha { (out, "png", "image/png") } else { (out, "jpg", "image/jpeg") })
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

    use crate::testdata::{jpeg, jpeg_with_gps, jpeg_with_orientation, png_bomb};

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

    #[test]
    fn a_decompression_bomb_is_refused_before_decoding() {
        let bomb = png_bomb();
        assert!(bomb.len() < 16 * 1024, "a bomb is small: {} bytes", bomb.len());
        let started = std::time::Instant::now();
        assert_eq!(process(&bomb).unwrap_err(), Rejected::Implausible);
        assert!(started.elapsed() < std::time::Duration::from_millis(500), "refused from the header: {:?}", started.elapsed());
        assert!(Rejected::Implausible.message().chars().any(|c| ('가'..='힣').contains(&c)));
    }

    #[test]
    fn limits_are_given_to_the_decoder_too() {
        // Long and thin stays under the pixel count but not under the side limit.
        let mut png = Vec::new();
        image::GrayImage::new(1, 1).write_to(&mut Cursor::new(&mut png), ImageFormat::Png).unwrap();
        png[16..20].copy_from_slice(&(MAX_SIDE + 1).to_be_bytes());
        png[20..24].copy_from_slice(&1u32.to_be_bytes());
        let crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(process(&png).unwrap_err(), Rejected::TooManyPixels);
    }

    #[test]
    fn cancelled_work_stops() {
        let cancelled = AtomicBool::new(true);
        assert_eq!(process_unless(&jpeg(640, 480), &cancelled).unwrap_err(), Rejected::Cancelled);
        let mut png = Vec::new();
        image::RgbaImage::new(300, 300).write_to(&mut Cursor::new(&mut png), ImageFormat::Png).unwrap();
        assert_eq!(process_unless(&png, &cancelled).unwrap_err(), Rejected::Cancelled);
    }

    #[test]
    fn exif_orientation_is_applied_before_metadata_goes() {
        // Orientation 6: the sensor's picture must be turned 90° clockwise to be upright.
        let out = process(&jpeg_with_orientation(40, 20, 6)).unwrap();
        assert_eq!((out.width, out.height), (20, 40));
        let img = image::load_from_memory(&out.image).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (20, 40));
        // The sensor's left half (red) ends up on top, its right half (blue) below.
        let top = img.get_pixel(10, 5);
        let bottom = img.get_pixel(10, 34);
        assert!(top[0] > 200 && top[2] < 60, "top is red: {top:?}");
        assert!(bottom[2] > 200 && bottom[0] < 60, "bottom is blue: {bottom:?}");
        assert!(!out.image.windows(4).any(|w| w == b"Exif"), "and no EXIF survives");
        let thumb = image::load_from_memory(&out.thumbnail).unwrap();
        assert_eq!(thumb.height(), thumb.width() * 2, "the thumbnail is upright too");
        // Orientation 1 (or none) leaves the picture as it is.
        let out = process(&jpeg_with_orientation(40, 20, 1)).unwrap();
        assert_eq!((out.width, out.height), (40, 20));
    }
}
