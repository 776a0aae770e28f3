//! Point → 읍면동: a uniform grid over the areas' bounding boxes, even-odd ray casting, and a
//! nearest-edge fallback for points just off a simplified coast or in a gap between neighbours.

use crate::data::{Bbox, Decoded, Part, Pt, Ring, SCALE};

/// Points this close to an area but in none (a beach or pier just outside the simplified coast,
/// a sliver between two simplified neighbours) resolve to the nearest area.
///
/// Simplification moves an edge by up to ~30 m; the rest is for the coast itself, where the
/// survey line and where people stand (breakwaters, beaches at low tide) differ by a few hundred
/// metres. Farther than this is sea.
pub const COAST_TOLERANCE_M: f64 = 300.0;

/// Metres per storage unit (1e-5°) of latitude, on the mean-radius sphere.
const M_PER_UNIT: f64 = 6_371_008.8 * std::f64::consts::PI / 180.0 / SCALE;

/// 0.02° ≈ 2 km: a lookup tests only the polygons whose box holds the point, so finer cells
/// (0.01° measured the same speed) would only cost memory: 100,000 cells here, 400,000 there.
const CELL: i32 = 2_000;

/// Why a point has no 읍면동.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Outside {
    /// A valid coordinate at sea, abroad, or farther than [`COAST_TOLERANCE_M`] from any area.
    #[error("대한민국 안의 위치가 아닙니다.")]
    NotInKorea,
    /// NaN, infinite, or beyond ±90° latitude / ±180° longitude.
    #[error("위도·경도 값이 올바르지 않습니다.")]
    InvalidCoordinate,
}

pub(crate) struct Index {
    parts: Vec<Part>,
    rings: Vec<Ring>,
    points: Vec<Pt>,
    /// Lower-left corner of cell (0, 0), in storage units.
    origin: [i32; 2],
    cols: i32,
    rows: i32,
    /// CSR: the parts whose box meets cell `c` are `cell_parts[cell_start[c]..cell_start[c + 1]]`,
    /// in code order, so overlapping areas (the source's neighbours disagree by a few metres)
    /// always resolve the same way.
    cell_start: Vec<u32>,
    cell_parts: Vec<u32>,
}

impl Index {
    pub(crate) fn build(d: Decoded) -> Index {
        let Decoded { parts, rings, points, .. } = d;
        let mut all = [i32::MAX, i32::MAX, i32::MIN, i32::MIN];
        for p in &parts {
            all = [all[0].min(p.bbox[0]), all[1].min(p.bbox[1]), all[2].max(p.bbox[2]), all[3].max(p.bbox[3])];
        }
        let origin = [all[0].div_euclid(CELL) * CELL, all[1].div_euclid(CELL) * CELL];
        let cols = (all[2] - origin[0]) / CELL + 1;
        let rows = (all[3] - origin[1]) / CELL + 1;
        let mut index = Index { parts, rings, points, origin, cols, rows, cell_start: Vec::new(), cell_parts: Vec::new() };

        // Two passes (count, then fill) keep the cell lists in one allocation.
        let ncells = (cols * rows) as usize;
        let mut counts = vec![0u32; ncells + 1];
        for p in &index.parts {
            index.for_cells(p.bbox, |c| counts[c + 1] += 1);
        }
        for c in 0..ncells {
            counts[c + 1] += counts[c];
        }
        let mut fill = counts.clone();
        let mut cell_parts = vec![0u32; counts[ncells] as usize];
        for (i, p) in index.parts.iter().enumerate() {
            index.for_cells(p.bbox, |c| {
                cell_parts[fill[c] as usize] = i as u32;
                fill[c] += 1;
            });
        }
        index.cell_start = counts;
        index.cell_parts = cell_parts;
        index
    }

    fn clamp_cell(&self, x: i32, y: i32) -> (i32, i32) {
        (((x - self.origin[0]).div_euclid(CELL)).clamp(0, self.cols - 1), ((y - self.origin[1]).div_euclid(CELL)).clamp(0, self.rows - 1))
    }

    fn for_cells(&self, b: Bbox, mut f: impl FnMut(usize)) {
        let (c0, r0) = self.clamp_cell(b[0], b[1]);
        let (c1, r1) = self.clamp_cell(b[2], b[3]);
        for r in r0..=r1 {
            for c in c0..=c1 {
                f((r * self.cols + c) as usize);
            }
        }
    }

    fn cell(&self, c: usize) -> &[u32] {
        &self.cell_parts[self.cell_start[c] as usize..self.cell_start[c + 1] as usize]
    }

    pub(crate) fn cells_and_entries(&self) -> (usize, usize) {
        (self.cell_start.len() - 1, self.cell_parts.len())
    }

