//! The OpenAPI document is exact: a client generated from it knows every answer an operation can
//! give and every range, enum and pattern of what it may send (`tools/fuzz-api.sh` holds the
//! server to it with Schemathesis).

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{error_of, spawn_app};

async fn document() -> Value {
    let app = spawn_app().await;
    app.get("/api/openapi.json").await.json().await.unwrap()
}

/// `(METHOD path, operation)` for every operation.
fn operations(doc: &Value) -> Vec<(String, Value)> {
    let mut out = vec![];
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((format!("{} {path}", method.to_uppercase()), op.clone()));
        }
    }
    out
}

fn assert_error_answer(name: &str, op: &Value, status: &str, code: &str) {
    let response = &op["responses"][status];
    assert_eq!(
        response["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorEnvelope",
        "{name} documents {status} with the error envelope"
    );
    let description = response["description"].as_str().unwrap_or_default();
    assert!(description.contains(code), "{name}: {status} names `{code}`: {description:?}");
}

fn param<'a>(op: &'a Value, name: &str) -> &'a Value {
    op["parameters"].as_array().and_then(|ps| ps.iter().find(|p| p["name"] == name)).unwrap_or(&Value::Null)
}

#[tokio::test]
async fn every_operation_documents_the_refusals_of_what_it_accepts() {
    let doc = document().await;
    let mut checked = (0, 0, 0);
    for (name, op) in operations(&doc) {
        let body = &op["requestBody"]["content"];
        if body.get("application/json").is_some() {
            assert_error_answer(&name, &op, "400", "malformed_json");
            assert_error_answer(&name, &op, "413", "payload_too_large");
            assert_error_answer(&name, &op, "415", "unsupported_media_type");
            assert_error_answer(&name, &op, "422", "validation_failed");
            checked.0 += 1;
        }
        if body.get("multipart/form-data").is_some() {
            assert_error_answer(&name, &op, "400", "malformed_multipart");
            assert_error_answer(&name, &op, "413", "payload_too_large");
        }
        let secured = op["security"].as_array().is_some_and(|reqs| reqs.iter().any(|r| r.as_object().is_some_and(|r| !r.is_empty())));
        if secured {
            for code in ["missing_token", "invalid_token", "token_expired", "session_revoked"] {
                assert_error_answer(&name, &op, "401", code);
            }
            checked.1 += 1;
        }
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        if params.iter().any(|p| p["in"] == "query") {
            assert_error_answer(&name, &op, "400", "invalid_query");
            checked.2 += 1;
        }
        if params.iter().any(|p| p["in"] == "query" && p["name"] == "cursor") {
            assert_error_answer(&name, &op, "400", "invalid_cursor");
        }
        if let Some(limited) = op["responses"].get("429") {
            assert!(limited["headers"].get("Retry-After").is_some(), "{name}: 429 documents Retry-After");
        }
    }
    // Some of each kind, so a document that lost them would not pass quietly.
    assert!(checked.0 >= 15 && checked.1 >= 20 && checked.2 >= 5, "{checked:?}");
}

