//! Creating and editing a deal: one form for both, read field by field so every problem is
//! named next to its field.

use std::sync::Arc;

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Extension,
};
use chrono::{DateTime, Duration, Utc};
use gonggu_kernel::{
    auth::AuthUser,
    error::FieldErrors,
    once::{self, OnceTokens},
    web::{
        csrf_field, error_status, format_kst, input, kst_input, layout, parse_kst_input, place_picker, split_error, won, CsrfMultipart,
        CsrfToken, Flash, Input, MultipartFiles, Page, PageError, PlacePicker, Tab, WebUser,
    },
    ApiError,
};
use maud::{html, Markup};
use serde::Deserialize;

use super::{actions::back_href, claim_once, deal_href, done_once, failure_page, not_found_page, parse_id, parse_int, split_keywords};
use crate::{
    domain::{DealPatch, MeetingPlace, NewDealInput, CATEGORIES, UNITS},
    money,
    service::DealView,
    Deals,
};

/// Five 5 MB photos plus the text fields.
pub(super) const PHOTO_FORM_LIMIT: usize = 5 * 5 * 1024 * 1024 + 256 * 1024;

impl MultipartFiles for DealForm {
    const FILE_FIELD: &'static str = "photos";
}

gonggu_kernel::csrf_forms!(DealForm);

fn select(name: &str, label: &str, options: &[(String, String)], value: &str, placeholder: Option<&str>, errors: &FieldErrors) -> Markup {
    let error = errors.get(name);
    html! {
        label.field.invalid[error.is_some()] {
            span.label { (label) }
            select name=(name) id=(name) required aria-invalid=[error.map(|_| "true")] autofocus[error.is_some()] {
                @if let Some(p) = placeholder { option value="" { (p) } }
                @for (v, text) in options { option value=(v) selected[v == value] { (text) } }
            }
            small.field-error { @if let Some(e) = error { (e) } }
        }
    }
}

/// The create and edit form as typed: text, so that a blank or odd value becomes a message by
/// the field instead of a rejected request. The meeting place is a `name` and the place
/// picker's fields (`place`, `code`, `lat`, `lon`; see `widgets::place_picker`).
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub(super) struct DealForm {
    csrf_token: String,
    title: String,
    description: String,
    category_id: String,
    product_url: String,
    total_price: String,
    shares_total: String,
    min_shares: String,
    host_shares: String,
    items_per_share: String,
    unit: String,
    deadline: String,
    name: String,
    place: String,
    code: String,
    lat: String,
    lon: String,
    keywords: String,
    /// Photos already stored (comma-separated keys), kept across a form that failed validation.
    image_keys: String,
    /// "on" to remove the deal's photos when editing.
    remove_photos: String,
    /// The one-time token (`gonggu_kernel::once`), kept when the form comes back with errors.
    once: String,
}

fn kept_keys(raw: &str) -> Vec<String> {
    raw.split(',').map(str::trim).filter(|k| !k.is_empty()).map(str::to_owned).collect()
}

/// The meeting place: a name and the 동 it is in — a point (located, or kept from before), a
/// 동 picked from the list (its centre), or one typed without script. All blank means none; a
/// name without a 동 is a question back.
fn parse_place(f: &DealForm, errors: &mut FieldErrors) -> Option<MeetingPlace> {
    let blank = |v: &str| v.trim().is_empty();
    if [&f.name, &f.place, &f.code, &f.lat, &f.lon].iter().all(|v| blank(v)) {
        return None;
    }
    let number = |v: &str| v.trim().parse::<f64>().ok();
    let mut refuse = |m: String| {
        errors.insert("meeting_place.place".into(), m);
        None
    };
    let (lat, lon, dong) = match (number(&f.lat), number(&f.lon)) {
        (Some(lat), Some(lon)) => (lat, lon, gonggu_places::reverse(lat, lon).ok()),
        _ if !blank(&f.code) => match gonggu_places::get(f.code.trim()) {
            Some(p) => (p.lat, p.lon, Some(p)),
            None => return refuse("알 수 없는 동네입니다. 목록에서 골라 주세요.".into()),
        },
        _ if !blank(&f.place) => match gonggu_places::pick(&f.place) {
            Ok(p) => (p.lat, p.lon, Some(p)),
            Err(e) => return refuse(e.to_string()),
        },
        _ => return refuse("만날 동네를 검색해서 골라 주세요.".into()),
    };
    let name = if blank(&f.name) { dong.map_or("", |p| p.name) } else { f.name.trim() };
    Some(MeetingPlace::at(name, lat, lon))
}

