//! `POST /api/v1/media` (multipart, field `file`, repeatable) and `GET /media/{key}`.

use std::sync::Arc;

use axum::{
    extract::{DefaultBodyLimit, FromRef, Multipart, Path, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use gonggu_kernel::{
    auth::{AuthUser, Authenticator},
    error::ErrorEnvelope,
    ApiError, Json,
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{process, Media, Refused, Rejected};

pub const MAX_FILES: usize = 5;

#[derive(Clone, FromRef)]
pub struct MediaState {
    pub media: Arc<Media>,
    pub auth: Arc<Authenticator>,
}

pub fn router(state: MediaState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(upload))
        // Five 5 MB files plus multipart overhead.
        .layer(DefaultBodyLimit::max(MAX_FILES * process::MAX_BYTES + 64 * 1024))
        .with_state(state)
}

/// Serving stored images; outside `/api` because pages embed them.
pub fn files(media: Arc<Media>) -> Router {
    Router::new().route("/media/{key}", get(serve)).with_state(media)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Uploaded {
    pub key: String,
    pub url: String,
    pub thumbnail_url: String,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadList {
    pub items: Vec<Uploaded>,
}

/// Upload up to five images (JPEG, PNG, WebP, GIF; ≤ 5 MB and ≤ 40 megapixels each). They are
/// re-encoded without metadata and stored under content-addressed keys.
#[utoipa::path(post, path = "/api/v1/media", tag = "media", security(("bearer" = [])),
    request_body(content_type = "multipart/form-data", description = "one or more `file` fields"),
    responses((status = 201, body = UploadList), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
              (status = 413, body = ErrorEnvelope), (status = 422, description = "not an image, too many pixels, too many files", body = ErrorEnvelope),
              (status = 429, description = "upload_in_progress: this user's previous upload is still running (see Retry-After)", body = ErrorEnvelope),
              (status = 503, description = "upload_busy: every image decoder is busy and the queue is full (see Retry-After)", body = ErrorEnvelope)))]
async fn upload(
    State(s): State<MediaState>,
    user: AuthUser,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<(StatusCode, Json<UploadList>), ApiError> {
    let mut form = form.map_err(|_| ApiError::bad_request("malformed_multipart", "multipart/form-data 형식으로 보내 주세요."))?;
    // Held until the last file is stored, so one person's uploads run one after another.
    let _slot = s.media.slot_for(user.user_id).ok_or_else(|| {
        let mut e =
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "upload_in_progress", "이미 사진을 올리는 중입니다. 끝난 뒤에 다시 올려 주세요.");
        e.retry_after_secs = Some(UPLOAD_RETRY_AFTER_SECS);
        e
    })?;
    let mut items = vec![];
    let mut index = 0;
    while let Some(field) = form.next_field().await.map_err(multipart_error)? {
        if field.name() != Some("file") {
            continue;
        }
        if index == MAX_FILES {
            return Err(ApiError::field("file", "사진은 한 번에 5장까지 올릴 수 있습니다."));
        }
        let bytes = field.bytes().await.map_err(multipart_error)?;
        let stored = s.media.upload(bytes.to_vec()).await?;
        let p = stored.map_err(|r| refusal_error(r, index))?;
        tracing::info!(user = %user.user_id, key = %p.key, bytes = p.image.len(), "image stored");
        items.push(Uploaded {
            url: crate::url(&p.key),
            thumbnail_url: crate::url(&p.thumbnail_key),
            key: p.key,
            width: p.width,
            height: p.height,
        });
        index += 1;
    }
    if items.is_empty() {
        return Err(ApiError::field("file", "올릴 사진을 골라 주세요."));
    }
    Ok((StatusCode::CREATED, Json(UploadList { items })))
}

/// A second upload of the same user waits this long: about one photo's processing.
const UPLOAD_RETRY_AFTER_SECS: u64 = 2;

fn refusal_error(r: Refused, index: usize) -> ApiError {
    let image = match r {
        Refused::Busy => {
            let mut e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "upload_busy", r.message());
            e.retry_after_secs = Some(Refused::RETRY_AFTER_SECS);
            return e;
        }
        Refused::Image(image) => image,
    };
    let e = ApiError::field("file", r.message()).with_details(serde_json::json!({"fields": {"file": r.message()}, "index": index}));
    if image == Rejected::TooLarge {
        e.with_code("file_too_large")
    } else {
        e
    }
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "한 번에 올릴 수 있는 크기를 넘었습니다.");
    }
    ApiError::bad_request("malformed_multipart", "multipart/form-data 형식이 올바르지 않습니다.")
}

async fn serve(State(media): State<Arc<Media>>, Path(key): Path<String>) -> Response {
    let Some(content_type) = process::valid_key(&key) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match media.get(&key).await {
        Ok(Some(bytes)) => (
            [
                (header::CONTENT_TYPE, content_type),
                // The key is the content's hash: it never changes.
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::CONTENT_DISPOSITION, "inline"),
            ],
            bytes,
        )
            .into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}
