//! What accounts can do, independent of HTTP: the API handlers and the pages both call these.

use std::{net::IpAddr, sync::Arc, time::Duration};

use chrono::{DateTime, Duration as Span, Utc};
use gonggu_kernel::{
    auth::{AuthUser, Authenticator, ACCESS_TTL},
    clock::Clock,
    error::FieldErrors,
    events::Envelope,
    ratelimit::{FailureLimiter, KeyedLimiter},
    web::RefreshedSession,
    ApiError,
};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    domain::{Email, Invalid, Keywords, LoginId, Neighborhood, OneTimeCode, Password},
    events::{KeywordsChanged, UserRegistered},
    mail::Mailer,
    password::PasswordHasher,
    store::{AccountStore, CodePurpose, CodeRecord, Revoke, Rotation, SessionRecord, StoreError, UserRecord},
};

pub const REFRESH_LIFETIME: Span = Span::days(14);
pub const CODE_LIFETIME: Span = Span::minutes(10);
pub const CODE_ATTEMPTS: i32 = 5;

// ---------------------------------------------------------------------------------------------
// Views (what the API returns and pages show).

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct UserView {
    pub id: Uuid,
    pub login_id: String,
    pub email: String,
    /// The active neighbourhood: the feed, search and keyword alerts are around it.
    pub neighborhood: Option<Neighborhood>,
    /// A second one kept to switch to (at most two).
    pub second_neighborhood: Option<Neighborhood>,
    pub keywords: Vec<String>,
    pub created_at: DateTime<Utc>,
}

