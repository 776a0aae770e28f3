//! The accounts JSON API (DESIGN §4). Each handler is registered together with its OpenAPI
//! description, so the document at `/api/openapi.json` lists exactly what is routed.

use std::sync::Arc;

use axum::{
    extract::{FromRef, Path, State},
    http::{header, HeaderMap, StatusCode},
};
use gonggu_kernel::{
    auth::{AuthUser, Authenticator},
    error::ErrorEnvelope,
    http::ClientIp,
    ApiError, Json, Query,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::service::{Accounts, NeighborhoodInput, RegisterInput, SessionView, TokenPair, UserView};

#[derive(Clone, FromRef)]
pub struct AccountsState {
    pub accounts: Arc<Accounts>,
    pub auth: Arc<Authenticator>,
}

pub fn router(state: AccountsState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login_id_available))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(request_password_reset))
        .routes(routes!(confirm_password_reset))
        .routes(routes!(me))
        .routes(routes!(set_keywords))
        .routes(routes!(set_neighborhood, clear_neighborhood))
        .routes(routes!(set_reach))
        .routes(routes!(set_second, clear_second))
        .routes(routes!(switch_neighborhood))
        .routes(routes!(change_password))
        .routes(routes!(request_email_change))
        .routes(routes!(verify_email_change))
        .routes(routes!(list_sessions, revoke_other_sessions))
        .routes(routes!(revoke_session))
        .with_state(state)
}

fn user_agent(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok())
}

/// Create an account. It does not log in; call `/auth/login` next.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "accounts", request_body = RegisterInput,
    responses((status = 201, body = UserView), (status = 409, description = "login id or email taken", body = ErrorEnvelope),
              (status = 422, description = "validation failed (details.fields)", body = ErrorEnvelope), (status = 429, body = ErrorEnvelope),
              (status = 503, description = "password hashing is saturated (server_busy, Retry-After)", body = ErrorEnvelope)))]
async fn register(
    State(s): State<AccountsState>,
    ClientIp(ip): ClientIp,
    Json(input): Json<RegisterInput>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    Ok((StatusCode::CREATED, Json(s.accounts.register(input, ip).await?)))
}

#[derive(Deserialize, IntoParams)]
struct LoginIdQuery {
    #[param(pattern = r"^\s*[A-Za-z0-9_]{3,20}\s*$")]
    login_id: String,
}

#[derive(Serialize, ToSchema)]
struct Availability {
    available: bool,
}

/// Whether a login id is free (for the live check on the sign-up form).
#[utoipa::path(get, path = "/api/v1/auth/login-id-available", tag = "accounts", params(LoginIdQuery),
    responses((status = 200, body = Availability), (status = 422, body = ErrorEnvelope), (status = 429, body = ErrorEnvelope)))]
async fn login_id_available(
    State(s): State<AccountsState>,
    ClientIp(ip): ClientIp,
    Query(q): Query<LoginIdQuery>,
) -> Result<Json<Availability>, ApiError> {
    Ok(Json(Availability { available: s.accounts.login_id_available(&q.login_id, ip).await? }))
}

#[derive(Deserialize, ToSchema)]
pub struct LoginInput {
    pub login_id: String,
    pub password: String,
}

/// Log in: a 15-minute access token and a refresh token (rotated on every use, 14 days at most).
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "accounts", request_body = LoginInput,
    responses((status = 200, body = TokenPair), (status = 401, description = "unknown id or wrong password (one answer for both)", body = ErrorEnvelope),
              (status = 429, body = ErrorEnvelope), (status = 503, description = "password hashing is saturated (server_busy, Retry-After)", body = ErrorEnvelope)))]
async fn login(
    State(s): State<AccountsState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Json(input): Json<LoginInput>,
) -> Result<Json<TokenPair>, ApiError> {
    Ok(Json(s.accounts.login(&input.login_id, &input.password, user_agent(&headers), ip).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct RefreshInput {
    pub refresh_token: String,
}

/// Exchange a refresh token for a new pair. Presenting an already-used token revokes its whole session.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "accounts", request_body = RefreshInput,
    responses((status = 200, body = TokenPair), (status = 401, body = ErrorEnvelope)))]
async fn refresh(State(s): State<AccountsState>, Json(input): Json<RefreshInput>) -> Result<Json<TokenPair>, ApiError> {
    Ok(Json(s.accounts.refresh(&input.refresh_token).await?))
}

/// End the session the refresh token belongs to.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "accounts", request_body = RefreshInput, responses((status = 204)))]
async fn logout(State(s): State<AccountsState>, Json(input): Json<RefreshInput>) -> Result<StatusCode, ApiError> {
    s.accounts.logout(&input.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct EmailInput {
    #[schema(format = Email)]
    pub email: String,
}

/// Mail a 6-digit reset code. The answer is the same whether or not the address has an account.
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "accounts", request_body = EmailInput,
    responses((status = 202), (status = 422, body = ErrorEnvelope), (status = 429, body = ErrorEnvelope)))]
async fn request_password_reset(
    State(s): State<AccountsState>,
    ClientIp(ip): ClientIp,
    Json(input): Json<EmailInput>,
) -> Result<StatusCode, ApiError> {
    s.accounts.request_password_reset(&input.email, ip).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize, ToSchema)]
