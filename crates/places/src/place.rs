//! The public record of one 읍면동 and its 법정동 code.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};
use utoipa::ToSchema;

/// An 8-digit 법정동 code at 읍면동 level (시도 2 + 시군구 3 + 읍면동 3 digits), e.g. `11680101`.
///
/// Kept as a number so [`Place`] stays `Copy`; it prints and serializes as the zero-padded
/// 8-character string, which is how every Korean register writes it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code(u32);

impl Code {
    const MAX: u32 = 99_999_999;

    pub(crate) fn new(n: u32) -> Option<Code> {
        (n <= Self::MAX).then_some(Code(n))
    }

    pub fn as_u32(self) -> u32 {
        self.0
    }

    /// The 5-digit 시군구 part, e.g. `11680` for 강남구.
    pub fn sigungu_code(self) -> u32 {
        self.0 / 1000
    }

    /// The 2-digit 시도 part, e.g. `11` for 서울특별시.
    pub fn sido_code(self) -> u32 {
        self.0 / 1_000_000
    }
}

/// Why a string is not an 8-digit 법정동 code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("법정동 코드는 숫자 8자리입니다.")]
pub struct BadCode;

impl FromStr for Code {
    type Err = BadCode;

    fn from_str(s: &str) -> Result<Code, BadCode> {
        // u32::from_str would also take "+1168010" or a shorter string.
        if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BadCode);
        }
        s.parse::<u32>().map(Code).map_err(|_| BadCode)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08}", self.0)
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Code({self})")
    }
}

impl PartialEq<str> for Code {
    fn eq(&self, other: &str) -> bool {
        other.parse::<Code>() == Ok(*self)
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One 읍면동 (법정동 level): its code, names and a centre point inside its area.
///
/// `sigungu` is empty for 세종특별자치시, which has no 시군구 (its addresses read
/// "세종특별자치시 반곡동"); a 행정구 is written with its city, "수원시 팔달구".
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
#[schema(example = json!({
    "code": "11680101", "sido": "서울특별시", "sigungu": "강남구", "name": "역삼동", "lat": 37.50011, "lon": 127.03852
}))]
pub struct Place {
    /// 8-digit 법정동 code.
    #[schema(value_type = String, pattern = "^[0-9]{8}$", example = "11680101")]
    pub code: Code,
    /// 시도, e.g. "서울특별시".
    pub sido: &'static str,
    /// 시군구, e.g. "강남구"; empty for 세종특별자치시.
    pub sigungu: &'static str,
    /// 읍면동, e.g. "역삼동".
    pub name: &'static str,
    /// Latitude (WGS84) of a point inside the area, not necessarily its centroid.
    pub lat: f64,
    /// Longitude (WGS84) of the same point.
    pub lon: f64,
}

impl Place {
    /// "서울특별시 강남구 역삼동", skipping an empty 시군구.
    pub fn address(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sido)?;
        if !self.sigungu.is_empty() {
            write!(f, " {}", self.sigungu)?;
        }
        write!(f, " {}", self.name)
    }
}
