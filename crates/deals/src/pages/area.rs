//! The home feed's neighbourhood: which 동 it is around, how far it reaches, and the controls to
//! change either. Signed in, it is the user's own neighbourhood and reach (chips save a new
//! reach); signed out, a 동 chosen on the page (`?code=`) with a reach in the address.

use gonggu_kernel::web::{csrf_field, place_picker, CsrfToken, PlacePicker};
use gonggu_places::Place;
use maud::{html, Markup};

use crate::{service::REACHES_KM, store::Homes};

/// Where the feed is, once the request and the viewer are read.
#[derive(Clone)]
pub(super) struct Area {
    /// The 동 it is around (unknown for a home abroad).
    pub place: Option<&'static Place>,
    /// The point distances are measured from (the 동's centre, or the saved home).
    pub from: (f64, f64),
    /// Km around it, or the whole country.
    pub reach_km: Option<i64>,
    /// Whether it is the viewer's own neighbourhood (saved) or one chosen on the page.
    pub own: bool,
    /// The name of the viewer's second neighbourhood, to switch to from the bar.
    pub second: Option<String>,
}

/// `reach` from the address: a km of [`REACHES_KM`], `all` (the whole country), or unset.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum ReachChoice {
    Unset,
    All,
    Km(i64),
}

impl ReachChoice {
    pub fn parse(raw: Option<&str>) -> Result<Self, String> {
        match raw.map(str::trim).filter(|r| !r.is_empty()) {
            None => Ok(Self::Unset),
            Some("all") => Ok(Self::All),
            Some(r) => match r.parse::<i64>() {
                Ok(km) if REACHES_KM.contains(&km) => Ok(Self::Km(km)),
                _ => Err("동네 범위는 1, 3, 5, 10km 또는 전국 중에서 골라 주세요.".into()),
            },
        }
    }

    pub fn as_param(self) -> Option<String> {
        match self {
            Self::Unset => None,
            Self::All => Some("all".into()),
            Self::Km(km) => Some(km.to_string()),
        }
    }
}

pub(super) const DEFAULT_REACH_KM: i64 = 5;

impl Area {
    /// The viewer's saved neighbourhood, unless the address names another 동.
    pub fn resolve(code: Option<&'static Place>, homes: Option<&Homes>, reach: ReachChoice) -> Option<Area> {
        let (place, from, saved_km, own) = match (code, homes) {
            (Some(p), _) => (Some(p), (p.lat, p.lon), DEFAULT_REACH_KM, None),
            (None, Some(h)) => (gonggu_places::reverse(h.home.lat, h.home.lon).ok(), (h.home.lat, h.home.lon), h.home.reach_km, Some(h)),
            (None, None) => return None,
        };
        let reach_km = match reach {
            ReachChoice::All => None,
            ReachChoice::Km(km) => Some(km),
            ReachChoice::Unset => Some(saved_km),
        };
        Some(Area { place, from, reach_km, own: own.is_some(), second: own.and_then(|h| h.second_name.clone()) })
    }
}

fn reach_label(km: Option<i64>) -> String {
    km.map_or("전국".into(), |km| format!("{km}km"))
}