/// The errors of the meeting place as its two fields show them: the name's, and the rest under
/// the place picker.
fn place_errors(e: &FieldErrors) -> FieldErrors {
    let mut out = e.clone();
    for key in ["meeting_place.lat", "meeting_place.lon"] {
        if let Some(m) = out.remove(key) {
            out.entry("meeting_place.place".into()).or_insert(m);
        }
    }
    out
}

/// Reads the create form into the API's input; messages for what could not be read at all.
fn read_new_deal(f: &DealForm, now: DateTime<Utc>) -> (NewDealInput, FieldErrors) {
    let mut errors = FieldErrors::new();
    let number = |field: &str, raw: &str, optional: bool, errors: &mut FieldErrors| -> Option<i64> {
        if optional && raw.trim().is_empty() {
            return None;
        }
        let n = parse_int(raw);
        if n.is_none() {
            errors.insert(field.into(), if raw.trim().is_empty() { "숫자를 입력해 주세요." } else { "숫자만 입력해 주세요." }.into());
        }
        n
    };
    let total_price = number("total_price", &f.total_price, false, &mut errors).unwrap_or(0);
    let shares_total = number("shares_total", &f.shares_total, false, &mut errors).unwrap_or(0);
    let min_shares = number("min_shares", &f.min_shares, true, &mut errors);
    let host_shares = number("host_shares", &f.host_shares, true, &mut errors);
    let items_per_share = number("items_per_share", &f.items_per_share, false, &mut errors).unwrap_or(0);
    let deadline = parse_kst_input(&f.deadline).unwrap_or_else(|| {
        errors.insert("deadline".into(), "마감 날짜와 시간을 골라 주세요.".into());
        now
    });
    let meeting_place = parse_place(f, &mut errors);
    let input = NewDealInput {
        title: f.title.clone(),
        description: f.description.clone(),
        category_id: parse_int(&f.category_id).unwrap_or(0),
        product_url: Some(f.product_url.clone()).filter(|u| !u.trim().is_empty()),
        total_price,
        shares_total,
        min_shares,
        host_shares,
        items_per_share,
        unit: f.unit.clone(),
        deadline,
        meeting_place,
        keywords: split_keywords(&f.keywords),
        image_keys: vec![],
    };
    // Every rule at once: what could not be read keeps its own message.
    if let Err(rules) = input.parse(now) {
        for (k, v) in rules {
            errors.entry(k).or_insert(v);
        }
    }
    (input, errors)
}

enum FormMode<'a> {
    Create,
    /// `locked`: someone else joined, so title, price, shares and deadline stay as they are.
    Edit {
        deal: &'a DealView,
        locked: bool,
    },
}

