//! Access tokens, shared by key rather than by database (DESIGN §3): `accounts` signs, every
//! context verifies with [`Authenticator`] through the [`AuthUser`] extractor.

use std::sync::Arc;

use axum::{
    extract::{FromRef, FromRequestParts},
    http::{header, request::Parts},
};
use chrono::{DateTime, Duration, Utc};
use dashmap::DashMap;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;

pub const ISSUER: &str = "gonggu-accounts";
pub const AUDIENCE: &str = "gonggu";
pub const ACCESS_TTL: Duration = Duration::minutes(15);
/// Clock skew tolerated between the instances that issue and check tokens.
const LEEWAY_SECS: u64 = 5;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// User id.
    pub sub: Uuid,
    /// The login id, so other contexts can show who someone is without asking `accounts`.
    pub lid: String,
    /// Session (refresh family) id; revoking it invalidates the access tokens it issued.
    pub sid: Uuid,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    pub user_id: Uuid,
    pub login_id: String,
    pub session_id: Uuid,
}

/// Signs and verifies access tokens (HS256, pinned) and remembers revoked sessions for as long
/// as their access tokens could still be alive.
pub struct Authenticator {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    revoked: DashMap<Uuid, DateTime<Utc>>,
}

impl Authenticator {
    pub fn new(secret: &[u8]) -> Arc<Self> {
        assert!(secret.len() >= 32, "JWT secret must be at least 32 bytes");
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        Arc::new(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            revoked: DashMap::new(),
        })
    }

    pub fn issue(&self, user_id: Uuid, login_id: &str, session_id: Uuid, now: DateTime<Utc>) -> anyhow::Result<String> {
        let claims = Claims {
            sub: user_id,
            lid: login_id.to_owned(),
            sid: session_id,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: now.timestamp(),
            exp: (now + ACCESS_TTL).timestamp(),
        };
        Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?)
    }

    /// Checks signature, algorithm, issuer, audience, expiry, not-before, the lifetime and
    /// revocation. The lifetime check means a leaked key's token, or one minted by a bug, cannot
    /// live past what `issue` would ever give (15 minutes), whatever its `exp` says.
    pub fn verify(&self, token: &str) -> Result<AuthUser, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
            _ => TokenError::Invalid,
        })?;
        let c = data.claims;
        if c.exp.saturating_sub(c.iat) > ACCESS_TTL.num_seconds() + LEEWAY_SECS as i64 {
            return Err(TokenError::Invalid);
        }
        if self.revoked.contains_key(&c.sid) {
            return Err(TokenError::Revoked);
        }
        Ok(AuthUser { user_id: c.sub, login_id: c.lid, session_id: c.sid })
    }

    /// Marks sessions revoked; called by `accounts` directly and by every context when a
    /// `SessionsRevoked` event arrives.
    pub fn revoke_sessions(&self, session_ids: impl IntoIterator<Item = Uuid>, now: DateTime<Utc>) {
        let until = now + ACCESS_TTL + Duration::minutes(1);
        for sid in session_ids {
            self.revoked.insert(sid, until);
        }
        self.revoked.retain(|_, until| *until > now);
    }

    /// Marks sessions revoked at the given times (seeding at start from stored revocations): each
    /// is remembered for as long as an access token issued before its revocation could live.
    pub fn revoked_at(&self, sessions: impl IntoIterator<Item = (Uuid, DateTime<Utc>)>) {
        for (sid, at) in sessions {
            self.revoked.insert(sid, at + ACCESS_TTL + Duration::minutes(1));
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    Invalid,
    Expired,
    Revoked,
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Expired => ApiError::unauthorized("token_expired", "로그인이 만료되었습니다. 다시 로그인해 주세요."),
            TokenError::Revoked => ApiError::unauthorized("session_revoked", "로그아웃된 세션입니다. 다시 로그인해 주세요."),
            TokenError::Invalid => ApiError::unauthorized("invalid_token", "인증 정보가 올바르지 않습니다."),
        }
    }
}

/// `Authorization: Bearer <access token>`; 401 envelope otherwise.
impl<S> FromRequestParts<S> for AuthUser
where
    Arc<Authenticator>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // A page middleware may already have authenticated the request from cookies.
        if let Some(user) = parts.extensions.get::<AuthUser>() {
            return Ok(user.clone());
        }
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::unauthorized("missing_token", "로그인이 필요합니다."))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| ApiError::unauthorized("invalid_token", "인증 정보가 올바르지 않습니다."))?;
        let auth = Arc::<Authenticator>::from_ref(state);
        Ok(auth.verify(token.trim())?)
    }
}