impl From<UserRecord> for UserView {
    fn from(u: UserRecord) -> Self {
        Self {
            id: u.id,
            login_id: u.login_id,
            email: u.email,
            neighborhood: u.neighborhood,
            second_neighborhood: u.second_neighborhood,
            keywords: u.keywords,
            created_at: u.created_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds the access token lives.
    pub expires_in: i64,
    /// Seconds until the session's absolute end (the refresh token cannot outlive it).
    pub refresh_expires_in: i64,
    pub user: UserView,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionView {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// The session this request was made with.
    pub current: bool,
}

/// A neighbourhood as a client sends it: a 읍면동 from the place search (`code`), the phone's
/// position for 동네 인증 (`lat`, `lon`, `verify: true`), or, for API clients, a position with
/// a name.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct NeighborhoodInput {
    /// 법정동 code from `GET /api/v1/places`; the position is then the 동's centre.
    #[serde(default)]
    #[schema(pattern = "^[0-9]{8}$", example = "11680101")]
    pub code: Option<String>,
    /// Up to 30 characters once trimmed; blank or absent means the 읍면동's name.
    #[serde(default)]
    #[schema(max_length = 30)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(minimum = -90, maximum = 90)]
    pub lat: Option<f64>,
    #[serde(default)]
    #[schema(minimum = -180, maximum = 180)]
    pub lon: Option<f64>,
    /// 동네 인증: `lat`/`lon` are where the phone is now. The 동 it lies in is kept (at its
    /// centre, not the phone's position) and counts as verified for 30 days.
    #[serde(default)]
    pub verify: bool,
    /// How far the feed reaches (1, 3, 5 or 10 km); unchanged (or 5) when absent.
    #[serde(default)]
    pub reach_km: Option<i64>,
}

impl NeighborhoodInput {
    /// What to keep, given what is kept now (re-saving the same 동 keeps its 인증).
    pub fn resolve(&self, current: Option<&Neighborhood>, now: DateTime<Utc>) -> Result<Neighborhood, (&'static str, Invalid)> {
        let point = match (self.lat, self.lon) {
            (Some(lat), Some(lon)) => Some((lat, lon)),
            (None, None) => None,
            (None, Some(_)) => return Err(("lat", Invalid("위도와 경도를 함께 보내 주세요."))),
            (Some(_), None) => return Err(("lon", Invalid("위도와 경도를 함께 보내 주세요."))),
        };
        let name = self.name.as_deref();
        let reach_km = match self.reach_km {
            Some(km) => crate::domain::parse_reach(km).map_err(|e| ("reach_km", e))?,
            None => current.map_or(crate::domain::DEFAULT_REACH_KM, |c| c.reach_km),
        };
        let mut n = self.place(current, name, point, now)?;
        n.reach_km = reach_km;
        Ok(n)
    }

    fn place(
        &self,
        current: Option<&Neighborhood>,
        name: Option<&str>,
        point: Option<(f64, f64)>,
        now: DateTime<Utc>,
    ) -> Result<Neighborhood, (&'static str, Invalid)> {
        let mut n = match (self.verify, self.code.as_deref(), point) {
            (true, code, Some((lat, lon))) => {
                let n = Neighborhood::verified_at_point(lat, lon, now)?;
                if code.is_some_and(|c| Some(c) != n.code.as_deref()) {
                    return Err(("code", Invalid("현재 위치가 고른 동네 밖입니다. 현재 위치의 동네로 설정해 주세요.")));
                }
                return Ok(n);
            }
            (true, _, None) => return Err(("lat", Invalid("동네 인증에는 현재 위치가 필요합니다."))),
            (false, Some(code), _) => Neighborhood::at_place(code, name)?,
            (false, None, Some((lat, lon))) => Neighborhood::at_point(lat, lon, name)?,
            (false, None, None) => return Err(("code", Invalid("동네를 검색해서 골라 주세요."))),
        };
        if let Some(kept) = current.filter(|c| c.code.is_some() && c.code == n.code) {
            n.verified_at = kept.verified_at;
        }
        Ok(n)
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct RegisterInput {
    /// 3–20 of `a-z`, `0-9`, `_` once trimmed; upper case is folded.
    #[schema(pattern = r"^\s*[A-Za-z0-9_]{3,20}\s*$")]
    pub login_id: String,
    #[schema(format = Email)]
    pub email: String,
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
    pub neighborhood: Option<NeighborhoodInput>,
}

// ---------------------------------------------------------------------------------------------

/// Rate limits. Login is limited per address and per (address, login id), never per account
/// alone, so an attacker elsewhere cannot lock the owner out; only failed logins count toward
/// the pair, so a person who signs in often is never refused. Password changes guess the
/// current password too, so they are limited per user and per address.
pub struct Limits {
    pub login_ip: Arc<KeyedLimiter<IpAddr>>,
    pub login_pair: Arc<FailureLimiter<(IpAddr, String)>>,
    pub password_change_user: Arc<KeyedLimiter<Uuid>>,
    pub password_change_ip: Arc<KeyedLimiter<IpAddr>>,
    pub register_ip: Arc<KeyedLimiter<IpAddr>>,
    pub reset_ip: Arc<KeyedLimiter<IpAddr>>,
    pub reset_email: Arc<KeyedLimiter<String>>,
    pub id_check_ip: Arc<KeyedLimiter<IpAddr>>,
    pub email_change_user: Arc<KeyedLimiter<Uuid>>,
}

impl Default for Limits {
    fn default() -> Self {
        let min = Duration::from_secs(60);
        Self {
            login_ip: KeyedLimiter::new(30, min),
            login_pair: FailureLimiter::new(5, 5 * min),
            password_change_user: KeyedLimiter::new(5, 15 * min),
            password_change_ip: KeyedLimiter::new(20, 15 * min),
            register_ip: KeyedLimiter::new(10, 60 * min),
            reset_ip: KeyedLimiter::new(10, 15 * min),
            reset_email: KeyedLimiter::new(3, 15 * min),
            id_check_ip: KeyedLimiter::new(60, min),
            email_change_user: KeyedLimiter::new(5, 60 * min),
        }
    }
}

impl Limits {
    pub fn prune(&self) {
        self.login_ip.prune();
        self.login_pair.prune();
        self.password_change_user.prune();
        self.password_change_ip.prune();
        self.register_ip.prune();
        self.reset_ip.prune();
        self.reset_email.prune();
        self.id_check_ip.prune();
        self.email_change_user.prune();
    }
}

/// Recently read profiles. `/api/v1/me` is the hottest authenticated read; serving it from memory
/// keeps it near the cost of the token check. Entries are dropped on every profile change made
/// through this instance and live at most `PROFILE_TTL`, which bounds staleness when another
/// instance changed the profile.
#[derive(Default)]
pub struct ProfileCache {
    entries: dashmap::DashMap<Uuid, (UserView, std::time::Instant)>,
}

const PROFILE_TTL: Duration = Duration::from_secs(30);
const PROFILE_CACHE_MAX: usize = 50_000;

impl ProfileCache {
    fn get(&self, id: Uuid) -> Option<UserView> {
        let hit = self.entries.get(&id)?;
        (hit.1.elapsed() < PROFILE_TTL).then(|| hit.0.clone())
    }
    fn put(&self, user: UserView) {
        if self.entries.len() >= PROFILE_CACHE_MAX {
            self.entries.retain(|_, (_, at)| at.elapsed() < PROFILE_TTL);
            if self.entries.len() >= PROFILE_CACHE_MAX {
                self.entries.clear();
            }
        }
        self.entries.insert(user.id, (user, std::time::Instant::now()));
    }
    pub fn forget(&self, id: Uuid) {
        self.entries.remove(&id);
    }
}

pub struct Accounts {
    pub store: Arc<dyn AccountStore>,
    pub profiles: ProfileCache,
    pub auth: Arc<Authenticator>,
    pub hasher: PasswordHasher,
    pub mailer: Mailer,
    pub clock: Clock,
    pub limits: Limits,
    /// Keys the hashes of one-time codes, so a leaked table does not give the codes away.
    pub code_pepper: Vec<u8>,
}

fn invalid_credentials() -> ApiError {
    ApiError::unauthorized("invalid_credentials", "아이디 또는 비밀번호가 올바르지 않습니다.")
}

fn invalid_refresh() -> ApiError {
    ApiError::unauthorized("invalid_refresh_token", "로그인이 만료되었습니다. 다시 로그인해 주세요.")
}

fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

impl Accounts {
    /// Now, on the clock the service runs by (tests move it).
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    async fn user(&self, id: Uuid) -> Result<UserRecord, ApiError> {
        self.store
            .user_by_id(id)
            .await?
            .ok_or_else(|| ApiError::unauthorized("invalid_token", "계정을 찾을 수 없습니다. 다시 로그인해 주세요."))
    }

    pub async fn register(&self, input: RegisterInput, ip: IpAddr) -> Result<UserView, ApiError> {
        Ok(self.create_user(input, ip).await?.into())
    }

    /// Sign-up on the web: the new account is signed in at once (the password was just hashed,
    /// so it is not verified a second time).
    pub async fn register_and_sign_in(&self, input: RegisterInput, user_agent: Option<&str>, ip: IpAddr) -> Result<TokenPair, ApiError> {
        let user = self.create_user(input, ip).await?;
        self.start_session(user, user_agent, ip).await
    }

    async fn create_user(&self, input: RegisterInput, ip: IpAddr) -> Result<UserRecord, ApiError> {
        self.limits.register_ip.check(&ip)?;
        let mut errors = FieldErrors::new();
        let login_id = LoginId::parse(&input.login_id).map_err(|e| errors.insert("login_id".into(), e.0.into())).ok();
        let email = Email::parse(&input.email).map_err(|e| errors.insert("email".into(), e.0.into())).ok();
        let password = Password::parse(&input.password).map_err(|e| errors.insert("password".into(), e.0.into())).ok();
        if let (Some(id), Some(pw)) = (&login_id, &password) {
            if pw.expose().eq_ignore_ascii_case(id.as_str()) {
                errors.insert("password".into(), "아이디와 같은 비밀번호는 사용할 수 없습니다.".into());
            }
        }
        let neighborhood = match &input.neighborhood {
            None => None,
            Some(n) => match n.resolve(None, self.now()) {
                Ok(n) => Some(n),
                Err((field, e)) => {
                    errors.insert(format!("neighborhood.{field}"), e.0.into());
                    None
                }
            },
        };
        let (Some(login_id), Some(email), Some(password), true) = (login_id, email, password, errors.is_empty()) else {
            return Err(ApiError::validation(errors));
        };
        if self.store.login_id_taken(login_id.as_str()).await? {
            return Err(login_id_taken());
        }
        let now = self.now();
        let user = UserRecord {
            id: Uuid::now_v7(),
            login_id: login_id.as_str().to_owned(),
            email: email.as_str().to_owned(),
            password_hash: self.hasher.hash(password.expose()).await?,
            neighborhood: neighborhood.clone(),
            second_neighborhood: None,
            keywords: vec![],
            created_at: now,
        };
        let event = Envelope::new(&UserRegistered { user_id: user.id, login_id: user.login_id.clone(), neighborhood }, now);
        match self.store.insert_user(&user, &[event]).await {
            Ok(()) => Ok(user),
            Err(StoreError::LoginIdTaken) => Err(login_id_taken()),
            Err(StoreError::EmailTaken) => Err(email_taken()),
            Err(StoreError::Db(e)) => Err(e.into()),
        }
    }

    pub async fn login_id_available(&self, raw: &str, ip: IpAddr) -> Result<bool, ApiError> {
        self.limits.id_check_ip.check(&ip)?;
        let id = LoginId::parse(raw).map_err(|e| ApiError::field("login_id", e.0))?;
        Ok(!self.store.login_id_taken(id.as_str()).await?)
    }

    pub async fn login(&self, login_id: &str, password: &str, user_agent: Option<&str>, ip: IpAddr) -> Result<TokenPair, ApiError> {
        let normalized = login_id.trim().to_ascii_lowercase();
        self.limits.login_ip.check(&ip)?;
        let pair = (ip, normalized);
        let attempt = self.limits.login_pair.attempt(&pair)?;
        let user = match LoginId::parse(&pair.1) {
            Ok(id) => self.store.user_by_login(id.as_str()).await?,
            Err(_) => None,
        };
        // Unknown ids verify against a dummy hash: same answer, same cost.
        let ok = self.hasher.verify(password, user.as_ref().map(|u| u.password_hash.as_str())).await?;
        match (ok, user) {
            (true, Some(user)) => {
                self.limits.login_pair.forgive(&pair, attempt);
                self.start_session(user, user_agent, ip).await
            }
            _ => Err(invalid_credentials()),
        }
    }

    async fn start_session(&self, user: UserRecord, user_agent: Option<&str>, ip: IpAddr) -> Result<TokenPair, ApiError> {
        let now = self.now();
        let refresh = gonggu_kernel::random_token(32);
        let session = SessionRecord {
            id: Uuid::now_v7(),
            user_id: user.id,
            created_at: now,
            expires_at: now + REFRESH_LIFETIME,
            last_used_at: now,
            user_agent: user_agent.map(|s| s.chars().take(300).collect()),
            ip: Some(ip.to_string()),
        };
        self.store.create_session(&session, &hash_token(&refresh)).await?;
        self.token_pair(user.into(), &session, refresh, now)
    }

    fn token_pair(&self, user: UserView, session: &SessionRecord, refresh: String, now: DateTime<Utc>) -> Result<TokenPair, ApiError> {
        let access = self.auth.issue(user.id, &user.login_id, session.id, now)?;
        Ok(TokenPair {
            access_token: access,
            refresh_token: refresh,
            token_type: "Bearer".into(),
            expires_in: ACCESS_TTL.num_seconds(),
            refresh_expires_in: (session.expires_at - now).num_seconds(),
            user,
        })
    }

    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, ApiError> {
        let now = self.now();
        let next = gonggu_kernel::random_token(32);
        match self.store.rotate_refresh(&hash_token(refresh_token), &hash_token(&next), now).await? {
            Rotation::Rotated { session, .. } => {
                let user = self.user(session.user_id).await?;
                self.token_pair(user.into(), &session, next, now)
            }
            Rotation::Reused { session_id, user_id } => {
                self.auth.revoke_sessions([session_id], now);
                tracing::warn!(%user_id, %session_id, "refresh token reused; session family revoked");
                Err(ApiError::unauthorized("refresh_token_reused", "보안을 위해 이 기기의 로그인을 해제했습니다. 다시 로그인해 주세요."))
            }
            Rotation::Rejected => Err(invalid_refresh()),
        }
    }

    /// Ends the session the refresh token belongs to. Unknown tokens are ignored (logout is idempotent).
    pub async fn logout(&self, refresh_token: &str) -> Result<(), ApiError> {
        let now = self.now();
        if let Some(s) = self.store.session_by_refresh(&hash_token(refresh_token), now).await? {
            let ids = self.store.revoke_sessions(s.user_id, Revoke::One(s.id), now, "logout").await?;
            self.auth.revoke_sessions(ids, now);
        }
        Ok(())
    }

    /// Ends the caller's own session (web logout when only the access cookie is left).
    pub async fn logout_session(&self, user: &AuthUser) -> Result<(), ApiError> {
        let now = self.now();
        let ids = self.store.revoke_sessions(user.user_id, Revoke::One(user.session_id), now, "logout").await?;
        self.auth.revoke_sessions(ids, now);
        Ok(())
    }

    /// Seeds the revoked-token set with the sessions revoked within the last access-token
    /// lifetime, so a logged-out session stays refused after a restart. (Other instances learn of
    /// later revocations from `SessionsRevoked`.) Returns how many were loaded.
    pub async fn load_revocations(&self) -> anyhow::Result<usize> {
        let since = self.now() - ACCESS_TTL - Span::minutes(1);
        let revoked = self.store.revoked_since(since).await?;
        let n = revoked.len();
        self.auth.revoked_at(revoked);
        Ok(n)
    }

    pub async fn me(&self, user: &AuthUser) -> Result<UserView, ApiError> {
        if let Some(view) = self.profiles.get(user.user_id) {
            return Ok(view);
        }
        let view: UserView = self.user(user.user_id).await?.into();
        self.profiles.put(view.clone());
        Ok(view)
    }

    pub async fn sessions(&self, user: &AuthUser) -> Result<Vec<SessionView>, ApiError> {
        let rows = self.store.list_sessions(user.user_id, self.now()).await?;
        Ok(rows
            .into_iter()
            .map(|s| SessionView {
                current: s.id == user.session_id,
                id: s.id,
                created_at: s.created_at,
                last_used_at: s.last_used_at,
                expires_at: s.expires_at,
                user_agent: s.user_agent,
                ip: s.ip,
            })
            .collect())
    }

    pub async fn revoke_session(&self, user: &AuthUser, session_id: Uuid) -> Result<(), ApiError> {
        let now = self.now();
        let ids = self.store.revoke_sessions(user.user_id, Revoke::One(session_id), now, "revoked").await?;
        if ids.is_empty() {
            return Err(ApiError::not_found("session_not_found", "세션을 찾을 수 없습니다."));
        }
        self.auth.revoke_sessions(ids, now);
        Ok(())
    }

    /// "다른 기기에서 로그아웃": every session but the caller's.
    pub async fn revoke_other_sessions(&self, user: &AuthUser) -> Result<usize, ApiError> {
        let now = self.now();
        let ids = self.store.revoke_sessions(user.user_id, Revoke::AllExcept(Some(user.session_id)), now, "others_revoked").await?;
        let n = ids.len();
        self.auth.revoke_sessions(ids, now);
        Ok(n)
    }

    pub async fn change_password(&self, user: &AuthUser, current: &str, new: &str, ip: IpAddr) -> Result<(), ApiError> {
        self.limits.password_change_ip.check(&ip)?;
        self.limits.password_change_user.check(&user.user_id)?;
        let record = self.user(user.user_id).await?;
        if !self.hasher.verify(current, Some(&record.password_hash)).await? {
            return Err(ApiError::field("current_password", "현재 비밀번호가 올바르지 않습니다."));
        }
        let new = self.new_password(new, &record.login_id, "new_password")?;
        if current == new.expose() {
            return Err(ApiError::field("new_password", "현재 비밀번호와 다른 비밀번호를 입력해 주세요."));
        }
        let hash = self.hasher.hash(new.expose()).await?;
        let now = self.now();
        let ids = self.store.set_password(user.user_id, &hash, Some(user.session_id), now, "password_changed").await?;
        self.auth.revoke_sessions(ids, now);
        Ok(())
    }

    fn new_password(&self, raw: &str, login_id: &str, field: &str) -> Result<Password, ApiError> {
        let p = Password::parse(raw).map_err(|e| ApiError::field(field, e.0))?;
        if p.expose().eq_ignore_ascii_case(login_id) {
            return Err(ApiError::field(field, "아이디와 같은 비밀번호는 사용할 수 없습니다."));
        }
        Ok(p)
    }

    pub async fn set_keywords(&self, user: &AuthUser, raw: &[String]) -> Result<UserView, ApiError> {
        let keywords = Keywords::parse(raw).map_err(|e| ApiError::field("keywords", e.0))?;
        let record = self.user(user.user_id).await?;
        let now = self.now();
        let event = Envelope::new(
            &KeywordsChanged { user_id: record.id, login_id: record.login_id.clone(), keywords: keywords.as_slice().to_vec() },
            now,
        );
        self.store.set_keywords(record.id, keywords.as_slice(), &event).await?;
        self.profiles.forget(record.id);
        Ok(UserView { keywords: keywords.into_vec(), ..record.into() })
    }

    fn neighborhoods_changed(&self, user_id: Uuid, active: Option<&Neighborhood>, second: Option<&Neighborhood>) -> Envelope {
        Envelope::new(&crate::events::NeighborhoodChanged { user_id, neighborhood: active.cloned(), second: second.cloned() }, self.now())
    }

    /// Sets (or clears) the active neighbourhood. Clearing it while a second is kept makes the
    /// second the active one.
    pub async fn set_neighborhood(&self, user: &AuthUser, input: Option<NeighborhoodInput>) -> Result<UserView, ApiError> {
        let record = self.user(user.user_id).await?;
        let n = match input {
            None => None,
            Some(n) => Some(n.resolve(record.neighborhood.as_ref(), self.now()).map_err(|(field, e)| ApiError::field(field, e.0))?),
        };
        let second = record.second_neighborhood.clone();
        if n.is_none() && second.is_some() {
            let event = self.neighborhoods_changed(record.id, second.as_ref(), record.neighborhood.as_ref());
            self.store.swap_neighborhoods(record.id, &event).await?;
            let event = self.neighborhoods_changed(record.id, second.as_ref(), None);
            self.store.set_second_neighborhood(record.id, None, &event).await?;
            self.profiles.forget(record.id);
            return Ok(UserView { neighborhood: second, second_neighborhood: None, ..record.into() });
        }
        if n.as_ref().is_some_and(|n| n.code.is_some() && second.as_ref().is_some_and(|s| s.code == n.code)) {
            return Err(ApiError::field("code", "다른 동네로 이미 가지고 있어요. 그 동네로 바꿔 주세요."));
        }
        let event = self.neighborhoods_changed(record.id, n.as_ref(), second.as_ref());
        self.store.set_neighborhood(record.id, n.as_ref(), &event).await?;
        self.profiles.forget(record.id);
        Ok(UserView { neighborhood: n, ..record.into() })
    }

    /// Keeps (or forgets) a second neighbourhood to switch to.
    pub async fn set_second_neighborhood(&self, user: &AuthUser, input: Option<NeighborhoodInput>) -> Result<UserView, ApiError> {
        let record = self.user(user.user_id).await?;
        let Some(active) = record.neighborhood.clone() else {
            return Err(ApiError::conflict("no_neighborhood", "먼저 우리 동네를 설정해 주세요."));
        };
        let n = match input {
            None => None,
            Some(n) => {
                let n = n.resolve(record.second_neighborhood.as_ref(), self.now()).map_err(|(field, e)| ApiError::field(field, e.0))?;
                if n.code.is_some() && n.code == active.code {
                    return Err(ApiError::field("code", "지금 우리 동네와 같은 동네예요."));
                }
                Some(Neighborhood { reach_km: active.reach_km, ..n })
            }
        };
        let event = self.neighborhoods_changed(record.id, Some(&active), n.as_ref());
        self.store.set_second_neighborhood(record.id, n.as_ref(), &event).await?;
        self.profiles.forget(record.id);
        Ok(UserView { second_neighborhood: n, ..record.into() })
    }

    /// The second neighbourhood becomes the active one (the feed moves there), and the active
    /// one the second.
    pub async fn switch_neighborhood(&self, user: &AuthUser) -> Result<UserView, ApiError> {
        let record = self.user(user.user_id).await?;
        let (Some(active), Some(second)) = (record.neighborhood.clone(), record.second_neighborhood.clone()) else {
            return Err(ApiError::conflict("no_second_neighborhood", "바꿀 다른 동네가 없어요. 먼저 다른 동네를 추가해 주세요."));
        };
        let (active, second) = (Neighborhood { reach_km: active.reach_km, ..second }, active);
        let event = self.neighborhoods_changed(record.id, Some(&active), Some(&second));
        self.store.swap_neighborhoods(record.id, &event).await?;
        self.profiles.forget(record.id);
        Ok(UserView { neighborhood: Some(active), second_neighborhood: Some(second), ..record.into() })
    }

    /// How far the feed reaches from the neighbourhood (1, 3, 5 or 10 km).
    pub async fn set_reach(&self, user: &AuthUser, km: i64) -> Result<UserView, ApiError> {
        let km = crate::domain::parse_reach(km).map_err(|e| ApiError::field("km", e.0))?;
        let record = self.user(user.user_id).await?;
        let Some(mut n) = record.neighborhood.clone() else {
            return Err(ApiError::conflict("no_neighborhood", "먼저 우리 동네를 설정해 주세요."));
        };
        n.reach_km = km;
        let event = self.neighborhoods_changed(record.id, Some(&n), record.second_neighborhood.as_ref());
        self.store.set_neighborhood(record.id, Some(&n), &event).await?;
        self.profiles.forget(record.id);
        Ok(UserView { neighborhood: Some(n), ..record.into() })
    }

    // ------------------------------------------------------------------ one-time codes

    fn code_hash(&self, purpose: CodePurpose, user_id: Uuid, code: &str) -> Vec<u8> {
        let mut h = Sha256::new();
        h.update(&self.code_pepper);
        h.update(format!("{purpose:?}:{user_id}:{code}").as_bytes());
        h.finalize().to_vec()
    }

    async fn issue_code(&self, user_id: Uuid, purpose: CodePurpose, target_email: Option<String>) -> Result<String, ApiError> {
        let code = format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32));
        let record = CodeRecord {
            code_hash: self.code_hash(purpose, user_id, &code),
            target_email,
            expires_at: self.now() + CODE_LIFETIME,
            attempts: 0,
        };
        self.store.put_code(user_id, purpose, &record).await?;
        Ok(code)
    }

    /// Checks a code; wrong guesses count, and the fifth one burns the code. A right code is used
    /// up unless `consume` says to keep it (the caller still refuses the request for another reason).
    async fn check_code(&self, user_id: Uuid, purpose: CodePurpose, raw: &str, consume: Consume) -> Result<CodeRecord, ApiError> {
        let expired = || {
            ApiError::field("code", "인증 코드가 만료되었거나 더 이상 사용할 수 없습니다. 새 코드를 요청해 주세요.")
                .with_code("code_expired")
        };
        let code = OneTimeCode::parse(raw).map_err(|e| ApiError::field("code", e.0))?;
        let Some(record) = self.store.code(user_id, purpose).await? else { return Err(expired()) };
        if record.expires_at <= self.now() || record.attempts >= CODE_ATTEMPTS {
            self.store.delete_code(user_id, purpose).await?;
            return Err(expired());
        }
        let given = self.code_hash(purpose, user_id, code.as_str());
        if !bool::from(subtle_eq(&given, &record.code_hash)) {
            let attempts = self.store.bump_code_attempts(user_id, purpose).await?;
            let left = CODE_ATTEMPTS - attempts;
            if left <= 0 {
                self.store.delete_code(user_id, purpose).await?;
                return Err(expired());
            }
            return Err(ApiError::field("code", format!("인증 코드가 올바르지 않습니다. (남은 시도 {left}회)")).with_code("invalid_code"));
        }
        if consume == Consume::Yes {
            self.store.delete_code(user_id, purpose).await?;
        }
        Ok(record)
    }

    fn send_in_background(&self, to: String, subject: &'static str, body: String) {
        // Sending happens off the request path so that response time says nothing about
        // whether an address has an account.
        let mailer = self.mailer.clone();
        tokio::spawn(async move {
            if let Err(e) = mailer.send(&to, subject, body).await {
                tracing::error!(error = %format!("{e:#}"), "mail delivery failed");
            }
        });
    }

    /// A stolen access token alone must not move the account to another address (from where the
    /// password could be reset), so the current password is asked for first.
    pub async fn request_email_change(&self, user: &AuthUser, raw: &str, current_password: &str) -> Result<(), ApiError> {
        self.limits.email_change_user.check(&user.user_id)?;
        let email = Email::parse(raw).map_err(|e| ApiError::field("email", e.0))?;
        if current_password.is_empty() {
            return Err(ApiError::field("current_password", "현재 비밀번호를 입력해 주세요.").with_code("current_password_required"));
        }
        let record = self.user(user.user_id).await?;
        if !self.hasher.verify(current_password, Some(&record.password_hash)).await? {
            return Err(ApiError::field("current_password", "현재 비밀번호가 올바르지 않습니다.").with_code("wrong_current_password"));
        }
        if record.email == email.as_str() {
            return Err(ApiError::field("email", "지금 사용 중인 이메일입니다."));
        }
        if self.store.user_by_email(email.as_str()).await?.is_some() {
            return Err(email_taken());
        }
        let code = self.issue_code(record.id, CodePurpose::EmailChange, Some(email.as_str().to_owned())).await?;
        self.send_in_background(
            email.as_str().to_owned(),
            "[공구마켓] 이메일 변경 인증 코드",
            format!(
                "안녕하세요, {}님.\n\n이메일 변경 인증 코드: {code}\n\n10분 안에 입력해 주세요. 본인이 요청하지 않았다면 이 메일을 무시해 주세요.\n\n공구마켓 드림",
                record.login_id
            ),
        );
        Ok(())
    }

    pub async fn verify_email_change(&self, user: &AuthUser, code: &str) -> Result<UserView, ApiError> {
        let record = self.check_code(user.user_id, CodePurpose::EmailChange, code, Consume::Yes).await?;
        let email = record.target_email.ok_or_else(|| ApiError::internal(anyhow::anyhow!("email code without target")))?;
        let old = self.user(user.user_id).await?;
        let changed = self.store.set_email(user.user_id, &email).await;
        self.profiles.forget(user.user_id);
        match changed {
            Ok(()) => {
                self.send_in_background(
                    old.email.clone(),
                    "[공구마켓] 계정 이메일이 바뀌었습니다",
                    email_changed_notice(&old.login_id, &email, self.now()),
                );
                Ok(UserView { email, ..old.into() })
            }
            Err(StoreError::EmailTaken) => Err(email_taken()),
            Err(e) => Err(ApiError::internal(e)),
        }
    }

    pub async fn request_password_reset(&self, raw_email: &str, ip: IpAddr) -> Result<(), ApiError> {
        self.limits.reset_ip.check(&ip)?;
        let email = Email::parse(raw_email).map_err(|e| ApiError::field("email", e.0))?;
        self.limits.reset_email.check(&email.as_str().to_owned())?;
        // Same answer whether or not the address has an account.
        if let Some(user) = self.store.user_by_email(email.as_str()).await? {
            let code = self.issue_code(user.id, CodePurpose::PasswordReset, None).await?;
            self.send_in_background(
                user.email.clone(),
                "[공구마켓] 비밀번호 재설정 인증 코드",
                format!(
                    "안녕하세요, {}님.\n\n비밀번호 재설정 인증 코드: {code}\n\n10분 안에 입력해 주세요. 본인이 요청하지 않았다면 이 메일을 무시해 주세요. 비밀번호는 바뀌지 않습니다.\n\n공구마켓 드림",
                    user.login_id
                ),
            );
        }
        Ok(())
    }

    /// Every way the code can fail — unknown address, wrong, expired or used-up code — gives one
    /// answer, so the form cannot tell which addresses have accounts.
    pub async fn confirm_password_reset(&self, raw_email: &str, code: &str, new_password: &str, ip: IpAddr) -> Result<(), ApiError> {
        self.limits.reset_ip.check(&ip)?;
        let email = Email::parse(raw_email).map_err(|e| ApiError::field("email", e.0))?;
        OneTimeCode::parse(code).map_err(|e| ApiError::field("code", e.0))?;
        // Rules that need no account come first, so their answers are the same for every address.
        let password = Password::parse(new_password).map_err(|e| ApiError::field("new_password", e.0))?;
        let user = self.store.user_by_email(email.as_str()).await?;
        let no_such_code = || {
            ApiError::field("code", "인증 코드가 올바르지 않거나 만료되었습니다. 코드를 확인하거나 새 코드를 요청해 주세요.")
                .with_code("invalid_code")
        };
        let Some(user) = user else { return Err(no_such_code()) };
        // Storage failures stay 500s; every refusal of the code becomes the one answer.
        let refusal = |e: ApiError| if e.status.is_server_error() { e } else { no_such_code() };
        if password.expose().eq_ignore_ascii_case(&user.login_id) {
            // Only a holder of the right code learns this, so it tells an outsider nothing.
            self.check_code(user.id, CodePurpose::PasswordReset, code, Consume::No).await.map_err(refusal)?;
            return Err(ApiError::field("new_password", "아이디와 같은 비밀번호는 사용할 수 없습니다."));
        }
        self.check_code(user.id, CodePurpose::PasswordReset, code, Consume::Yes).await.map_err(refusal)?;
        let hash = self.hasher.hash(password.expose()).await?;
        let now = self.now();
        let ids = self.store.set_password(user.id, &hash, None, now, "password_reset").await?;
        self.auth.revoke_sessions(ids, now);
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Consume {
    Yes,
    No,
}

/// Told to the old address after a change, so a takeover does not go unnoticed.
fn email_changed_notice(login_id: &str, new_email: &str, at: DateTime<Utc>) -> String {
    format!(
        "안녕하세요, {login_id}님.\n\n\
         {at} (한국 시간)에 공구마켓 계정의 이메일이 {masked}(으)로 바뀌었습니다.\n\n\
         본인이 바꾼 것이라면 이 메일은 무시하셔도 됩니다.\n\n\
         본인이 바꾸지 않았다면:\n\
         1. 이 메일에 바로 답장해 신고해 주세요. 확인 후 계정을 되돌려 드립니다.\n\
         2. 아직 로그인할 수 있다면 '내 정보'에서 비밀번호를 바꾸고 '다른 기기 모두 로그아웃'을 눌러 주세요. \
         비밀번호를 바꾸면 다른 기기는 모두 로그아웃됩니다.\n\n\
         공구마켓 드림",
        at = gonggu_kernel::web::format_kst(at),
        masked = mask_email(new_email),
    )
}

/// `newbie@example.com` → `ne***@example.com`: enough for the owner to recognise, not to copy.
fn mask_email(email: &str) -> String {
    let (local, domain) = email.split_once('@').unwrap_or((email, ""));
    let keep: String = local.chars().take(2).collect();
    format!("{keep}***@{domain}")
}

fn subtle_eq(a: &[u8], b: &[u8]) -> subtle::Choice {
    use subtle::ConstantTimeEq;
    a.ct_eq(b)
}

fn login_id_taken() -> ApiError {
    ApiError::conflict("login_id_taken", "이미 사용 중인 아이디입니다.")
        .with_details(serde_json::json!({"fields": {"login_id": "이미 사용 중인 아이디입니다."}}))
}

fn email_taken() -> ApiError {
    ApiError::conflict("email_taken", "이미 사용 중인 이메일입니다.")
        .with_details(serde_json::json!({"fields": {"email": "이미 사용 중인 이메일입니다."}}))
}

/// Lets the web shell renew an expired access cookie in-process.
#[async_trait::async_trait]
impl gonggu_kernel::web::SessionRefresher for Accounts {
    async fn refresh(&self, refresh_token: &str, _ua: Option<&str>, _ip: Option<IpAddr>) -> Result<RefreshedSession, ApiError> {
        let pair = Accounts::refresh(self, refresh_token).await?;
        let claims = self.auth.verify(&pair.access_token)?;
        Ok(RefreshedSession {
            user: claims,
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
            refresh_expires_in: pair.refresh_expires_in,
        })
    }
}
