//! Where a page may send the browser next: `next=` targets and every `Location` header a page
//! builds. Browsers drop tabs and newlines from URLs and read `\` as `/`, so `/\t/evil.example`
//! is `//evil.example` to them; only a plain same-origin path is followed.

use std::borrow::Cow;

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

/// Percent-encodes a string for a query value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A `next=` target when it is a same-origin path to a page; `/` otherwise.
pub fn safe_next(next: Option<&str>) -> String {
    next.and_then(local_path).unwrap_or_else(|| "/".to_owned())
}

/// A 303 to a same-origin path (`/` when `to` is not one). Never fails: the `Location` is
/// built from [`safe_next`], whose answers are always valid header values.
pub fn see_other(to: &str) -> Response {
    let target = safe_next(Some(to));
    let location = HeaderValue::from_str(&target).unwrap_or(HeaderValue::from_static("/"));
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// Characters that are escaped in a `Location` (everything else of `next` is kept as the user's
/// browser sent it, `%XX` included).
const LOCATION_ESCAPES: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'<').add(b'>').add(b'`').add(b'{').add(b'}').add(b'|').add(b'^');

/// How many layers of percent-encoding are looked through before giving up.
const DECODE_LAYERS: usize = 3;

fn local_path(raw: &str) -> Option<String> {
    let mut layer: Cow<'_, str> = Cow::Borrowed(raw);
    for _ in 0..=DECODE_LAYERS {
        if !plain_path(&layer) {
            return None;
        }
        let decoded: String = percent_decode_str(&layer).decode_utf8_lossy().into_owned();
        if decoded == *layer {
            return Some(utf8_percent_encode(raw, LOCATION_ESCAPES).to_string());
        }
        layer = Cow::Owned(decoded);
    }
    None
}

/// One leading `/` followed by something that is not another separator, no `\`, no scheme, no
/// control or bidi characters, and not the JSON API.
fn plain_path(p: &str) -> bool {
    let mut chars = p.chars();
    chars.next() == Some('/')
        && !matches!(chars.next(), Some('/' | '\\'))
        && !p.contains('\\')
        && !p.contains("://")
        && !p.starts_with("/api/")
        && !p.chars().any(|c| crate::text::forbidden_char(c) || c.is_control() || (c.is_whitespace() && c != ' '))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn next_must_be_local() {
        for ok in ["/me", "/deals/3f2a?x=1&y=2#photos", "/me?msg=keywords#keywords", "/deals?q=%ED%9C%B4%EC%A7%80", "/a%20b"] {
            assert_eq!(safe_next(Some(ok)), ok, "{ok}");
        }
        assert_eq!(safe_next(Some("/검색")), "/%EA%B2%80%EC%83%89");
        assert_eq!(safe_next(Some("/a b")), "/a%20b");
        for evil in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "/\t/evil.example/x",
            "/\n/evil.example",
            "/\r\n//evil.example",
            "/%09/evil.example",
            "/%2F/evil.example",
            "/%252F%252Fevil.example",
            "/%5Cevil.example",
            "/%0a",
            "/\u{0}",
            "/\u{7f}",
            "/\u{85}evil",
            "/\u{202e}lmth.exe",
            "/\u{2028}/evil",
            "/%E2%80%AEfoo",
            "/x?u=javascript://x",
            "javascript:alert(1)",
            "evil.example",
            "",
            " /me",
            "/api/v1/me",
            "/%25252525252F",
        ] {
            assert_eq!(safe_next(Some(evil)), "/", "{evil:?}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn redirects_never_fail() {
        let res = see_other("/\n");
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(res.headers()[header::LOCATION], "/");
        assert_eq!(see_other("/wallet?msg=sent").headers()[header::LOCATION], "/wallet?msg=sent");
    }

    proptest! {
        #[test]
        fn answers_are_one_slash_paths(s in any::<String>(), tail in "[/\\\\%0-9a-fA-F\t\n .:]{0,12}") {
            for input in [s.clone(), format!("/{s}"), format!("/{tail}{s}")] {
                let out = safe_next(Some(&input));
                prop_assert!(out.starts_with('/'), "{out:?}");
                prop_assert!(!out.starts_with("//") && !out.starts_with("/\\"), "{out:?}");
                prop_assert!(!out.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\'), "{out:?}");
                prop_assert!(out.is_ascii());
                prop_assert!(HeaderValue::from_str(&out).is_ok());
            }
        }
    }
}