/// `Option<AuthUser>`: `None` without an `Authorization` header; a present but bad token is still 401.
impl<S> axum::extract::OptionalFromRequestParts<S> for AuthUser
where
    Arc<Authenticator>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, Self::Rejection> {
        if parts.extensions.get::<AuthUser>().is_none() && !parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(None);
        }
        <AuthUser as FromRequestParts<S>>::from_request_parts(parts, state).await.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Arc<Authenticator> {
        Authenticator::new(&[7u8; 32])
    }

    #[test]
    fn round_trip() {
        let a = auth();
        let (u, s) = (Uuid::now_v7(), Uuid::now_v7());
        let t = a.issue(u, "alice", s, Utc::now()).unwrap();
        assert_eq!(a.verify(&t).unwrap(), AuthUser { user_id: u, login_id: "alice".into(), session_id: s });
    }

    #[test]
    fn expired_is_rejected() {
        let a = auth();
        let t = a.issue(Uuid::now_v7(), "alice", Uuid::now_v7(), Utc::now() - Duration::minutes(16)).unwrap();
        assert_eq!(a.verify(&t), Err(TokenError::Expired));
    }

    #[test]
    fn other_key_is_rejected() {
        let t = auth().issue(Uuid::now_v7(), "a", Uuid::now_v7(), Utc::now()).unwrap();
        assert_eq!(Authenticator::new(&[8u8; 32]).verify(&t), Err(TokenError::Invalid));
    }

    #[test]
    fn alg_none_is_rejected() {
        // header {"alg":"none","typ":"JWT"} with valid-looking claims and no signature
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let claims = serde_json::json!({"sub": Uuid::now_v7(), "lid": "a", "sid": Uuid::now_v7(), "iss": ISSUER, "aud": AUDIENCE, "iat": 0, "exp": Utc::now().timestamp() + 600});
        let t = format!("{}.{}.", b64.encode(br#"{"alg":"none","typ":"JWT"}"#), b64.encode(claims.to_string()));
        assert_eq!(auth().verify(&t), Err(TokenError::Invalid));
    }

    #[test]
    fn wrong_audience_is_rejected() {
        let a = auth();
        let claims = Claims {
            sub: Uuid::now_v7(),
            lid: "a".into(),
            sid: Uuid::now_v7(),
            iss: ISSUER.into(),
            aud: "other".into(),
            iat: 0,
            exp: Utc::now().timestamp() + 600,
        };
        let t = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&[7u8; 32])).unwrap();
        assert_eq!(a.verify(&t), Err(TokenError::Invalid));
    }

    fn signed(claims: serde_json::Value) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&[7u8; 32])).unwrap()
    }

    fn claims(iat: i64, exp: i64) -> serde_json::Value {
        serde_json::json!({"sub": Uuid::now_v7(), "lid": "a", "sid": Uuid::now_v7(), "iss": ISSUER, "aud": AUDIENCE, "iat": iat, "exp": exp})
    }

    #[test]
    fn a_future_not_before_is_rejected() {
        let now = Utc::now().timestamp();
        let mut c = claims(now, now + 600);
        c["nbf"] = (now + 300).into();
        assert_eq!(auth().verify(&signed(c.clone())), Err(TokenError::Invalid));
        c["nbf"] = (now - 1).into();
        assert!(auth().verify(&signed(c)).is_ok(), "a past nbf is fine");
    }

    #[test]
    fn a_lifetime_beyond_fifteen_minutes_is_rejected() {
        let now = Utc::now().timestamp();
        let ten_years = claims(now, now + 10 * 365 * 24 * 3600);
        assert_eq!(auth().verify(&signed(ten_years)), Err(TokenError::Invalid));
        assert_eq!(auth().verify(&signed(claims(now, now + 15 * 60 + 60))), Err(TokenError::Invalid), "16 minutes");
        // Without an iat the lifetime cannot be shown to be short.
        let mut no_iat = claims(now, now + 600);
        no_iat.as_object_mut().unwrap().remove("iat");
        assert_eq!(auth().verify(&signed(no_iat)), Err(TokenError::Invalid));
        assert!(auth().verify(&signed(claims(now, now + 15 * 60 + 3))).is_ok(), "within the leeway");
        assert!(auth().verify(&signed(claims(now - 60, now + 600))).is_ok());
    }

    #[test]
    fn stored_revocations_are_remembered_one_token_lifetime_from_when_they_happened() {
        let a = auth();
        let (recent, old) = (Uuid::now_v7(), Uuid::now_v7());
        let (t1, t2) = (a.issue(Uuid::now_v7(), "a", recent, Utc::now()).unwrap(), a.issue(Uuid::now_v7(), "a", old, Utc::now()).unwrap());
        a.revoked_at([(recent, Utc::now() - Duration::minutes(5)), (old, Utc::now() - Duration::hours(1))]);
        assert_eq!(a.verify(&t1), Err(TokenError::Revoked));
        a.revoke_sessions(std::iter::empty(), Utc::now());
        assert!(a.verify(&t2).is_ok(), "a revocation older than any live token is dropped");
    }

    #[test]
    fn revoked_session_is_rejected() {
        let a = auth();
        let s = Uuid::now_v7();
        let t = a.issue(Uuid::now_v7(), "a", s, Utc::now()).unwrap();
        a.revoke_sessions([s], Utc::now());
        assert_eq!(a.verify(&t), Err(TokenError::Revoked));
    }
}