fn deal_form_view(
    csrf: &CsrfToken,
    user: &AuthUser,
    mode: FormMode<'_>,
    v: &DealForm,
    errors: &FieldErrors,
    flash: Option<Flash>,
    show_per_share: bool,
) -> Markup {
    let e = errors;
    let (title, action, page, submit, busy, tab) = match &mode {
        FormMode::Create => {
            ("공구 등록".to_owned(), "/deals".to_owned(), "/deals/new".to_owned(), "공구 등록하기", "등록하는 중…", Tab::NewDeal)
        }
        FormMode::Edit { deal, .. } => {
            let edit = format!("/deals/{}/edit", deal.id);
            ("공구 수정".to_owned(), edit.clone(), edit, "수정 내용 저장", "저장하는 중…", Tab::Deals)
        }
    };
    let locked = matches!(mode, FormMode::Edit { locked: true, .. });
    let categories: Vec<(String, String)> = CATEGORIES.iter().enumerate().map(|(i, n)| ((i + 1).to_string(), (*n).to_owned())).collect();
    let units: Vec<(String, String)> = UNITS.iter().map(|u| ((*u).to_owned(), (*u).to_owned())).collect();
    let per_share = match (parse_int(&v.total_price), parse_int(&v.shares_total)) {
        (Some(t), Some(n)) if show_per_share && t > 0 && (1..=100).contains(&n) => Some(money::share_price(t, n as u32)),
        _ => None,
    };
    layout(
        Page { title: &title, tab, user: Some(user), flash },
        html! {
            h1.page-title { (title) }
            @if let FormMode::Edit { deal, .. } = &mode {
                p { a href=(deal_href(deal.id)) { "← " (deal.title) } }
            }
            section.card {
                // `data-draft`: app.js keeps the typed text in this tab when it is sent, so a post
                // refused because the session had ended comes back filled in after login.
                form.stack method="post" action=(action) enctype="multipart/form-data" data-validate novalidate
                    data-draft=(user.login_id) data-draft-page=(page) {
                    (csrf_field(csrf))
                    (once::field(&v.once))
                    input type="hidden" name="image_keys" value=(v.image_keys);
                    @if let FormMode::Edit { deal, locked: true } = &mode {
                        fieldset.stack {
                            legend { "바꿀 수 없는 항목" }
                            p.hint { "다른 이웃이 참여해서 제목, 가격, 몫, 마감 시간은 바꿀 수 없어요." }
                            dl.summary {
                                dt { "제목" } dd { (deal.title) }
                                dt { "카테고리" } dd { (deal.category.name) }
                                dt { "총 금액" } dd { (won(deal.total_price)) }
                                dt { "나눌 몫" } dd { (deal.shares_total) "몫 (최소 " (deal.min_shares) "몫)" }
                                dt { "한 몫" } dd { (deal.items_per_share) (deal.unit) }
                                dt { "마감" } dd { (format_kst(deal.deadline)) }
                                @if let Some(u) = &deal.product_url { dt { "상품 링크" } dd { (u) } }
                            }
                        }
                    }
                    @if !locked {
                        fieldset.stack {
                            legend { "상품" }
                            (input(Input { name: "title", label: "제목", value: &v.title, required: true, minlength: Some("2"), maxlength: Some("60"), placeholder: Some("예: 코스트코 휴지 30롤 나눠요"), ..Default::default() }, e))
                            (select("category_id", "카테고리", &categories, &v.category_id, Some("카테고리를 고르세요"), e))
                            (input(Input { name: "product_url", label: "상품 링크 (선택)", kind: "url", value: &v.product_url, maxlength: Some("2000"), placeholder: Some("https://"), inputmode: Some("url"), ..Default::default() }, e))
                        }
                        fieldset.stack {
                            legend { "가격과 몫" }
                            div.row.row-top {
                                (input(Input { name: "total_price", label: "총 금액 (원)", kind: "number", value: &v.total_price, required: true, min: Some("100"), max: Some("10000000"), step: Some("1"), inputmode: Some("numeric"), ..Default::default() }, e))
                                (input(Input { name: "shares_total", label: "나눌 몫", kind: "number", value: &v.shares_total, required: true, min: Some("2"), max: Some("100"), step: Some("1"), inputmode: Some("numeric"), ..Default::default() }, e))
                            }
                            @if let Some(p) = per_share {
                                p.hint id="per-share" { "1인당 약 " strong { (won(p)) } }
                            }
                            div.row.row-top {
                                (input(Input { name: "min_shares", label: "최소 몫 (확정 기준)", kind: "number", value: &v.min_shares, min: Some("2"), step: Some("1"), inputmode: Some("numeric"), placeholder: Some("전체"), hint: Some("비우면 모든 몫이 모여야 확정돼요."), ..Default::default() }, e))
                                @if matches!(mode, FormMode::Create) {
                                    (input(Input { name: "host_shares", label: "내가 가질 몫", kind: "number", value: &v.host_shares, min: Some("1"), step: Some("1"), inputmode: Some("numeric"), ..Default::default() }, e))
                                }
                            }
                            div.row.row-top {
                                (input(Input { name: "items_per_share", label: "한 몫의 수량", kind: "number", value: &v.items_per_share, required: true, min: Some("1"), max: Some("10000"), step: Some("1"), inputmode: Some("numeric"), ..Default::default() }, e))
                                (select("unit", "단위", &units, &v.unit, None, e))
                            }
                        }
                    }
                    fieldset.stack {
                        legend { "마감과 만날 장소" }
                        @if !locked {
                            (input(Input { name: "deadline", label: "마감 시간", kind: "datetime-local", value: &v.deadline, required: true, hint: Some("한국 시간 기준, 지금부터 1시간 뒤 ~ 14일 뒤"), ..Default::default() }, e))
                        }
                        (input(Input { name: "name", label: "만날 장소 (선택)", value: &v.name, error_key: Some("meeting_place.name"), maxlength: Some("50"), placeholder: Some("예: 역삼역 2번 출구"), ..Default::default() }, e))
                        @let point = v.lat.trim().parse::<f64>().ok().zip(v.lon.trim().parse::<f64>().ok());
                        (place_picker(PlacePicker { id: "meeting-place", label: "만날 동네", text: &v.place, code: &v.code, hint: Some("이웃이 동네로 공구를 찾아요. 검색하거나 현재 위치로 찾아 주세요."), error_key: "meeting_place.place", locate: true, point }, &place_errors(e)))
                    }
                    fieldset.stack {
                        legend { "설명" }
                        (input(Input { name: "description", label: "상품 설명 (선택)", kind: "textarea", value: &v.description, maxlength: Some("5000"), placeholder: Some("나눌 방법, 거래 시간 등을 적어 주세요."), ..Default::default() }, e))
                        (input(Input { name: "keywords", label: "키워드 (쉼표로 구분, 최대 10개)", value: &v.keywords, placeholder: Some("예: 휴지, 코스트코"), hint: Some("이 단어들로도 공구가 검색돼요."), ..Default::default() }, e))
                    }
                    fieldset.stack {
                        legend { "사진 (선택, 최대 5장)" }
                        @let kept = kept_keys(&v.image_keys);
                        @let current: Vec<String> = match &mode {
                            FormMode::Edit { deal, .. } if kept.is_empty() => deal.images.iter().map(|i| i.key.clone()).collect(),
                            _ => kept,
                        };
                        @if !current.is_empty() {
                            ul.photo-strip {
                                @for k in &current { li { img src=(crate::service::image_view(k).thumbnail_url) alt="올린 사진"; } }
                            }
                        }
                        label.field.invalid[e.contains_key("image_keys")] {
                            span.label { @if current.is_empty() { "사진 고르기" } @else { "새 사진으로 바꾸기" } }
                            input type="file" name="photos" accept="image/jpeg,image/png,image/webp,image/gif" multiple data-preview="photo-preview";
                            small.hint { "첫 사진이 대표 사진이 돼요. 한 장에 5MB까지, 위치 정보는 지워서 저장해요." }
                            small.field-error { @if let Some(m) = e.get("image_keys") { (m) } }
                        }
                        ul.photo-strip id="photo-preview" {}
                        @if matches!(mode, FormMode::Edit { .. }) && !current.is_empty() {
                            label.check { input type="checkbox" name="remove_photos" value="on"; " 사진 모두 지우기" }
                        }
                    }
                    button.primary.block type="submit" data-busy-label=(busy) { (submit) }
                }
            }
        },
    )
}

