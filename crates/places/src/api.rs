//! The places JSON API (DESIGN §4): 읍면동 autocomplete and "which 동 is this point in".
//! Answers depend only on the embedded table, so they may be cached for a day.

use axum::{
    http::header,
    response::{IntoResponse, Response},
};
use gonggu_kernel::{error::ErrorEnvelope, ApiError, Json, Query};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{Outside, Place};

pub fn router() -> OpenApiRouter {
    OpenApiRouter::new().routes(routes!(search)).routes(routes!(reverse))
}

/// Most places one search answers.
pub const MAX_RESULTS: usize = 20;

fn cached(body: impl IntoResponse) -> Response {
    ([(header::CACHE_CONTROL, "public, max-age=86400")], body).into_response()
}

#[derive(Deserialize, IntoParams)]
struct SearchQuery {
    /// What was typed: a 읍면동 name or its start, optionally after the 시군구 or 시도 ("강남구 역삼").
    q: String,
    #[param(minimum = 1, maximum = 20)]
    limit: Option<usize>,
}

#[derive(Serialize, ToSchema)]
struct Places {
    /// Best match first: exact names, then names starting with the query, then containing it.
    items: Vec<Place>,
}

/// 읍면동 search for autocomplete ("역삼" → 서울특별시 강남구 역삼동, …). A blank query finds nothing.
#[utoipa::path(get, path = "/api/v1/places", tag = "places", params(SearchQuery),
    responses((status = 200, body = Places), (status = 400, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn search(Query(q): Query<SearchQuery>) -> Result<Response, ApiError> {
    if q.q.chars().count() > 50 {
        return Err(ApiError::field("q", "검색어는 50자까지입니다."));
    }
    let limit = match q.limit {
        None => 10,
        Some(n) if (1..=MAX_RESULTS).contains(&n) => n,
        Some(_) => return Err(ApiError::field("limit", "limit은 1부터 20까지입니다.")),
    };
    Ok(cached(Json(Places { items: crate::search(&q.q, limit).into_iter().copied().collect() })))
}

#[derive(Deserialize, IntoParams)]
struct ReverseQuery {
    /// Latitude, WGS84 degrees.
    lat: f64,
    /// Longitude, WGS84 degrees.
    lon: f64,
}

/// The 읍면동 a point lies in (동네 인증 from the browser's location). Points within about 300 m
/// of the coast count as the nearest 동.
#[utoipa::path(get, path = "/api/v1/places/reverse", tag = "places", params(ReverseQuery),
    responses((status = 200, body = Place), (status = 400, body = ErrorEnvelope),
              (status = 404, description = "not_in_korea: at sea or abroad", body = ErrorEnvelope),
              (status = 422, description = "not a coordinate", body = ErrorEnvelope)))]
async fn reverse(Query(q): Query<ReverseQuery>) -> Result<Response, ApiError> {
    match crate::reverse(q.lat, q.lon) {
        Ok(place) => Ok(cached(Json(*place))),
        Err(e @ Outside::NotInKorea) => Err(ApiError::not_found("not_in_korea", e.to_string())),
        Err(e @ Outside::InvalidCoordinate) => Err(ApiError::field("lat", e.to_string())),
    }
}
