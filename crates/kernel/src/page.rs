//! Cursor paging shared by every list endpoint (DESIGN §4).

use serde::Serialize;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// `?limit=`, clamped to 1..=100 (default 20). The API refuses values outside that range at the
/// edge ([`deserialize_limit`]); pages may pass anything.
pub fn clamp_limit(limit: Option<u32>) -> u32 {
    limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}

/// `#[serde(default, deserialize_with = "gonggu_kernel::page::deserialize_limit")]` on a query's
/// `limit: Option<u32>`: a value outside 1..=100 is refused (400 `invalid_query`) rather than
/// silently clamped, so the answer says what the document says (`minimum: 1, maximum: 100`).
pub fn deserialize_limit<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    use serde::{de::Error, Deserialize};
    match Option::<u32>::deserialize(d)? {
        Some(n) if !(1..=MAX_LIMIT).contains(&n) => Err(D::Error::custom(format!("limit: {n} is not within 1..={MAX_LIMIT}"))),
        limit => Ok(limit),
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Keyset cursors: the last row's sort key and tie-breaking sequence, opaque to clients.
pub fn encode_cursor(key: i64, seq: i64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{key}:{seq}"))
}

/// A cursor this server did not make (or one that was edited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadCursor;

impl From<BadCursor> for crate::ApiError {
    fn from(_: BadCursor) -> Self {
        crate::ApiError::bad_request("invalid_cursor", "cursor 값이 올바르지 않습니다.")
    }
}

pub fn decode_cursor(s: &str) -> Result<(i64, i64), BadCursor> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).map_err(|_| BadCursor)?;
    let text = String::from_utf8(raw).map_err(|_| BadCursor)?;
    let (a, b) = text.split_once(':').ok_or(BadCursor)?;
    Ok((a.parse().map_err(|_| BadCursor)?, b.parse().map_err(|_| BadCursor)?))
}

/// The OpenAPI schema of a string that takes one of `values` (sorts, filters, units), so that a
/// parameter's document lists exactly what its parser accepts.
pub fn string_enum(values: &[&str]) -> utoipa::openapi::Object {
    use utoipa::openapi::{schema::SchemaType, ObjectBuilder, Type};
    ObjectBuilder::new().schema_type(SchemaType::Type(Type::String)).enum_values(Some(values.iter().copied())).build()
}

#[cfg(test)]
mod tests {
    #[test]
    fn cursor_round_trip() {
        assert_eq!(super::decode_cursor(&super::encode_cursor(5000, 42)), Ok((5000, 42)));
        assert_eq!(super::decode_cursor(&super::encode_cursor(-3, 9)), Ok((-3, 9)));
        assert!(super::decode_cursor("!!").is_err());
    }

    #[test]
    fn limits_are_clamped() {
        assert_eq!(super::clamp_limit(None), 20);
        assert_eq!(super::clamp_limit(Some(0)), 1);
        assert_eq!(super::clamp_limit(Some(1000)), 100);
    }
}
