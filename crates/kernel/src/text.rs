//! Characters no user text may hold. A NUL cannot be stored in PostgreSQL text (and would be
//! kept on SQLite), and bidi controls make a memo read differently from what it says
//! (`U+202E` turns "gpj.exe" around). The extractors refuse them centrally, so no context has
//! to remember.

use crate::error::ApiError;

/// C0 controls other than tab, newline and carriage return; DEL; C1 controls; the bidi
/// embedding, override and isolate controls and the directional marks.
pub fn forbidden_char(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

pub fn has_forbidden_chars(s: &str) -> bool {
    s.chars().any(forbidden_char)
}

/// The 422 for a text holding such characters, naming the field when known.
pub fn invalid_characters(field: &str) -> ApiError {
    let message = "입력에 쓸 수 없는 문자(제어 문자나 방향 제어 문자)가 들어 있습니다.";
    ApiError::field(field, message).with_code("invalid_characters")
}

/// The path (`items[2].name`) of the first string or key in a JSON value that holds such
/// characters.
pub fn find_in_json(value: &serde_json::Value) -> Option<String> {
    fn walk(v: &serde_json::Value, path: &mut String) -> bool {
        match v {
            serde_json::Value::String(s) => has_forbidden_chars(s),
            serde_json::Value::Array(items) => items.iter().enumerate().any(|(i, item)| {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                let found = walk(item, path);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            serde_json::Value::Object(map) => map.iter().any(|(k, item)| {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                let found = has_forbidden_chars(k) || walk(item, path);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            _ => false,
        }
    }
    let mut path = String::new();
    walk(value, &mut path).then(|| if path.is_empty() { "body".to_owned() } else { path })
}

/// The name of the first `name=value` pair whose name or value holds such characters.
pub fn find_in_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<String> {
    pairs.into_iter().find(|(k, v)| has_forbidden_chars(k) || has_forbidden_chars(v)).map(|(k, _)| {
        if has_forbidden_chars(k) {
            "query".to_owned()
        } else {
            k.to_owned()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn which_characters() {
        for bad in [
            '\0', '\u{1}', '\u{b}', '\u{1b}', '\u{7f}', '\u{85}', '\u{9f}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202e}', '\u{2066}',
            '\u{2069}',
        ] {
            assert!(forbidden_char(bad), "{:x}", bad as u32);
        }
        for ok in ['\t', '\n', '\r', ' ', 'a', '휴', '😀', '\u{200d}', '\u{a0}'] {
            assert!(!forbidden_char(ok), "{:x}", ok as u32);
        }
    }

    #[test]
    fn json_paths_name_the_field() {
        assert_eq!(find_in_json(&json!({"memo": "ok", "items": [{"name": "a"}, {"name": "x\u{202e}"}]})).as_deref(), Some("items[1].name"));
        assert_eq!(find_in_json(&json!({"title": "휴지\u{0}"})).as_deref(), Some("title"));
        assert_eq!(find_in_json(&json!("\u{7f}")).as_deref(), Some("body"));
        assert_eq!(find_in_json(&json!({"a": [1, 2, "줄\n바꿈\t탭"]})), None);
    }
}
