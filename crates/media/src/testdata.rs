//! Sample images for tests of this and other crates (e.g. a JPEG carrying GPS tags).

use image::codecs::jpeg::JpegEncoder;

pub fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90).encode_image(&img).unwrap();
    out
}

/// A JPEG with an EXIF APP1 segment carrying GPS coordinates (37°30'N, 127°2'E) and a camera model.
pub fn jpeg_with_gps() -> Vec<u8> {
    let plain = jpeg(64, 48);
    let mut tiff: Vec<u8> = b"II*\0\x08\0\0\0".to_vec();
    // IFD0: Model (0x0110, ASCII) and GPSInfo pointer (0x8825, LONG)
    let model = b"GPS-LEAK-CAMERA\0";
    let ifd0_entries = 2u16;
    let ifd0_size = 2 + 12 * ifd0_entries as usize + 4;
    let model_off = 8 + ifd0_size;
    let gps_off = model_off + model.len();
    tiff.extend(ifd0_entries.to_le_bytes());
    tiff.extend([0x10, 0x01, 2, 0]);
    tiff.extend((model.len() as u32).to_le_bytes());
    tiff.extend((model_off as u32).to_le_bytes());
    tiff.extend([0x25, 0x88, 4, 0, 1, 0, 0, 0]);
    tiff.extend((gps_off as u32).to_le_bytes());
    tiff.extend(0u32.to_le_bytes());
    tiff.extend(model);
    // GPS IFD: LatitudeRef 'N', Latitude 37/1 30/1 0/1, LongitudeRef 'E', Longitude 127/1 2/1 0/1
    let entries = 4u16;
    let data_off = gps_off + 2 + 12 * entries as usize + 4;
    tiff.extend(entries.to_le_bytes());
    tiff.extend([1, 0, 2, 0, 2, 0, 0, 0, b'N', 0, 0, 0]);
    tiff.extend([2, 0, 5, 0, 3, 0, 0, 0]);
    tiff.extend((data_off as u32).to_le_bytes());
    tiff.extend([3, 0, 2, 0, 2, 0, 0, 0, b'E', 0, 0, 0]);
    tiff.extend([4, 0, 5, 0, 3, 0, 0, 0]);
    tiff.extend(((data_off + 24) as u32).to_le_bytes());
    tiff.extend(0u32.to_le_bytes());
    for v in [37u32, 1, 30, 1, 0, 1, 127, 1, 2, 1, 0, 1] {
        tiff.extend(v.to_le_bytes());
    }
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(tiff);
    let mut out = plain[..2].to_vec(); // SOI
    out.extend([0xFF, 0xE1]);
    out.extend(((app1.len() + 2) as u16).to_be_bytes());
    out.extend(app1);
    out.extend(&plain[2..]);
    out
}

/// A decompression bomb: a valid 1-bit greyscale PNG of 6324 × 6324 (40 megapixels, just under
/// the pixel limit) that is only a few KB, because every row is zeros.
pub fn png_bomb() -> Vec<u8> {
    const SIDE: u32 = 6324;
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, SIDE, SIDE);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::One);
    encoder.set_compression(png::Compression::High);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&vec![0u8; SIDE.div_ceil(8) as usize * SIDE as usize]).unwrap();
    writer.finish().unwrap();
    out
}

/// A JPEG of `w` × `h` whose EXIF says how to turn it (`orientation` 1–8; 6 = rotate 90° clockwise,
/// as a phone held upright writes). The left half is red and the right half blue, so the test can
/// tell which way it was turned.
pub fn jpeg_with_orientation(w: u32, h: u32, orientation: u16) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, _| if x < w / 2 { image::Rgb([255, 0, 0]) } else { image::Rgb([0, 0, 255]) });
    let mut plain = Vec::new();
    JpegEncoder::new_with_quality(&mut plain, 95).encode_image(&img).unwrap();
    // TIFF header (little endian), IFD0 with one entry: Orientation (0x0112, SHORT, 1 value).
    let mut tiff: Vec<u8> = b"II*\0\x08\0\0\0".to_vec();
    tiff.extend(1u16.to_le_bytes());
    tiff.extend([0x12, 0x01, 3, 0, 1, 0, 0, 0]);
    tiff.extend(orientation.to_le_bytes());
    tiff.extend([0, 0]);
    tiff.extend(0u32.to_le_bytes());
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(tiff);
    let mut out = plain[..2].to_vec(); // SOI
    out.extend([0xFF, 0xE1]);
    out.extend(((app1.len() + 2) as u16).to_be_bytes());
    out.extend(app1);
    out.extend(&plain[2..]);
    out
}