    /// The index of the place holding the point, or the nearest within [`COAST_TOLERANCE_M`].
    pub(crate) fn locate(&self, lat: f64, lon: f64) -> Result<usize, Outside> {
        if !lat.is_finite() || !lon.is_finite() || lat.abs() > 90.0 || lon.abs() > 180.0 {
            return Err(Outside::InvalidCoordinate);
        }
        let (x, y) = (lon * SCALE, lat * SCALE);
        let margin_y = COAST_TOLERANCE_M / M_PER_UNIT;
        let margin_x = margin_y / lat.to_radians().cos();
        let (gx0, gy0) = (f64::from(self.origin[0]), f64::from(self.origin[1]));
        let (gx1, gy1) = (gx0 + f64::from(self.cols * CELL), gy0 + f64::from(self.rows * CELL));
        if x < gx0 - margin_x || x > gx1 + margin_x || y < gy0 - margin_y || y > gy1 + margin_y {
            return Err(Outside::NotInKorea);
        }

        if x >= gx0 && x < gx1 && y >= gy0 && y < gy1 {
            let c = ((y - gy0) as i32 / CELL * self.cols + (x - gx0) as i32 / CELL) as usize;
            for &pi in self.cell(c) {
                let part = &self.parts[pi as usize];
                if in_box(&part.bbox, x, y, 0.0, 0.0) && self.part_contains(part, x, y) {
                    return Ok(part.place as usize);
                }
            }
        }
        self.nearest(x, y, margin_x, margin_y, lat.to_radians().cos()).ok_or(Outside::NotInKorea)
    }

    fn part_contains(&self, part: &Part, x: f64, y: f64) -> bool {
        // A ring whose box misses the point crosses the ray an even number of times.
        let mut inside = false;
        for ring in &self.rings[part.rings_start as usize..part.rings_end as usize] {
            if in_box(&ring.bbox, x, y, 0.0, 0.0) && ring_crossings_odd(&self.points[ring.start as usize..ring.end as usize], x, y) {
                inside = !inside;
            }
        }
        inside
    }

    fn nearest(&self, x: f64, y: f64, mx: f64, my: f64, kx: f64) -> Option<usize> {
        let bbox = [(x - mx).floor() as i32, (y - my).floor() as i32, (x + mx).ceil() as i32, (y + my).ceil() as i32];
        // Distances in latitude units: longitude scaled by cos(lat), good to well under 1 % over 300 m.
        let limit = my;
        let mut best: Option<(f64, u32)> = None;
        let mut seen: Vec<u32> = Vec::new();
        self.for_cells(bbox, |c| {
            for &pi in self.cell(c) {
                if seen.contains(&pi) {
                    continue;
                }
                seen.push(pi);
                let part = &self.parts[pi as usize];
                let reach = best.map_or(limit, |(d, _)| d.min(limit));
                if !in_box(&part.bbox, x, y, reach / kx, reach) {
                    continue;
                }
                for ring in &self.rings[part.rings_start as usize..part.rings_end as usize] {
                    let reach = best.map_or(limit, |(d, _)| d.min(limit));
                    if !in_box(&ring.bbox, x, y, reach / kx, reach) {
                        continue;
                    }
                    let d = ring_distance(&self.points[ring.start as usize..ring.end as usize], x, y, kx);
                    // Ties (a shared edge) go to the lower code, as the containment test does.
                    if d <= limit && best.is_none_or(|(b, place)| d < b || (d == b && part.place < place)) {
                        best = Some((d, part.place));
                    }
                }
            }
        });
        best.map(|(_, place)| place as usize)
    }
}

fn in_box(b: &Bbox, x: f64, y: f64, mx: f64, my: f64) -> bool {
    x >= f64::from(b[0]) - mx && x <= f64::from(b[2]) + mx && y >= f64::from(b[1]) - my && y <= f64::from(b[3]) + my
}

fn ring_crossings_odd(ring: &[Pt], x: f64, y: f64) -> bool {
    let mut odd = false;
    let mut j = ring.len() - 1;
    for i in 0..ring.len() {
        let (xi, yi) = (f64::from(ring[i][0]), f64::from(ring[i][1]));
        let (xj, yj) = (f64::from(ring[j][0]), f64::from(ring[j][1]));
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            odd = !odd;
        }
        j = i;
    }
    odd
}

/// Shortest distance from the point to the ring's edges, in latitude units.
fn ring_distance(ring: &[Pt], x: f64, y: f64, kx: f64) -> f64 {
    let mut best = f64::INFINITY;
    let mut j = ring.len() - 1;
    for i in 0..ring.len() {
        let (ax, ay) = ((f64::from(ring[j][0]) - x) * kx, f64::from(ring[j][1]) - y);
        let (bx, by) = ((f64::from(ring[i][0]) - x) * kx, f64::from(ring[i][1]) - y);
        let (dx, dy) = (bx - ax, by - ay);
        let len2 = dx * dx + dy * dy;
        let t = if len2 > 0.0 { (-(ax * dx + ay * dy) / len2).clamp(0.0, 1.0) } else { 0.0 };
        let (px, py) = (ax + t * dx, ay + t * dy);
        best = best.min(px * px + py * py);
        j = i;
    }
    best.sqrt()
}