pub(super) async fn new_page(State(deals): State<Arc<Deals>>, WebUser(user): WebUser, csrf: CsrfToken) -> Response {
    // The host's own 동 to start from: most deals meet where their host lives.
    let home = deals.home_of(user.user_id).await.ok().flatten().and_then(|h| gonggu_places::reverse(h.lat, h.lon).ok());
    let v = DealForm {
        place: home.map(|p| p.address()).unwrap_or_default(),
        code: home.map(|p| p.code.to_string()).unwrap_or_default(),
        host_shares: "1".into(),
        items_per_share: "1".into(),
        unit: UNITS[0].into(),
        deadline: kst_input(deals.clock.now() + Duration::days(3)),
        once: once::issue(),
        ..Default::default()
    };
    deal_form_view(&csrf, &user, FormMode::Create, &v, &FieldErrors::new(), None, false).into_response()
}

/// Stores the photos of a form; their keys join the ones kept from an earlier attempt.
async fn form_photos(deals: &Deals, f: &mut DealForm, files: Vec<Vec<u8>>) -> Result<Option<Vec<String>>, ApiError> {
    if files.is_empty() {
        let kept = kept_keys(&f.image_keys);
        return Ok((!kept.is_empty()).then_some(kept));
    }
    let keys = deals.store_photos(files).await?;
    f.image_keys = keys.join(",");
    Ok(Some(keys))
}

