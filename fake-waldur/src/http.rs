//! HTTP plumbing shared by the API handlers: DRF-shaped errors, query-string
//! access with repeated keys, the absolute-URL base, body parsing, `field=`
//! projection and the django-filter style filters.

use crate::ids;
use crate::model::Object;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::convert::Infallible;
use std::fmt;

/// An error response in Django REST framework's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Value,
    pub headers: Vec<(header::HeaderName, String)>,
}

impl ApiError {
    pub fn new(status: StatusCode, body: Value) -> Self {
        ApiError {
            status,
            body,
            headers: Vec::new(),
        }
    }
    pub fn detail(status: StatusCode, msg: &str) -> Self {
        Self::new(status, json!({ "detail": msg }))
    }
    pub fn not_found() -> Self {
        Self::detail(StatusCode::NOT_FOUND, "Not found.")
    }
    pub fn invalid_page() -> Self {
        Self::detail(StatusCode::NOT_FOUND, "Invalid page.")
    }
    pub fn unauthorized(msg: &str) -> Self {
        let mut e = Self::detail(StatusCode::UNAUTHORIZED, msg);
        e.headers.push((header::WWW_AUTHENTICATE, "Token".into()));
        e
    }
    /// Mastermind's `IncorrectStateException`.
    pub fn wrong_state(valid: &[&str]) -> Self {
        let msg = format!("Valid states for operation: {}.", valid.join(", "));
        Self::detail(StatusCode::CONFLICT, &msg)
    }
    /// `400 {"field": ["msg"]}`.
    pub fn field(field: &str, msg: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, json!({ field: [msg] }))
    }
    pub fn non_field(msg: &str) -> Self {
        Self::field("non_field_errors", msg)
    }
    pub fn required(field: &str) -> Self {
        Self::field(field, "This field is required.")
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.body)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = json_response(self.status, &self.body);
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                resp.headers_mut().insert(name, v);
            }
        }
        resp
    }
}

pub type ApiResult<T = Response> = Result<T, ApiError>;

pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

pub fn ok(body: Value) -> ApiResult {
    Ok(json_response(StatusCode::OK, &body))
}

/// 201 with an empty body, as `set_usage` and `set_user_usages` answer.
pub fn created_empty() -> ApiResult {
    Ok(StatusCode::CREATED.into_response())
}

/// The decoded query string, keeping repeated keys and their order.
#[derive(Debug, Clone, Default)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = form_urlencoded::parse(raw.unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Query(pairs)
    }
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    /// Django's `QueryDict.get`: the last value wins.
    pub fn last(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    pub fn fields(&self) -> Vec<String> {
        self.all("field").map(str::to_string).collect()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Query::parse(parts.uri.query()))
    }
}

/// `http://<Host header>`; all `url` fields and `Link` targets are built on it.
#[derive(Debug, Clone)]
pub struct Base(pub String);

impl Base {
    /// `<base>/api/<collection>/<uuid>/`.
    pub fn url(&self, collection: &str, uuid: &str) -> String {
        format!("{}/api/{collection}/{uuid}/", self.0)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Base {
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .unwrap_or("127.0.0.1");
        Ok(Base(format!("http://{host}")))
    }
}

/// Parses a JSON object body. No body counts as `{}` (the agent sends none
/// on several action POSTs).
pub fn parse_body(bytes: &[u8]) -> ApiResult<Object> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Object::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(ApiError::non_field(&format!(
            "Invalid data. Expected a dictionary, but got {}.",
            python_type(&other)
        ))),
        Err(e) => Err(ApiError::detail(
            StatusCode::BAD_REQUEST,
            &format!("JSON parse error - {e}"),
        )),
    }
}

/// The Python type name DRF puts in its messages for a JSON value.
pub fn python_type(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "dict",
        Value::Array(_) => "list",
        Value::String(_) => "str",
        Value::Number(_) => "int",
        Value::Bool(_) => "bool",
        Value::Null => "NoneType",
    }
}

