//! Cursor paging shared by every list endpoint (DESIGN §4).

use serde::Serialize;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// `?limit=`, clamped to 1..=100 (default 20).
pub fn clamp_limit(limit: Option<u32>) -> u32 {
    limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    #[test]
    fn limits_are_clamped() {
        assert_eq!(super::clamp_limit(None), 20);
        assert_eq!(super::clamp_limit(Some(0)), 1);
        assert_eq!(super::clamp_limit(Some(1000)), 100);
    }
}