pub(super) async fn create_submit(
    State(deals): State<Arc<Deals>>,
    Extension(tokens): Extension<Arc<OnceTokens>>,
    WebUser(user): WebUser,
    csrf: CsrfToken,
    CsrfMultipart { form: mut f, files }: CsrfMultipart<DealForm>,
) -> Response {
    // Before anything is stored: a repeat of this form leads to the deal it created.
    let ticket = match claim_once(&tokens, &user, &f.once).await {
        Ok(t) => t,
        Err(repeat) => return repeat,
    };
    let now = deals.clock.now();
    let photos = form_photos(&deals, &mut f, files).await;
    let (mut input, mut errors) = read_new_deal(&f, now);
    match photos {
        Ok(keys) => input.image_keys = keys.unwrap_or_default(),
        Err(e) => {
            errors.extend(split_error(&e, Some("입력한 내용을 확인해 주세요.")).0);
        }
    }
    if !errors.is_empty() {
        let flash = Some(Flash::error("입력한 내용을 확인해 주세요."));
        return (StatusCode::UNPROCESSABLE_ENTITY, deal_form_view(&csrf, &user, FormMode::Create, &f, &errors, flash, true))
            .into_response();
    }
    match deals.create(&user, input).await {
        Ok(d) => done_once(ticket, back_href(d.id, "created")).await,
        Err(e) if e.status.is_server_error() => failure_page(e),
        Err(e) => {
            let (errors, flash) = split_error(&e, Some("입력한 내용을 확인해 주세요."));
            (error_status(&e), deal_form_view(&csrf, &user, FormMode::Create, &f, &errors, flash, true)).into_response()
        }
    }
}

