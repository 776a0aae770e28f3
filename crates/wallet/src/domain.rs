//! Wallet value types, parsed once at the edge.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub &'static str);

/// Whole won, 1 ..= 10,000,000 per operation. Money is never a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Amount(i64);

impl Amount {
    pub const MAX: i64 = 10_000_000;

    pub fn parse(won: i64) -> Result<Self, Invalid> {
        if won < 1 {
            Err(Invalid("금액은 1원 이상이어야 합니다."))
        } else if won > Self::MAX {
            Err(Invalid("한 번에 10,000,000원까지 보낼 수 있습니다."))
        } else {
            Ok(Self(won))
        }
    }
    pub fn won(self) -> i64 {
        self.0
    }
}

/// An optional note on a transfer: at most 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Memo(String);

impl Memo {
    pub fn parse(raw: Option<&str>) -> Result<Option<Self>, Invalid> {
        let Some(raw) = raw else { return Ok(None) };
        let s = raw.trim();
        if s.is_empty() {
            return Ok(None);
        }
        if s.chars().count() > 100 {
            return Err(Invalid("메모는 100자까지 쓸 수 있습니다."));
        }
        if s.chars().any(char::is_control) {
            return Err(Invalid("메모에 사용할 수 없는 문자가 있습니다."));
        }
        Ok(Some(Self(s.to_owned())))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The client's `Idempotency-Key`: 1–255 visible ASCII characters (a UUID is typical).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        if s.is_empty() || s.len() > 255 || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Invalid("Idempotency-Key는 1~255자의 영문, 숫자, 기호여야 합니다."));
        }
        Ok(Self(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn amount_bounds() {
        assert!(Amount::parse(0).is_err());
        assert!(Amount::parse(-5).is_err());
        assert!(Amount::parse(10_000_001).is_err());
        assert_eq!(Amount::parse(1).unwrap().won(), 1);
        assert_eq!(Amount::parse(10_000_000).unwrap().won(), 10_000_000);
    }

    #[test]
    fn memo_rules() {
        assert_eq!(Memo::parse(None).unwrap(), None);
        assert_eq!(Memo::parse(Some("   ")).unwrap(), None);
        assert_eq!(Memo::parse(Some(" 휴지 값 ")).unwrap().unwrap().as_str(), "휴지 값");
        assert!(Memo::parse(Some(&"가".repeat(101))).is_err());
        assert!(Memo::parse(Some("a\u{0}b")).is_err());
    }

    #[test]
    fn idempotency_key_rules() {
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("한글").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
        assert!(IdempotencyKey::parse("3f2b6c1e-0b7a-4d0e-9a57-1b6f1e0c9d11").is_ok());
    }

    proptest! {
        #[test]
        fn amount_accepts_exactly_the_range(won in any::<i64>()) {
            prop_assert_eq!(Amount::parse(won).is_ok(), (1..=10_000_000).contains(&won));
        }
    }
}
