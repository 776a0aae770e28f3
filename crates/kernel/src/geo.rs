//! Positions in query strings: a latitude within −90…90 and a longitude within −180…180, refused
//! at the edge (400 `invalid_query`) whatever else the query asks, as the document says.

use serde::{de::Error, Deserialize, Deserializer};

/// `#[serde(default, deserialize_with = "gonggu_kernel::geo::latitude")]` on `Option<f64>`.
pub fn latitude<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    within(d, "lat", 90.0)
}

/// `#[serde(default, deserialize_with = "gonggu_kernel::geo::longitude")]` on `Option<f64>`.
pub fn longitude<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    within(d, "lon", 180.0)
}

fn within<'de, D: Deserializer<'de>>(d: D, name: &str, bound: f64) -> Result<Option<f64>, D::Error> {
    match Option::<f64>::deserialize(d)? {
        // NaN fails the range test too.
        Some(v) if !(-bound..=bound).contains(&v) => Err(D::Error::custom(format!("{name}: {v} is not within -{bound}..={bound}"))),
        v => Ok(v),
    }
}