/// The bar over the feed: "📍 역삼동 · 5km 이내" with the reach chips, or the prompt to choose a 동.
/// `href(reach)` is this page's address with another reach (and the other filters kept).
pub(super) fn area_bar(area: Option<&Area>, signed_in: bool, csrf: &CsrfToken, href: &dyn Fn(ReachChoice) -> String) -> Markup {
    let Some(a) = area else {
        return html! {
            section.card.area-prompt {
                h2 { "우리 동네를 골라 보세요" }
                p.muted { "고른 동네 가까이에서 열린 공구만 모아 보여 드려요. 지금은 전국의 공구가 보여요." }
                @if signed_in {
                    a.button.primary href="/me#neighborhood" { "우리 동네 설정하기" }
                } @else {
                    form.stack method="get" action="/" {
                        (place_picker(PlacePicker { id: "area-place", label: "동네 찾기", text: "", code: "", hint: None, error_key: "place", locate: true, point: None },
                            &Default::default()))
                        button.primary type="submit" { "이 동네 공구 보기" }
                    }
                }
            }
        };
    };
    let name = a.place.map_or("우리 동네", |p| p.name);
    html! {
        section.area-bar aria-label="동네 범위" {
            // A div, not a p: a p cannot hold the 동 menu (details), the parser would close it early.
            div.area-where {
                span aria-hidden="true" { "📍 " }
                @if let Some(other) = a.second.as_deref().filter(|_| a.own && signed_in) {
                    // "역삼동 ▾": the other neighbourhood, one tap away.
                    details.area-switch {
                        summary { strong { (name) } " ▾" }
                        div.area-menu {
                            form method="post" action="/me/neighborhood/switch" {
                                (csrf_field(csrf))
                                input type="hidden" name="next" value=(href(ReachChoice::Unset));
                                button.link-button type="submit" { (other) "으로 바꾸기" }
                            }
                            a href="/me#neighborhood" { "동네 설정" }
                        }
                    }
                } @else {
                    strong { (name) }
                }
                // A leading space would be dropped at the start of a flex item: a no-break space.
                span.muted { "\u{a0}· " @if let Some(km) = a.reach_km { (km) "km 이내" } @else { "전국" } }
                @if a.own { a.area-change href="/me#neighborhood" { "동네 바꾸기" } } @else { a.area-change href="/" { "다른 동네" } }
            }
            ul.chips.reach-chips {
                @for km in REACHES_KM {
                    li {
                        @if a.own && signed_in {
                            // Saves the reach: the feed, search and keyword alerts all use it.
                            form method="post" action="/me/neighborhood/reach" {
                                (csrf_field(csrf))
                                input type="hidden" name="km" value=(km);
                                // Back to the feed at the new reach at once (the saved one reaches deals
                                // through an event, a moment later).
                                input type="hidden" name="next" value=(href(ReachChoice::Km(km)));
                                button.chip.chip-on[a.reach_km == Some(km)] type="submit" aria-pressed=(a.reach_km == Some(km)) { (reach_label(Some(km))) }
                            }
                        } @else {
                            a.chip.chip-on[a.reach_km == Some(km)] href=(href(ReachChoice::Km(km))) aria-current=[(a.reach_km == Some(km)).then_some("true")] { (reach_label(Some(km))) }
                        }
                    }
                }
                li { a.chip.chip-on[a.reach_km.is_none()] href=(href(ReachChoice::All)) aria-current=[a.reach_km.is_none().then_some("true")] { "전국" } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reach_choices() {
        assert_eq!(ReachChoice::parse(None), Ok(ReachChoice::Unset));
        assert_eq!(ReachChoice::parse(Some("3")), Ok(ReachChoice::Km(3)));
        assert_eq!(ReachChoice::parse(Some("all")), Ok(ReachChoice::All));
        assert!(ReachChoice::parse(Some("7")).is_err());
        let home =
            Homes { home: crate::store::Home { lat: 37.500_11, lon: 127.038_52, reach_km: 3 }, second_name: Some("망원동".into()) };
        let home = &home;
        let a = Area::resolve(None, Some(home), ReachChoice::Unset).unwrap();
        assert_eq!(a.second.as_deref(), Some("망원동"));
        assert_eq!((a.place.map(|p| p.name), a.reach_km, a.own), (Some("역삼동"), Some(3), true));
        assert_eq!(Area::resolve(None, Some(home), ReachChoice::All).unwrap().reach_km, None);
        let mangwon = gonggu_places::get("11440123");
        let a = Area::resolve(mangwon, Some(home), ReachChoice::Km(10)).unwrap();
        assert_eq!((a.place.map(|p| p.name), a.reach_km, a.own), (Some("망원동"), Some(10), false));
        assert_eq!(a.second, None, "a 동 chosen on the page offers no switch");
        assert!(Area::resolve(None, None, ReachChoice::Km(3)).is_none());
    }
}
