//! Form widgets every context's pages use, so that a label, its hint and its error slot look
//! and behave the same everywhere (and `app.js` finds the same attributes).

use maud::{html, Markup};
use serde::Deserialize;

use super::{csrf_field, CsrfToken, Flash};
use crate::error::FieldErrors;

/// One labelled input (or textarea) with its hint and error slot. Build with
/// `Input { name, label, ..Default::default() }`.
#[derive(Default)]
pub struct Input<'a> {
    pub name: &'a str,
    /// The element id when it differs from `name` (several forms of one page with `amount`).
    pub id: Option<&'a str>,
    pub label: &'a str,
    /// `text` when empty; `textarea` for a textarea.
    pub kind: &'a str,
    pub value: &'a str,
    pub hint: Option<&'a str>,
    /// The error's key when it differs from `name` (e.g. `meeting_place.lat` for `lat`).
    pub error_key: Option<&'a str>,
    pub required: bool,
    pub minlength: Option<&'a str>,
    pub maxlength: Option<&'a str>,
    pub min: Option<&'a str>,
    pub max: Option<&'a str>,
    pub step: Option<&'a str>,
    pub pattern: Option<&'a str>,
    /// What `app.js` says when `pattern` does not match.
    pub pattern_message: Option<&'a str>,
    pub inputmode: Option<&'a str>,
    pub placeholder: Option<&'a str>,
    /// `off` when empty.
    pub autocomplete: &'a str,
    /// Another field this one must equal (`app.js` checks it live).
    pub must_match: Option<&'a str>,
    /// For ids and codes: no capitals, no spell checking.
    pub verbatim: bool,
}

pub fn input(i: Input<'_>, errors: &FieldErrors) -> Markup {
    let error = errors.get(i.error_key.unwrap_or(i.name));
    let kind = if i.kind.is_empty() { "text" } else { i.kind };
    let id = i.id.unwrap_or(i.name);
    let autocomplete = if i.autocomplete.is_empty() { "off" } else { i.autocomplete };
    html! {
        label.field.invalid[error.is_some()] {
            span.label { (i.label) }
            @if kind == "textarea" {
                textarea name=(i.name) id=(id) required[i.required] maxlength=[i.maxlength] placeholder=[i.placeholder]
                    aria-invalid=[error.map(|_| "true")] autofocus[error.is_some()] { (i.value) }
            } @else {
                input type=(kind) name=(i.name) id=(id) value=(i.value) required[i.required]
                    minlength=[i.minlength] maxlength=[i.maxlength] min=[i.min] max=[i.max] step=[i.step]
                    pattern=[i.pattern] data-pattern-message=[i.pattern_message] data-match=[i.must_match]
                    inputmode=[i.inputmode] placeholder=[i.placeholder] autocomplete=(autocomplete)
                    autocapitalize=[i.verbatim.then_some("none")] spellcheck=[i.verbatim.then_some("false")]
                    aria-invalid=[error.map(|_| "true")] autofocus[error.is_some()];
            }
            @if let Some(h) = i.hint { small.hint { (h) } }
            small.field-error { @if let Some(e) = error { (e) } }
        }
    }
}

/// A 동 chooser. Typing searches the 읍면동 (`GET /api/v1/places`) and offers a list; "현재 위치로
/// 찾기" resolves the browser's location (`GET /api/v1/places/reverse`) and marks the choice for
/// 동네 인증. Posts `place` (the text), `code` (the 동 picked), and `lat`, `lon`, `verify` when
/// the location was used. Without script the typed text alone is sent and matched on the server.
pub struct PlacePicker<'a> {
    /// Distinguishes the ids when a page has more than one.
    pub id: &'a str,
    pub label: &'a str,
    /// What the text field shows: the chosen 동's address, or what was typed.
    pub text: &'a str,
    pub code: &'a str,
    pub hint: Option<&'a str>,
    /// Where the error for this field is in `errors`.
    pub error_key: &'a str,
    /// Offer "현재 위치로 찾기" (동네 인증).
    pub locate: bool,
    /// A point already kept with the 동 (a deal's meeting point), sent back unchanged unless
    /// another 동 is picked.
    pub point: Option<(f64, f64)>,
}

pub fn place_picker(p: PlacePicker<'_>, errors: &FieldErrors) -> Markup {
    let error = errors.get(p.error_key);
    let list = format!("{}-options", p.id);
    html! {
        div.place-picker data-place-picker {
            // The list floats under the text field, over what follows, so nothing moves under
            // a finger while results arrive.
            div.place-field {
                label.field.invalid[error.is_some()] {
                    span.label { (p.label) }
                    input type="text" name="place" id=(p.id) value=(p.text) maxlength="50" autocomplete="off" spellcheck="false"
                        role="combobox" aria-autocomplete="list" aria-expanded="false" aria-controls=(list)
                        aria-describedby=(format!("{}-hint", p.id))
                        placeholder="동 이름으로 검색 (예: 역삼동)" aria-invalid=[error.map(|_| "true")] autofocus[error.is_some()];
                }
                ul.place-options id=(list) role="listbox" aria-label="동네 검색 결과" hidden {}
            }
            small.hint id=(format!("{}-hint", p.id)) { @if let Some(h) = p.hint { (h) } }
            small.field-error { @if let Some(e) = error { (e) } }
            input type="hidden" name="code" value=(p.code);
            input type="hidden" name="lat" value=(p.point.map(|(lat, _)| lat.to_string()).unwrap_or_default());
            input type="hidden" name="lon" value=(p.point.map(|(_, lon)| lon.to_string()).unwrap_or_default());
            input type="hidden" name="verify" value="";
            @if p.locate {
                button.secondary type="button" data-locate { "📍 현재 위치로 찾기" }
                small data-locate-status aria-live="polite" {}
            }
        }
    }
}

/// A notice (`저장했습니다`, or a refusal) where the user is looking.
pub fn flash(f: &Flash) -> Markup {
    html! {
        p.flash.(if f.ok { "flash-ok" } else { "flash-error" }) role=(if f.ok { "status" } else { "alert" }) { (f.text) }
    }
}

/// The body of a form that is only a button (log out, leave, revoke): its CSRF token.
#[derive(Deserialize)]
pub struct OnlyCsrf {
    pub csrf_token: String,
}

impl super::HasCsrfToken for OnlyCsrf {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// A form of one button posting to `action`.
pub fn button_form(csrf: &CsrfToken, action: &str, class: &str, label: &str, confirm: Option<&str>) -> Markup {
    html! {
        form method="post" action=(action) data-confirm=[confirm] {
            (csrf_field(csrf))
            button class=(class) type="submit" { (label) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_input_shows_its_error_and_keeps_its_value() {
        let errors = FieldErrors::from([("amount".to_owned(), "금액을 입력해 주세요.".to_owned())]);
        let html = input(Input { name: "amount", id: Some("charge-amount"), label: "금액", value: "12<", ..Default::default() }, &errors)
            .into_string();
        assert!(html.contains(r#"id="charge-amount""#) && html.contains(r#"value="12&lt;""#), "{html}");
        assert!(html.contains("금액을 입력해 주세요.") && html.contains(r#"aria-invalid="true""#), "{html}");
        let html = input(Input { name: "memo", label: "메모", ..Default::default() }, &FieldErrors::new()).into_string();
        assert!(!html.contains("aria-invalid") && html.contains(r#"autocomplete="off""#), "{html}");
    }
}
