//! Accounts' value types. Each is parsed once at the edge ("parse, don't validate"); past that
//! point the type itself is the proof that the value is well-formed.

use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// A rule violation on one input, in Korean for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub &'static str);

/// 3–20 of `[a-z0-9_]`; upper case is folded so that `Alice` and `alice` are one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct LoginId(String);

impl LoginId {
    pub const RULE: &'static str = "아이디는 영어 소문자, 숫자, 밑줄(_)로 3~20자여야 합니다.";

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim().to_ascii_lowercase();
        let ok = (3..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(Self(s))
        } else {
            Err(Invalid(Self::RULE))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A deliverable-looking address, stored lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Email(String);

impl Email {
    pub const RULE: &'static str = "이메일 형식이 올바르지 않습니다.";

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        static RE: OnceLock<Regex> = OnceLock::new();
        let re = RE.get_or_init(|| {
            Regex::new(
                r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$",
            )
            .expect("email regex")
        });
        let s = raw.trim().to_lowercase();
        if s.len() <= 254 && re.is_match(&s) {
            Ok(Self(s))
        } else {
            Err(Invalid(Self::RULE))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 8–128 characters, any characters, no composition rules, not one of the most common passwords.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Password {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let n = raw.chars().count();
        if n < 8 {
            return Err(Invalid("비밀번호는 8자 이상이어야 합니다."));
        }
        if n > 128 {
            return Err(Invalid("비밀번호는 128자 이하여야 합니다."));
        }
        if is_common_password(raw) || is_trivial_pattern(raw) {
            return Err(Invalid(COMMON));
        }
        Ok(Self(raw.to_owned()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

const COMMON: &str = "너무 흔한 비밀번호입니다. 다른 비밀번호를 사용해 주세요.";

/// zxcvbn's ranked list of the 30,000 most used passwords (plus earlier NordPass/SecLists picks),
/// embedded as a generated file rather than taken from the crate: the crate keeps its lists
/// private, and its scoring would bring composition-like judgements we do not want.
static COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

pub fn is_common_password(candidate: &str) -> bool {
    static SET: OnceLock<std::collections::HashSet<&'static str>> = OnceLock::new();
    let set = SET.get_or_init(|| COMMON_PASSWORDS.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect());
    set.contains(candidate.to_lowercase().as_str())
}

/// NIST SP 800-63B's "repetitive or sequential characters": one short unit repeated
/// (`aaaaaaaa`, `abcabcabc`) or one run up or down (`abcdefgh`, `87654321`). Lists miss these
/// because every length is a new entry.
fn is_trivial_pattern(candidate: &str) -> bool {
    let c: Vec<char> = candidate.to_lowercase().chars().collect();
    let repeated = (1..=4).any(|unit| c.len() > unit && c.len().is_multiple_of(unit) && c.chunks(unit).all(|ch| ch == &c[..unit]));
    let run = |step: i64| c.windows(2).all(|w| i64::from(u32::from(w[1])) - i64::from(u32::from(w[0])) == step);
    repeated || run(1) || run(-1)
}

/// Interest keywords: at most 20, each trimmed to 1–20 characters, duplicates removed
/// case-insensitively (the first spelling wins).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Keywords(Vec<String>);

impl Keywords {
    pub const MAX: usize = 20;
    pub const MAX_LEN: usize = 20;

    pub fn parse<S: AsRef<str>>(raw: &[S]) -> Result<Self, Invalid> {
        let mut out: Vec<String> = Vec::new();
        for k in raw {
            let k = k.as_ref().trim();
            let len = k.chars().count();
            if len == 0 || len > Self::MAX_LEN {
                return Err(Invalid("키워드는 1~20자여야 합니다."));
            }
            if k.chars().any(char::is_control) {
                return Err(Invalid("키워드에 사용할 수 없는 문자가 있습니다."));
            }
            let folded = k.to_lowercase();
            if !out.iter().any(|e| e.to_lowercase() == folded) {
                out.push(k.to_owned());
            }
        }
        if out.len() > Self::MAX {
            return Err(Invalid("키워드는 최대 20개까지 등록할 수 있습니다."));
        }
        Ok(Self(out))
    }
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

/// Where the user lives: a name, an approximate position, the 읍면동 it lies in and when
/// 동네 인증 (the phone's location) last put the user there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Neighborhood {
    pub name: String,
    pub lat: f64,
    pub lon: f64,
    /// 법정동 code of the 읍면동 (`GET /api/v1/places`); absent only for neighbourhoods set
    /// before places existed.
    #[serde(default)]
    #[schema(pattern = "^[0-9]{8}$", example = "11680101")]
    pub code: Option<String>,
    /// When 동네 인증 last found the user here; it holds for [`VERIFIED_FOR`].
    #[serde(default)]
    pub verified_at: Option<chrono::DateTime<chrono::Utc>>,
    /// How far (km) the home feed and keyword alerts reach from here: one of [`REACHES_KM`].
    #[serde(default = "default_reach")]
    #[schema(example = 5)]
    pub reach_km: i64,
}

/// The reaches a user may choose (가까운 동네 … 먼 동네), in km.
pub const REACHES_KM: [i64; 4] = [1, 3, 5, 10];
pub const DEFAULT_REACH_KM: i64 = 5;

fn default_reach() -> i64 {
    DEFAULT_REACH_KM
}

/// One of [`REACHES_KM`].
pub fn parse_reach(km: i64) -> Result<i64, Invalid> {
    REACHES_KM.contains(&km).then_some(km).ok_or(Invalid("동네 범위는 1, 3, 5, 10km 중 하나입니다."))
}

/// How long a 동네 인증 holds before it must be done again.
pub const VERIFIED_FOR: chrono::Duration = chrono::Duration::days(30);

impl Neighborhood {
    pub fn parse(name: &str, lat: f64, lon: f64) -> Result<Self, (&'static str, Invalid)> {
        let name = name.trim();
        let n = name.chars().count();
        if n == 0 || n > 30 || name.chars().any(char::is_control) {
            return Err(("name", Invalid("동네 이름은 1~30자여야 합니다.")));
        }
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(("lat", Invalid("위도는 -90 이상 90 이하여야 합니다.")));
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err(("lon", Invalid("경도는 -180 이상 180 이하여야 합니다.")));
        }
        Ok(Self { name: name.to_owned(), lat, lon, code: None, verified_at: None, reach_km: DEFAULT_REACH_KM })
    }

    /// The 읍면동 with this code, at its centre, named after it unless `name` is given.
    pub fn at_place(code: &str, name: Option<&str>) -> Result<Self, (&'static str, Invalid)> {
        let place = gonggu_places::get(code).ok_or(("code", Invalid("알 수 없는 동네입니다. 목록에서 골라 주세요.")))?;
        let mut n = Self::parse(name.filter(|n| !n.trim().is_empty()).unwrap_or(place.name), place.lat, place.lon)?;
        n.code = Some(place.code.to_string());
        Ok(n)
    }

    /// The 읍면동 the point lies in; the point is kept as the neighbourhood's position.
    pub fn at_point(lat: f64, lon: f64, name: Option<&str>) -> Result<Self, (&'static str, Invalid)> {
        Self::parse("-", lat, lon)?;
        let place = gonggu_places::reverse(lat, lon).map_err(|_| ("lat", Invalid("대한민국 안의 위치가 아닙니다.")))?;
        let mut n = Self::parse(name.filter(|n| !n.trim().is_empty()).unwrap_or(place.name), lat, lon)?;
        n.code = Some(place.code.to_string());
        Ok(n)
    }

    /// 동네 인증: the 읍면동 the phone is in, verified `now`. Only the 동's centre is kept, never
    /// where the phone was.
    pub fn verified_at_point(lat: f64, lon: f64, now: chrono::DateTime<chrono::Utc>) -> Result<Self, (&'static str, Invalid)> {
        let here = Self::at_point(lat, lon, None)?;
        let mut n = Self::at_place(here.code.as_deref().unwrap_or_default(), None)?;
        // Whole milliseconds: both engines keep that exactly (PostgreSQL drops nanoseconds).
        n.verified_at = Some(chrono::SubsecRound::trunc_subsecs(now, 3));
        Ok(n)
    }

    /// "서울특별시 강남구 역삼동" when the 읍면동 is known.
    pub fn address(&self) -> Option<String> {
        self.code.as_deref().and_then(gonggu_places::get).map(|p| p.address())
    }

    /// Whether 동네 인증 still holds at `now`.
    pub fn verified(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        self.verified_at.is_some_and(|at| now < at + VERIFIED_FOR)
    }
}

/// A six-digit one-time code as typed by the user.
#[derive(Clone, PartialEq, Eq)]
pub struct OneTimeCode(String);

impl OneTimeCode {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s: String = raw.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
        if s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s))
        } else {
            Err(Invalid("인증 코드는 숫자 6자리입니다."))
        }
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
    fn login_id_rules() {
        assert_eq!(LoginId::parse(" Alice_01 ").unwrap().as_str(), "alice_01");
        for bad in ["ab", "a-b-c", "한글아이디", "abcdefghijklmnopqrstu", "a b c", ""] {
            assert!(LoginId::parse(bad).is_err(), "{bad}");
        }
        assert!(LoginId::parse("abc").is_ok());
        assert!(LoginId::parse("abcdefghijklmnopqrst").is_ok());
    }

    #[test]
    fn email_rules() {
        assert_eq!(Email::parse(" Kim@Example.COM ").unwrap().as_str(), "kim@example.com");
        for bad in ["kim", "kim@", "@example.com", "kim@example", "kim @example.com", "kim@exa mple.com", "kim@@example.com"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn password_rules() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        let varied: String = (0..128u32).map(|i| char::from(b'a' + (i * 7 % 26) as u8)).collect();
        assert!(Password::parse(&varied).is_ok());
        assert!(Password::parse("password").is_err());
        assert!(Password::parse("PassWord1").is_err());
        assert!(Password::parse("12345678").is_err());
        assert!(Password::parse("코스트코에서만나요").is_ok());
        assert!(format!("{:?}", Password::parse("secret-correct-horse").unwrap()).contains("***"));
    }

    #[test]
    fn the_ten_thousand_most_common_passwords_and_trivial_patterns_are_refused() {
        for weak in ["password2", "sunshine1", "test1234", "aaaaaaaa", "Sunshine1", "abcabcabc", "abcdefgh", "87654321", "11112222"] {
            assert_eq!(Password::parse(weak).unwrap_err(), Invalid(COMMON), "{weak}");
        }
        assert!(Password::parse("coffee-and-tissues-42").is_ok());
        assert!(Password::parse("딸기 세 팩 나눠요").is_ok());
        assert!(Password::parse("abcd1234x").is_ok(), "not listed, not one pattern");
    }

    #[test]
    fn keyword_rules() {
        let k = Keywords::parse(&[" 휴지 ", "Costco", "costco", "생수"]).unwrap();
        assert_eq!(k.as_slice(), ["휴지", "Costco", "생수"]);
        assert!(Keywords::parse(&["  "]).is_err());
        assert!(Keywords::parse(&["가".repeat(21)]).is_err());
        let many: Vec<String> = (0..21).map(|i| format!("k{i}")).collect();
        assert!(Keywords::parse(&many).is_err());
        let dup: Vec<String> = (0..25).map(|i| format!("K{}", i % 20)).collect();
        assert_eq!(Keywords::parse(&dup).unwrap().as_slice().len(), 20);
    }

    #[test]
    fn neighborhood_rules() {
        assert!(Neighborhood::parse("역삼동", 37.5, 127.03).is_ok());
        let gangnam = Neighborhood::at_point(37.5006, 127.0364, None).unwrap();
        assert_eq!((gangnam.name.as_str(), gangnam.code.as_deref()), ("역삼동", Some("11680101")));
        assert_eq!(gangnam.address().as_deref(), Some("서울특별시 강남구 역삼동"));
        assert_eq!(Neighborhood::at_point(35.68, 139.76, None).unwrap_err().0, "lat", "Tokyo");
        assert_eq!(Neighborhood::at_place("11680101", Some(" 우리 동네 ")).unwrap().name, "우리 동네");
        assert_eq!(Neighborhood::at_place("99999999", None).unwrap_err().0, "code");
        let now = chrono::Utc::now();
        let verified = Neighborhood::verified_at_point(37.5006, 127.0364, now).unwrap();
        let centre = gonggu_places::get("11680101").unwrap();
        assert_eq!((verified.lat, verified.lon), (centre.lat, centre.lon), "the phone's position is not kept");
        assert!(verified.verified(now + VERIFIED_FOR - chrono::Duration::seconds(1)));
        assert!(!verified.verified(now + VERIFIED_FOR), "30 days on, 인증 must be done again");
        assert_eq!(Neighborhood::parse("", 37.5, 127.0).unwrap_err().0, "name");
        assert_eq!(Neighborhood::parse("x", 91.0, 127.0).unwrap_err().0, "lat");
        assert_eq!(Neighborhood::parse("x", 37.0, -180.5).unwrap_err().0, "lon");
        assert_eq!(Neighborhood::parse("x", f64::NAN, 0.0).unwrap_err().0, "lat");
    }

    #[test]
    fn code_rules() {
        assert_eq!(OneTimeCode::parse(" 123 456 ").unwrap().as_str(), "123456");
        assert!(OneTimeCode::parse("12345").is_err());
        assert!(OneTimeCode::parse("12345a").is_err());
    }

    proptest! {
        #[test]
        fn login_id_accepts_exactly_the_alphabet(s in "[a-z0-9_]{3,20}") {
            let id = LoginId::parse(&s).unwrap();
            prop_assert_eq!(id.as_str(), s.as_str());
        }

        #[test]
        fn login_id_output_always_valid(s in "\\PC{0,30}") {
            if let Ok(id) = LoginId::parse(&s) {
                let v = id.as_str();
                prop_assert!((3..=20).contains(&v.len()));
                prop_assert!(v.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
            }
        }

        #[test]
        fn password_length_bounds(s in "\\PC{0,140}") {
            let n = s.chars().count();
            let r = Password::parse(&s);
            if !(8..=128).contains(&n) { prop_assert!(r.is_err()); }
        }

        #[test]
        fn keywords_invariants(v in proptest::collection::vec("\\PC{0,25}", 0..30)) {
            if let Ok(k) = Keywords::parse(&v) {
                let k = k.as_slice();
                prop_assert!(k.len() <= 20);
                for (i, a) in k.iter().enumerate() {
                    prop_assert_eq!(a.trim(), a.as_str());
                    prop_assert!((1..=20).contains(&a.chars().count()));
                    for b in &k[i + 1..] {
                        prop_assert_ne!(a.to_lowercase(), b.to_lowercase());
                    }
                }
            }
        }

        #[test]
        fn neighborhood_ranges(lat in -200.0f64..200.0, lon in -400.0f64..400.0) {
            let ok = Neighborhood::parse("동네", lat, lon).is_ok();
            prop_assert_eq!(ok, (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon));
        }
    }
}
