//! Decoding the embedded `data/emd.bin` (layout documented in tools/gazetteer/derive.py).

use crate::place::{Code, Place};

pub(crate) static EMD_BIN: &[u8] = include_bytes!("../data/emd.bin");

const MAGIC: &[u8; 4] = b"GGPL";
const FORMAT_VERSION: u8 = 1;

/// Coordinates are stored as degrees × `SCALE`, so one unit is 1e-5° (≈1.1 m of latitude).
pub(crate) const SCALE: f64 = 100_000.0;

/// A point in storage units: `[lon, lat]` × 1e5.
pub(crate) type Pt = [i32; 2];

/// An axis-aligned box in storage units: `[min_x, min_y, max_x, max_y]`.
pub(crate) type Bbox = [i32; 4];

pub(crate) struct Ring {
    pub start: u32,
    pub end: u32,
    pub bbox: Bbox,
}

/// One polygon of a place: an exterior ring followed by its holes.
pub(crate) struct Part {
    pub place: u32,
    pub rings_start: u32,
    pub rings_end: u32,
    pub bbox: Bbox,
}

pub(crate) struct Decoded {
    pub places: Vec<Place>,
    pub parts: Vec<Part>,
    pub rings: Vec<Ring>,
    pub points: Vec<Pt>,
}

struct Reader {
    bytes: &'static [u8],
    pos: usize,
}

impl Reader {
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.bytes.get(self.pos).ok_or_else(|| format!("truncated at byte {}", self.pos))?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(format!("varint too long at byte {}", self.pos))
    }

    fn count(&mut self) -> Result<usize, String> {
        let n = self.varint()?;
        usize::try_from(n).ok().filter(|&n| n <= self.bytes.len()).ok_or_else(|| format!("count {n} at byte {}", self.pos))
    }

    fn zigzag(&mut self) -> Result<i64, String> {
        let n = self.varint()?;
        Ok((n >> 1) as i64 ^ -((n & 1) as i64))
    }

    fn str(&mut self) -> Result<&'static str, String> {
        let len = self.count()?;
        let raw = self.bytes.get(self.pos..self.pos + len).ok_or("truncated string")?;
        self.pos += len;
        std::str::from_utf8(raw).map_err(|e| e.to_string())
    }
}

fn add(base: i32, delta: i64) -> Result<i32, String> {
    i32::try_from(i64::from(base) + delta).map_err(|_| "coordinate overflow".to_string())
}

fn grow(b: &mut Bbox, p: Pt) {
    b[0] = b[0].min(p[0]);
    b[1] = b[1].min(p[1]);
    b[2] = b[2].max(p[0]);
    b[3] = b[3].max(p[1]);
}

const EMPTY: Bbox = [i32::MAX, i32::MAX, i32::MIN, i32::MIN];

pub(crate) fn decode(bytes: &'static [u8]) -> Result<Decoded, String> {
    let mut r = Reader { bytes, pos: 0 };
    if bytes.get(..4) != Some(MAGIC.as_slice()) || bytes.get(4) != Some(&FORMAT_VERSION) {
        return Err("not a version 1 GGPL file".into());
    }
    r.pos = 5;
    let strings = (0..r.count()?).map(|_| r.str()).collect::<Result<Vec<_>, _>>()?;
    let string = |i: u64| strings.get(i as usize).copied().ok_or_else(|| format!("string index {i}"));

    let n = r.count()?;
    let mut out = Decoded { places: Vec::with_capacity(n), parts: Vec::new(), rings: Vec::new(), points: Vec::new() };
    let (mut code, mut centre): (u64, Pt) = (0, [0, 0]);
    for index in 0..n {
        code += r.varint()?;
        let code = u32::try_from(code).ok().and_then(Code::new).ok_or_else(|| format!("code {code}"))?;
        let (sido, sigungu, name) = (string(r.varint()?)?, string(r.varint()?)?, string(r.varint()?)?);
        centre = [add(centre[0], r.zigzag()?)?, add(centre[1], r.zigzag()?)?];
        out.places.push(Place { code, sido, sigungu, name, lat: f64::from(centre[1]) / SCALE, lon: f64::from(centre[0]) / SCALE });
        for _ in 0..r.count()? {
            let rings_start = out.rings.len() as u32;
            let mut part_bbox = EMPTY;
            for _ in 0..r.count()? {
                let start = out.points.len() as u32;
                let mut bbox = EMPTY;
                let mut p = centre;
                for _ in 0..r.count()? {
                    p = [add(p[0], r.zigzag()?)?, add(p[1], r.zigzag()?)?];
                    grow(&mut bbox, p);
                    out.points.push(p);
                }
                if out.points.len() as u32 - start < 3 {
                    return Err(format!("{code}: ring of fewer than 3 points"));
                }
                grow(&mut part_bbox, [bbox[0], bbox[1]]);
                grow(&mut part_bbox, [bbox[2], bbox[3]]);
                out.rings.push(Ring { start, end: out.points.len() as u32, bbox });
            }
            if out.rings.len() as u32 == rings_start {
                return Err(format!("{code}: polygon without rings"));
            }
            out.parts.push(Part { place: index as u32, rings_start, rings_end: out.rings.len() as u32, bbox: part_bbox });
        }
    }
    if r.pos != bytes.len() {
        return Err(format!("{} trailing bytes", bytes.len() - r.pos));
    }
    if !out.places.windows(2).all(|w| w[0].code < w[1].code) {
        return Err("places not in code order".into());
    }
    Ok(out)
}