fn form_from_deal(d: &DealView) -> DealForm {
    DealForm {
        title: d.title.clone(),
        description: d.description.clone(),
        category_id: d.category.id.to_string(),
        product_url: d.product_url.clone().unwrap_or_default(),
        total_price: d.total_price.to_string(),
        shares_total: d.shares_total.to_string(),
        min_shares: d.min_shares.to_string(),
        items_per_share: d.items_per_share.to_string(),
        unit: d.unit.clone(),
        deadline: kst_input(d.deadline),
        name: d.meeting_place.as_ref().map(|p| p.name.clone()).unwrap_or_default(),
        place: d
            .meeting_place
            .as_ref()
            .and_then(|p| p.code.as_deref())
            .and_then(gonggu_places::get)
            .map(|p| p.address())
            .unwrap_or_default(),
        code: d.meeting_place.as_ref().and_then(|p| p.code.clone()).unwrap_or_default(),
        lat: d.meeting_place.as_ref().map(|p| p.lat.to_string()).unwrap_or_default(),
        lon: d.meeting_place.as_ref().map(|p| p.lon.to_string()).unwrap_or_default(),
        keywords: d.keywords.join(", "),
        once: once::issue(),
        ..Default::default()
    }
}

/// The deal and whether it is locked, for its host only; otherwise the page to answer with.
async fn editable(deals: &Deals, user: &AuthUser, raw_id: &str) -> Result<(DealView, bool), Response> {
    let Some(id) = parse_id(raw_id) else { return Err(not_found_page()) };
    let deal = deals.get(id).await.map_err(failure_page)?;
    if deal.host.login_id != user.login_id {
        return Err(PageError::new(StatusCode::FORBIDDEN, "수정할 수 없습니다", "공구를 연 사람만 수정할 수 있습니다.").into_response());
    }
    if !deal.status.is_open() {
        return Err(PageError::new(StatusCode::CONFLICT, "수정할 수 없습니다", "끝난 공구는 수정할 수 없습니다.").into_response());
    }
    let members = deals.members(id).await.map_err(failure_page)?;
    let locked = members.iter().any(|m| !m.is_host);
    Ok((deal, locked))
}

pub(super) async fn edit_page(
    State(deals): State<Arc<Deals>>,
    WebUser(user): WebUser,
    csrf: CsrfToken,
    Path(id): Path<String>,
) -> Response {
    match editable(&deals, &user, &id).await {
        Ok((deal, locked)) => {
            let v = form_from_deal(&deal);
            deal_form_view(&csrf, &user, FormMode::Edit { deal: &deal, locked }, &v, &FieldErrors::new(), None, false).into_response()
        }
        Err(res) => res,
    }
}