/// A present but bad token is a 401 on the routes where signing in is optional, and the
/// document says so (`security: [{}, {"bearer": []}]`).
#[tokio::test]
async fn optional_auth_routes_document_their_401() {
    let doc = document().await;
    for path in ["/api/v1/deals", "/api/v1/deals/{id}"] {
        let op = &doc["paths"][path]["get"];
        assert_eq!(op["security"], serde_json::json!([{}, {"bearer": []}]), "{path}");
        assert_error_answer(path, op, "401", "invalid_token");
    }
    let app = spawn_app().await;
    let res = app.get_as("/api/v1/deals", "not-a-token").await;
    assert_eq!(error_of(res).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn list_limits_are_documented_and_enforced_as_1_to_100() {
    let doc = document().await;
    let mut seen = 0;
    for (name, op) in operations(&doc) {
        let limit = param(&op, "limit");
        if limit.is_null() {
            continue;
        }
        let range = (limit["schema"]["minimum"].as_i64(), limit["schema"]["maximum"].as_i64());
        if name == "GET /api/v1/places" {
            // Autocomplete, not a paged list: one short page of suggestions.
            assert_eq!(range, (Some(1), Some(20)), "{name}: {limit}");
            continue;
        }
        assert_eq!(range, (Some(1), Some(100)), "{name}: {limit}");
        seen += 1;
    }
    assert_eq!(seen, 6, "deals, my deals, a user's deals, wallet history, room history (enforced in chat.rs), notifications");

    let app = spawn_app().await;
    let token = app.token_for("limits");
    for path in ["/api/v1/deals", "/api/v1/me/deals", "/api/v1/users/limits/deals", "/api/v1/wallet/transactions", "/api/v1/notifications"]
    {
        for bad in ["0", "101", "4294967296"] {
            let (status, err) = error_of(app.get_as(&format!("{path}?limit={bad}"), &token).await).await;
            assert_eq!((status, err["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_query")), "{path}?limit={bad}");
        }
        for good in ["1", "100"] {
            assert_eq!(app.get_as(&format!("{path}?limit={good}"), &token).await.status(), StatusCode::OK, "{path}?limit={good}");
        }
    }
}

#[tokio::test]
async fn a_users_deals_takes_no_role() {
    let doc = document().await;
    let op = &doc["paths"]["/api/v1/users/{login_id}/deals"]["get"];
    assert!(param(op, "role").is_null(), "{op}");
    let role = param(&doc["paths"]["/api/v1/me/deals"]["get"], "role");
    assert_eq!(role["schema"]["enum"], serde_json::json!(["host", "member"]), "{role}");
}

#[tokio::test]
async fn enums_and_ranges_are_documented() {
    let doc = document().await;
    let deals = &doc["paths"]["/api/v1/deals"]["get"];
    assert_eq!(param(deals, "sort")["schema"]["enum"], serde_json::json!(["newest", "deadline", "remaining", "popular", "nearest"]));
    assert_eq!(
        param(deals, "status")["schema"]["enum"],
        serde_json::json!(["", "open", "recruiting", "confirmed", "completed", "cancelled", "failed"])
    );
    let lat = &param(deals, "lat")["schema"];
    assert_eq!((lat["minimum"].as_f64(), lat["maximum"].as_f64()), (Some(-90.0), Some(90.0)), "{lat}");
    assert_eq!(param(deals, "category")["schema"]["maximum"], gonggu_deals::domain::CATEGORIES.len());
    let history = &doc["paths"]["/api/v1/wallet/transactions"]["get"];
    assert_eq!(param(history, "direction")["schema"]["enum"], serde_json::json!(["all", "sent", "received"]));
    assert_eq!(param(history, "sort")["schema"]["enum"], serde_json::json!(["newest", "amount"]));

    let schemas = &doc["components"]["schemas"];
    let prop = |schema: &str, field: &str| schemas[schema]["properties"][field].clone();
    let range = |schema: &str, field: &str| {
        let p = prop(schema, field);
        (p["minimum"].as_i64(), p["maximum"].as_i64())
    };
    assert_eq!(range("AmountInput", "amount"), (Some(1), Some(10_000_000)));
    assert_eq!(range("TransferBody", "amount"), (Some(1), Some(10_000_000)));
    assert_eq!(range("SharesInput", "shares"), (Some(1), Some(99)));
    assert_eq!(prop("NewDealInput", "total_price")["minimum"], 100);
    assert_eq!(prop("NewDealInput", "shares_total")["maximum"], 100);
    assert_eq!(prop("NewDealInput", "unit")["enum"].as_array().map(Vec::len), Some(gonggu_deals::domain::UNITS.len()));
    assert_eq!(prop("NewDealInput", "category_id")["maximum"], gonggu_deals::domain::CATEGORIES.len());
    assert!(prop("RegisterInput", "login_id")["pattern"].is_string());
    let password = prop("RegisterInput", "password");
    assert_eq!((password["minLength"].as_u64(), password["maxLength"].as_u64()), (Some(8), Some(128)));
    assert!(prop("CodeInput", "code")["pattern"].is_string());
    let charge = &doc["paths"]["/api/v1/wallet/charge"]["post"];
    assert!(param(charge, "Idempotency-Key")["schema"]["pattern"].is_string());
}

/// A documented pattern is no stricter and no looser than the parser behind it, on the edge
/// cases of each rule.
#[tokio::test]
async fn documented_patterns_agree_with_the_parsers() {
    let doc = document().await;
    let schemas = &doc["components"]["schemas"];
    let pattern = |s: &Value| regex::Regex::new(s.as_str().unwrap()).unwrap();

    let login = pattern(&schemas["RegisterInput"]["properties"]["login_id"]["pattern"]);
    for s in ["abc", "a_1", "Alice", " bob ", "ab", "a".repeat(20).as_str(), "a".repeat(21).as_str(), "al-ice", "한글아이디", "al ice", ""]
    {
        assert_eq!(login.is_match(s), gonggu_accounts::domain::LoginId::parse(s).is_ok(), "login id {s:?}");
    }
    let code = pattern(&schemas["CodeInput"]["properties"]["code"]["pattern"]);
    for s in ["123456", "123-456", " 12 34 56 ", "12345", "1234567", "12345a", "١٢٣٤٥٦", ""] {
        assert_eq!(code.is_match(s), gonggu_accounts::domain::OneTimeCode::parse(s).is_ok(), "code {s:?}");
    }
    let key = pattern(&doc["paths"]["/api/v1/wallet/charge"]["post"]["parameters"][0]["schema"]["pattern"]);
    for s in ["k", "0b9d-uuid", "!~", "a".repeat(255).as_str(), "a".repeat(256).as_str(), "a b", "키", ""] {
        assert_eq!(key.is_match(s), gonggu_wallet::domain::IdempotencyKey::parse(s).is_ok(), "idempotency key {s:?}");
    }
    let url = pattern(&schemas["NewDealInput"]["properties"]["product_url"]["pattern"]);
    for s in
        ["https://a.example/x", "HTTP://a", " http://a ", "", "ftp://a", "https://", "https:///x", "javascript:alert(1)", "https://a b"]
    {
        assert_eq!(url.is_match(s), gonggu_deals::domain::parse_url(Some(s)).is_ok(), "url {s:?}");
    }
}
