//! Chat's value types, parsed once at the edge.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Why a value was refused, in Korean for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub &'static str);

/// Text 1–`max` characters once trimmed, without control or bidi characters (newlines and
/// tabs are text). The answers, in order: when it is empty, too long, or has such characters.
fn trimmed_text(raw: &str, max: usize, [empty, long, forbidden]: [&'static str; 3]) -> Result<String, Invalid> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(Invalid(empty));
    }
    if s.chars().count() > max {
        return Err(Invalid(long));
    }
    if gonggu_kernel::text::has_forbidden_chars(s) {
        return Err(Invalid(forbidden));
    }
    Ok(s.to_owned())
}

/// A message's text: 1–1,000 characters once trimmed, without control or bidi characters
/// (newlines and tabs are text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageBody(String);

impl MessageBody {
    pub const MAX_CHARS: usize = 1_000;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        trimmed_text(
            raw,
            Self::MAX_CHARS,
            [
                "메시지를 입력해 주세요.",
                "메시지는 1,000자까지 보낼 수 있습니다.",
                "메시지에 쓸 수 없는 문자(제어 문자나 방향 제어 문자)가 들어 있습니다.",
            ],
        )
        .map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The host's pinned notice: 1–300 characters once trimmed, like a message otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinBody(String);

impl PinBody {
    pub const MAX_CHARS: usize = 300;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        trimmed_text(
            raw,
            Self::MAX_CHARS,
            [
                "공지 내용을 입력해 주세요.",
                "공지는 300자까지 쓸 수 있습니다.",
                "공지에 쓸 수 없는 문자(제어 문자나 방향 제어 문자)가 들어 있습니다.",
            ],
        )
        .map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The sender's id for one message, so that a resend is the same message: 1–64 characters of
/// `A–Z a–z 0–9 - _ .` (a UUID is typical).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let ok = (1..=64).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Invalid("client_id는 영문, 숫자, -, _, . 으로 1~64자여야 합니다."))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a message is: a member's text or image, or a notice the room itself posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    Text,
    Image,
    Notice,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Text => "text",
            MessageKind::Image => "image",
            MessageKind::Notice => "notice",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "text" => MessageKind::Text,
            "image" => MessageKind::Image,
            "notice" => MessageKind::Notice,
            _ => return None,
        })
    }
}

/// Whether members may still post: a cancelled or failed deal's room is read-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoomState {
    Open,
    Closed,
}

impl RoomState {
    pub fn as_str(self) -> &'static str {
        match self {
            RoomState::Open => "open",
            RoomState::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "open" => RoomState::Open,
            "closed" => RoomState::Closed,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn bodies_are_trimmed_and_bounded() {
        assert_eq!(MessageBody::parse("  안녕하세요 \n").unwrap().as_str(), "안녕하세요");
        assert!(MessageBody::parse(" \n\t ").is_err());
        assert!(MessageBody::parse(&"가".repeat(1_000)).is_ok());
        assert!(MessageBody::parse(&"가".repeat(1_001)).is_err());
        assert!(MessageBody::parse("a\u{202e}b").is_err());
        assert!(MessageBody::parse("a\u{0}b").is_err());
        assert_eq!(MessageBody::parse("첫 줄\n둘째 줄").unwrap().as_str(), "첫 줄\n둘째 줄");
    }

    #[test]
    fn client_ids_are_short_safe_tokens() {
        assert!(ClientId::parse("0192f0e4-7d1c-7a1e-9c1e-2f6f8b1d4c3a").is_ok());
        for bad in ["", "a b", "<script>", "é", &"x".repeat(65)] {
            assert!(ClientId::parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn a_parsed_body_is_what_was_typed_trimmed(s in "\\PC{0,1200}") {
            match MessageBody::parse(&s) {
                Ok(b) => {
                    prop_assert_eq!(b.as_str(), s.trim());
                    prop_assert!((1..=1_000).contains(&b.as_str().chars().count()));
                }
                Err(_) => prop_assert!(
                    s.trim().is_empty()
                        || s.trim().chars().count() > 1_000
                        || gonggu_kernel::text::has_forbidden_chars(s.trim())
                ),
            }
        }
    }
}