pub(super) async fn edit_submit(
    State(deals): State<Arc<Deals>>,
    Extension(tokens): Extension<Arc<OnceTokens>>,
    WebUser(user): WebUser,
    csrf: CsrfToken,
    Path(id): Path<String>,
    CsrfMultipart { form: mut f, files }: CsrfMultipart<DealForm>,
) -> Response {
    let ticket = match claim_once(&tokens, &user, &f.once).await {
        Ok(t) => t,
        Err(repeat) => return repeat,
    };
    let (deal, locked) = match editable(&deals, &user, &id).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let mut errors = FieldErrors::new();
    let image_keys = match form_photos(&deals, &mut f, files).await {
        Ok(Some(keys)) => Some(keys),
        Ok(None) if f.remove_photos == "on" => Some(vec![]),
        Ok(None) => None,
        Err(e) => {
            errors.extend(split_error(&e, Some("입력한 내용을 확인해 주세요.")).0);
            None
        }
    };
    let mut patch = DealPatch {
        description: Some(f.description.clone()),
        keywords: Some(split_keywords(&f.keywords)),
        // All three blank removes the place.
        meeting_place: Some(parse_place(&f, &mut errors)),
        image_keys,
        ..Default::default()
    };
    if !locked {
        let mut number = |field: &str, raw: &str| -> Option<i64> {
            let n = parse_int(raw);
            if n.is_none() {
                errors.insert(field.into(), "숫자를 입력해 주세요.".into());
            }
            n
        };
        patch.total_price = number("total_price", &f.total_price);
        patch.shares_total = number("shares_total", &f.shares_total);
        patch.items_per_share = number("items_per_share", &f.items_per_share);
        patch.min_shares = if f.min_shares.trim().is_empty() { patch.shares_total } else { number("min_shares", &f.min_shares) };
        patch.title = Some(f.title.clone());
        patch.category_id = Some(parse_int(&f.category_id).unwrap_or(0));
        patch.product_url = Some(f.product_url.trim().to_owned());
        patch.unit = Some(f.unit.clone());
        // Unchanged text keeps the exact stored instant (the input shows minutes only).
        if f.deadline.trim() != kst_input(deal.deadline) {
            match parse_kst_input(&f.deadline) {
                Some(t) => patch.deadline = Some(t),
                None => {
                    errors.insert("deadline".into(), "마감 날짜와 시간을 골라 주세요.".into());
                }
            }
        }
    }
    let result = if errors.is_empty() { deals.update(&user, deal.id, patch).await } else { Err(ApiError::validation(errors)) };
    match result {
        Ok(d) => done_once(ticket, back_href(d.id, "updated")).await,
        Err(e) if e.status.is_server_error() || e.code == "deal_not_found" => failure_page(e),
        Err(e) => {
            let (errors, flash) = split_error(&e, Some("입력한 내용을 확인해 주세요."));
            let show = FormMode::Edit { deal: &deal, locked: locked || e.code == "deal_locked" };
            (error_status(&e), deal_form_view(&csrf, &user, show, &f, &errors, flash, true)).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn create_form_reads_every_field_and_names_problems() {
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap();
        let form = DealForm {
            title: "코스트코 휴지 30롤".into(),
            category_id: "4".into(),
            total_price: "25,990".into(),
            shares_total: "3".into(),
            host_shares: "1".into(),
            items_per_share: "10".into(),
            unit: "개".into(),
            deadline: "2026-11-28T18:00".into(),
            name: "역삼역".into(),
            lat: "37.5".into(),
            lon: "127.03".into(),
            keywords: "휴지, 코스트코".into(),
            ..Default::default()
        };
        let (input, errors) = read_new_deal(&form, now);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!((input.total_price, input.min_shares, input.host_shares), (25_990, None, Some(1)));
        assert_eq!(input.deadline, Utc.with_ymd_and_hms(2026, 11, 28, 9, 0, 0).unwrap());
        assert_eq!(input.keywords, ["휴지", "코스트코"]);
        let bad = DealForm { total_price: "많이".into(), min_shares: "4".into(), lat: "".into(), category_id: "".into(), ..form.clone() };
        let (_, errors) = read_new_deal(&bad, now);
        for key in ["total_price", "min_shares", "meeting_place.place", "category_id"] {
            assert!(errors.contains_key(key), "{key}: {errors:?}");
        }
        assert_eq!(errors["total_price"], "숫자만 입력해 주세요.");
        assert_eq!(errors["meeting_place.place"], "만날 동네를 검색해서 골라 주세요.", "a name without a 동");
        // A 동 picked from the list: its centre, named after it unless a name is given.
        let picked = DealForm { name: "".into(), lat: "".into(), lon: "".into(), code: "11680101".into(), ..form.clone() };
        let (input, errors) = read_new_deal(&picked, now);
        assert!(errors.is_empty(), "{errors:?}");
        let mp = input.meeting_place.expect("a place");
        assert_eq!((mp.name.as_str(), mp.code.as_deref(), mp.dong.as_deref()), ("역삼동", Some("11680101"), Some("역삼동")));
        // Typed whole without script; or ambiguous.
        let typed = DealForm { lat: "".into(), lon: "".into(), place: "서울특별시 마포구 망원동".into(), ..form.clone() };
        assert_eq!(read_new_deal(&typed, now).0.meeting_place.and_then(|p| p.code), Some("11440123".into()));
        let vague = DealForm { lat: "".into(), lon: "".into(), place: "중앙동".into(), ..form };
        assert!(read_new_deal(&vague, now).1["meeting_place.place"].contains("여럿"));
    }
}
