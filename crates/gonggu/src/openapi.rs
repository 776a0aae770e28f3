//! The OpenAPI document served at `/api/openapi.json`.
//!
//! Each handler documents the answers it decides itself. The refusals made by the shared
//! extractors — a body that is not JSON, a wrong content type, a missing or mistyped field, a
//! missing or bad token, a query that does not parse, a cursor this server did not make — are
//! the same for every operation that meets them, so they are added here from what each
//! operation accepts, and no handler can forget one.

use utoipa::{
    openapi::{
        header::HeaderBuilder,
        path::{Operation, ParameterIn},
        security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme},
        Content, ObjectBuilder, OpenApi as Document, Ref, RefOr, Response, Type,
    },
    Modify, OpenApi,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "공구마켓 API", version = "1", description = "우리 동네 공동구매 공구마켓의 JSON API. 오류는 `{\"error\": {code, message, details}}` 형식입니다."),
    modifiers(&BearerAuth),
    components(schemas(gonggu_kernel::error::ErrorEnvelope, gonggu_kernel::error::ErrorBody))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// Completes the routed document (the base [`ApiDoc`] merged with every context's routes) with
/// the shared refusals. It must run after the merge: the routes are not in [`ApiDoc`] itself.
pub fn complete(mut doc: Document) -> Document {
    SharedRefusals.modify(&mut doc);
    doc
}

/// The answers that the kernel's extractors give, by what an operation accepts.
pub struct SharedRefusals;

pub const MALFORMED_JSON: &str = "`malformed_json`: the body is not JSON";
pub const UNSUPPORTED_MEDIA_TYPE: &str = "`unsupported_media_type`: the body is not sent as `Content-Type: application/json`";
pub const PAYLOAD_TOO_LARGE: &str = "`payload_too_large`: the body is larger than the limit";
pub const INVALID_CHARACTERS: &str = "`invalid_characters`: a text holds control or bidirectional-control characters";
pub const VALIDATION_FAILED: &str = "`validation_failed`: a field is missing, of the wrong type or out of its range (`details.fields`)";
pub const MALFORMED_MULTIPART: &str = "`malformed_multipart`: the body is not multipart/form-data";
pub const INVALID_QUERY: &str = "`invalid_query`: a query parameter does not parse or is out of its range";
pub const INVALID_CURSOR: &str = "`invalid_cursor`: the cursor was not made by this server";
pub const UNAUTHORIZED: &str =
    "`missing_token`, `invalid_token`, `token_expired`, `session_revoked`: no valid `Authorization: Bearer` access token";
pub const RATE_LIMITED: &str = "`rate_limited`: too many requests; retry after `Retry-After` seconds";

impl Modify for SharedRefusals {
    fn modify(&self, doc: &mut Document) {
        for item in doc.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
                &mut item.options,
                &mut item.trace,
            ];
            for op in operations.into_iter().flatten() {
                add_refusals(op);
            }
        }
    }
}

fn add_refusals(op: &mut Operation) {
    let body_types: Vec<String> = op.request_body.as_ref().map(|b| b.content.keys().cloned().collect()).unwrap_or_default();
    if body_types.iter().any(|t| t == "application/json") {
        refuse(op, "400", MALFORMED_JSON);
        refuse(op, "413", PAYLOAD_TOO_LARGE);
        refuse(op, "415", UNSUPPORTED_MEDIA_TYPE);
        refuse(op, "422", VALIDATION_FAILED);
    }
    if body_types.iter().any(|t| t == "multipart/form-data") {
        refuse(op, "400", MALFORMED_MULTIPART);
        refuse(op, "413", PAYLOAD_TOO_LARGE);
    }
    let query: Vec<String> =
        op.parameters.iter().flatten().filter(|p| matches!(p.parameter_in, ParameterIn::Query)).map(|p| p.name.clone()).collect();
    if !query.is_empty() {
        refuse(op, "400", INVALID_QUERY);
    }
    if query.iter().any(|n| n == "cursor") {
        refuse(op, "400", INVALID_CURSOR);
    }
    // Any text a client sends — path segments and query values too — is refused with 422
    // `invalid_characters` when it holds control characters (kernel::text).
    if op.parameters.iter().flatten().next().is_some() || !body_types.is_empty() {
        refuse(op, "422", INVALID_CHARACTERS);
    }
    // Optional auth (`[{}, {"bearer": []}]`) counts too: a token that is sent is checked.
    let secured = op.security.iter().flatten().any(|r| *r != SecurityRequirement::default());
    if secured {
        refuse(op, "401", UNAUTHORIZED);
    }
    if let Some(RefOr::T(limited)) = op.responses.responses.get_mut("429") {
        describe(limited, RATE_LIMITED);
        let seconds = ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)).build();
        limited
            .headers
            .entry("Retry-After".into())
            .or_insert_with(|| HeaderBuilder::new().schema(seconds).description(Some("seconds to wait")).build());
    }
}

/// Adds `status` with the error envelope, or adds `text` to the description the handler gave it.
fn refuse(op: &mut Operation, status: &str, text: &str) {
    let response = op.responses.responses.entry(status.to_owned()).or_insert_with(|| RefOr::T(Response::new(String::new())));
    if let RefOr::T(response) = response {
        describe(response, text);
        response.content.entry("application/json".into()).or_insert_with(|| Content::new(Some(Ref::from_schema_name("ErrorEnvelope"))));
    }
}

fn describe(response: &mut Response, text: &str) {
    if response.description.contains(text) {
        return;
    }
    response.description = if response.description.is_empty() { text.to_owned() } else { format!("{}; {text}", response.description) };
}