pub struct ResetConfirmInput {
    #[schema(format = Email)]
    pub email: String,
    /// Six digits; spaces and dashes are ignored.
    #[schema(pattern = r"^[\s-]*(?:[0-9][\s-]*){6}$")]
    pub code: String,
    #[schema(min_length = 8, max_length = 128)]
    pub new_password: String,
}

/// Set a new password with the mailed code (10 minutes, 5 attempts). Ends every session.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "accounts", request_body = ResetConfirmInput,
    responses((status = 204), (status = 422, description = "invalid_code (one answer for unknown address, wrong, expired or used-up code) / password rules", body = ErrorEnvelope), (status = 429, body = ErrorEnvelope),
              (status = 503, description = "password hashing is saturated (server_busy, Retry-After)", body = ErrorEnvelope)))]
async fn confirm_password_reset(
    State(s): State<AccountsState>,
    ClientIp(ip): ClientIp,
    Json(input): Json<ResetConfirmInput>,
) -> Result<StatusCode, ApiError> {
    s.accounts.confirm_password_reset(&input.email, &input.code, &input.new_password, ip).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's profile.
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = ErrorEnvelope)))]
async fn me(State(s): State<AccountsState>, user: AuthUser) -> Result<Json<UserView>, ApiError> {
    Ok(Json(s.accounts.me(&user).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct KeywordsInput {
    #[schema(max_items = 20)]
    pub keywords: Vec<String>,
}

/// Replace the interest keywords (≤ 20, 1–20 characters each; trimmed; duplicates dropped case-insensitively).
#[utoipa::path(put, path = "/api/v1/me/keywords", tag = "accounts", security(("bearer" = [])), request_body = KeywordsInput,
    responses((status = 200, body = UserView), (status = 401, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn set_keywords(
    State(s): State<AccountsState>,
    user: AuthUser,
    Json(input): Json<KeywordsInput>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(s.accounts.set_keywords(&user, &input.keywords).await?))
}

/// Set the neighbourhood (name, latitude −90…90, longitude −180…180).
#[utoipa::path(put, path = "/api/v1/me/neighborhood", tag = "accounts", security(("bearer" = [])), request_body = NeighborhoodInput,
    responses((status = 200, body = UserView), (status = 401, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn set_neighborhood(
    State(s): State<AccountsState>,
    user: AuthUser,
    Json(input): Json<NeighborhoodInput>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(s.accounts.set_neighborhood(&user, Some(input)).await?))
}

/// Forget the neighbourhood.
/// Keeps a second neighbourhood (at most two) to switch to; same input as the first.
#[utoipa::path(put, path = "/api/v1/me/neighborhood/second", tag = "accounts", security(("bearer" = [])), request_body = NeighborhoodInput,
    responses((status = 200, body = UserView), (status = 401, body = ErrorEnvelope), (status = 409, description = "no_neighborhood", body = ErrorEnvelope),
              (status = 422, body = ErrorEnvelope)))]
async fn set_second(
    State(s): State<AccountsState>,
    user: AuthUser,
    Json(input): Json<NeighborhoodInput>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(s.accounts.set_second_neighborhood(&user, Some(input)).await?))
}

/// Forgets the second neighbourhood.
#[utoipa::path(delete, path = "/api/v1/me/neighborhood/second", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = ErrorEnvelope), (status = 409, description = "no_neighborhood", body = ErrorEnvelope)))]
async fn clear_second(State(s): State<AccountsState>, user: AuthUser) -> Result<Json<UserView>, ApiError> {
    Ok(Json(s.accounts.set_second_neighborhood(&user, None).await?))
}

/// Makes the second neighbourhood the active one (and the active one the second).
#[utoipa::path(post, path = "/api/v1/me/neighborhood/switch", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = ErrorEnvelope), (status = 409, description = "no_second_neighborhood", body = ErrorEnvelope)))]
async fn switch_neighborhood(State(s): State<AccountsState>, user: AuthUser) -> Result<Json<UserView>, ApiError> {
    Ok(Json(s.accounts.switch_neighborhood(&user).await?))
}

#[derive(Deserialize, ToSchema)]
struct ReachInput {
    /// 1, 3, 5 or 10.
    km: i64,
}

/// How far the home feed and keyword alerts reach from my neighbourhood.
#[utoipa::path(put, path = "/api/v1/me/neighborhood/reach", tag = "accounts", security(("bearer" = [])), request_body = ReachInput,
    responses((status = 200, body = UserView), (status = 401, body = ErrorEnvelope), (status = 409, description = "no_neighborhood", body = ErrorEnvelope),
              (status = 422, body = ErrorEnvelope)))]