/// DRF's `ListField` error for a value that is not a list.
pub fn not_a_list(field: &str, v: &Value) -> ApiError {
    let msg = format!(
        "Expected a list of items but got type \"{}\".",
        python_type(v)
    );
    ApiError::field(field, &msg)
}

/// A UUID from a URL path; anything that is not a UUID would not have matched
/// Django's URL pattern, hence 404.
pub fn path_uuid(raw: &str) -> ApiResult<String> {
    ids::normalize(raw).ok_or_else(ApiError::not_found)
}

/// Waldur's `RestrictedSerializerMixin`: keep the requested keys (in the
/// serializer's order); unknown names are ignored; no valid name = everything.
pub fn project(value: Value, fields: &[String]) -> Value {
    let Value::Object(map) = value else {
        return value;
    };
    if !fields.iter().any(|f| map.contains_key(f)) {
        return Value::Object(map);
    }
    Value::Object(
        map.into_iter()
            .filter(|(k, _)| fields.iter().any(|f| f == k))
            .collect(),
    )
}

/// `UUIDFilter`/`MultipleUUIDFilter`: empty values are ignored; a bad value is a 400.
pub fn uuid_filter(q: &Query, key: &str) -> ApiResult<Option<Vec<String>>> {
    let mut out = Vec::new();
    for v in q.all(key).filter(|v| !v.is_empty()) {
        out.push(ids::normalize(v).ok_or_else(|| ApiError::field(key, "Enter a valid UUID."))?);
    }
    Ok((!out.is_empty()).then_some(out))
}

/// Single-valued UUID filter (last value wins, like `QueryDict.get`).
pub fn single_uuid_filter(q: &Query, key: &str) -> ApiResult<Option<String>> {
    match q.last(key).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => ids::normalize(v)
            .map(Some)
            .ok_or_else(|| ApiError::field(key, "Enter a valid UUID.")),
    }
}

/// `MultipleChoiceFilter` over exact enum strings.
pub fn choice_filter(q: &Query, key: &str, allowed: &[&str]) -> ApiResult<Option<Vec<String>>> {
    let mut out = Vec::new();
    for v in q.all(key).filter(|v| !v.is_empty()) {
        if !allowed.contains(&v) {
            let msg = format!("Select a valid choice. {v} is not one of the available choices.");
            return Err(ApiError::field(key, &msg));
        }
        out.push(v.to_string());
    }
    Ok((!out.is_empty()).then_some(out))
}

pub fn bool_filter(q: &Query, key: &str) -> ApiResult<Option<bool>> {
    match q.last(key).map(str::to_ascii_lowercase).as_deref() {
        None | Some("") => Ok(None),
        Some("true" | "1") => Ok(Some(true)),
        Some("false" | "0") => Ok(Some(false)),
        Some(_) => Err(ApiError::field(key, "Select a valid choice.")),
    }
}

pub fn date_filter(q: &Query, key: &str) -> ApiResult<Option<String>> {
    match q.last(key).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) if crate::clock::parse_date(v).is_some() => Ok(Some(v.to_string())),
        Some(_) => Err(ApiError::field(key, "Enter a valid date.")),
    }
}

/// True when the filter is absent or contains the value.
pub fn admits(filter: &Option<Vec<String>>, value: &str) -> bool {
    filter.as_ref().is_none_or(|f| f.iter().any(|v| v == value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_keeps_order_and_ignores_unknown() {
        let v = json!({"uuid": "u", "state": "OK", "name": "n"});
        let f = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            project(v.clone(), &f(&["name", "uuid", "bogus"])).to_string(),
            r#"{"uuid":"u","name":"n"}"#
        );
        assert_eq!(project(v.clone(), &f(&["bogus"])), v);
        assert_eq!(project(v.clone(), &[]), v);
    }

    #[test]
    fn query_keeps_repeats() {
        let q = Query::parse(Some("state=OK&state=Erred&field=uuid&x=1&x=2"));
        assert_eq!(q.all("state").collect::<Vec<_>>(), ["OK", "Erred"]);
        assert_eq!(q.last("x"), Some("2"));
    }
}