async fn set_reach(State(s): State<AccountsState>, user: AuthUser, Json(input): Json<ReachInput>) -> Result<Json<UserView>, ApiError> {
    Ok(Json(s.accounts.set_reach(&user, input.km).await?))
}

#[utoipa::path(delete, path = "/api/v1/me/neighborhood", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = ErrorEnvelope)))]
async fn clear_neighborhood(State(s): State<AccountsState>, user: AuthUser) -> Result<Json<UserView>, ApiError> {
    Ok(Json(s.accounts.set_neighborhood(&user, None).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordChangeInput {
    pub current_password: String,
    #[schema(min_length = 8, max_length = 128)]
    pub new_password: String,
}

/// Change the password; needs the current one and ends every other session. Limited per user and per address.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "accounts", security(("bearer" = [])), request_body = PasswordChangeInput,
    responses((status = 204), (status = 401, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope), (status = 429, body = ErrorEnvelope),
              (status = 503, description = "password hashing is saturated (server_busy, Retry-After)", body = ErrorEnvelope)))]
async fn change_password(
    State(s): State<AccountsState>,
    user: AuthUser,
    ClientIp(ip): ClientIp,
    Json(input): Json<PasswordChangeInput>,
) -> Result<StatusCode, ApiError> {
    s.accounts.change_password(&user, &input.current_password, &input.new_password, ip).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct EmailChangeInput {
    /// The new address.
    pub email: String,
    /// The account's current password: an access token alone cannot move the account.
    #[serde(default)]
    pub current_password: String,
}

/// Mail a 6-digit code to the new address; the change happens at `/me/email/verify`, after which
/// the old address is told.
#[utoipa::path(post, path = "/api/v1/me/email", tag = "accounts", security(("bearer" = [])), request_body = EmailChangeInput,
    responses((status = 202), (status = 401, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
              (status = 422, description = "current_password_required / wrong_current_password / validation_failed", body = ErrorEnvelope),
              (status = 429, body = ErrorEnvelope), (status = 503, description = "password hashing is saturated (server_busy, Retry-After)", body = ErrorEnvelope)))]
async fn request_email_change(
    State(s): State<AccountsState>,
    user: AuthUser,
    Json(input): Json<EmailChangeInput>,
) -> Result<StatusCode, ApiError> {
    s.accounts.request_email_change(&user, &input.email, &input.current_password).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize, ToSchema)]
pub struct CodeInput {
    #[schema(pattern = r"^[\s-]*(?:[0-9][\s-]*){6}$")]
    pub code: String,
}

/// Confirm the email change with the mailed code.
#[utoipa::path(post, path = "/api/v1/me/email/verify", tag = "accounts", security(("bearer" = [])), request_body = CodeInput,
    responses((status = 200, body = UserView), (status = 401, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn verify_email_change(
    State(s): State<AccountsState>,
    user: AuthUser,
    Json(input): Json<CodeInput>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(s.accounts.verify_email_change(&user, &input.code).await?))
}

#[derive(Serialize, ToSchema)]
struct SessionList {
    items: Vec<SessionView>,
    next_cursor: Option<String>,
}

/// Live sessions (devices), most recently used first; `current` marks this one.
#[utoipa::path(get, path = "/api/v1/me/sessions", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = SessionList), (status = 401, body = ErrorEnvelope)))]
async fn list_sessions(State(s): State<AccountsState>, user: AuthUser) -> Result<Json<SessionList>, ApiError> {
    Ok(Json(SessionList { items: s.accounts.sessions(&user).await?, next_cursor: None }))
}

#[derive(Serialize, ToSchema)]
struct Revoked {
    revoked: usize,
}

/// Log out every other device.
#[utoipa::path(delete, path = "/api/v1/me/sessions", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = Revoked), (status = 401, body = ErrorEnvelope)))]
async fn revoke_other_sessions(State(s): State<AccountsState>, user: AuthUser) -> Result<Json<Revoked>, ApiError> {
    Ok(Json(Revoked { revoked: s.accounts.revoke_other_sessions(&user).await? }))
}

/// Log out one device (one of the caller's own sessions).
#[utoipa::path(delete, path = "/api/v1/me/sessions/{id}", tag = "accounts", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn revoke_session(State(s): State<AccountsState>, user: AuthUser, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found("session_not_found", "세션을 찾을 수 없습니다."))?;
    s.accounts.revoke_session(&user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
