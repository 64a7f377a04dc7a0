//! Extractors whose rejections use the error envelope.
//!
//! axum's own `Json`, `Path` and `Query` answer bad input with plain text
//! and a mix of 400/415/422; these answer `{"detail": ...}` with 413 for a
//! body over [`MAX_BODY_BYTES`], 408 for one sent too slowly, 400 for a
//! broken one and 422 for anything malformed. A JSON body is
//! accepted with or without a `Content-Type` header, as FastAPI clients send.

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

use http_body_util::BodyExt;

use crate::error::ApiError;
use crate::messages;
use crate::server::BodyTimedOut;

/// The largest request body any service reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON request body or response.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(req, state).await?;
        parse_json(&bytes).map(Json)
    }
}

/// A JSON body that may be absent (an empty body is `None`).
#[derive(Debug, Clone, Default)]
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        parse_json(&bytes).map(|value| OptionalJson(Some(value)))
    }
}

async fn body_bytes<S: Send + Sync>(req: Request, _state: &S) -> Result<Bytes, ApiError> {
    read_body(req.into_body(), MAX_BODY_BYTES).await
}

/// Reads a whole request body of at most `limit` bytes: 413 when it is
/// larger (at once when its `Content-Length` says so), 408 when it does not
/// arrive within the server's body read timeout, 400 when it is malformed
/// (a broken chunked encoding) or the client hung up.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let too_large =
        || ApiError::PayloadTooLarge(format!("Request body is larger than {limit} bytes"));
    if body.size_hint().lower() > limit as u64 {
        return Err(too_large());
    }
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) => {
            let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err.as_ref());
            while let Some(err) = cause {
                if err.is::<http_body_util::LengthLimitError>() {
                    return Err(too_large());
                }
                if err.is::<BodyTimedOut>() {
                    return Err(ApiError::RequestTimeout(
                        "Request body was not received in time".to_owned(),
                    ));
                }
                cause = err.source();
            }
            Err(ApiError::BadRequest(format!(
                "Could not read the request body: {err}"
            )))
        }
    }
}

/// Parses a JSON object, naming the offending field in the error. Every
/// body of this API is an object: an array is refused rather than read by
/// position into the fields.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => {
            return Err(ApiError::Unprocessable(
                "Request body must be a JSON object".to_owned(),
            ))
        }
        Some(b'{') => {}
        Some(_) => {
            return Err(ApiError::Unprocessable(
                "Request body must be a JSON object, such as {\"name\": ...}".to_owned(),
            ))
        }
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        ApiError::Unprocessable(messages::json_body(&path, err.inner()))
    })?;
    de.end()
        .map_err(|err| ApiError::Unprocessable(messages::json_body("", &err)))?;
    Ok(value)
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Path parameters; a value of the wrong type is a 422.
#[derive(Debug, Clone, Copy)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => Err(ApiError::Unprocessable(path_problem(parts, rejection))),
        }
    }
}

/// The names of the route's path parameters, in order (`/orders/{order_id}`
/// names `order_id`).
fn parameter_names(parts: &Parts) -> Vec<String> {
    parts
        .extensions
        .get::<MatchedPath>()
        .map(|matched| {
            matched
                .as_str()
                .split('/')
                .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
                .map(|name| name.trim_start_matches('*').to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A plain sentence for a path that does not parse.
fn path_problem(parts: &Parts, rejection: PathRejection) -> String {
    let PathRejection::FailedToDeserializePathParams(failed) = rejection else {
        return format!("The path is not valid: {}", rejection.body_text());
    };
    let names = parameter_names(parts);
    match failed.into_kind() {
        ErrorKind::ParseErrorAtKey {
            key,
            value,
            expected_type,
        } => messages::path_parameter(Some(&key), &value, expected_type),
        ErrorKind::ParseErrorAtIndex {
            index,
            value,
            expected_type,
        } => messages::path_parameter(names.get(index).map(String::as_str), &value, expected_type),
        ErrorKind::ParseError {
            value,
            expected_type,
        } => messages::path_parameter(names.first().map(String::as_str), &value, expected_type),
        other => format!("The path is not valid: {other}"),
    }
}

/// Query parameters; a missing or malformed value is a 422.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(Query)
            .map_err(|err| {
                let path = err.path().to_string();
                let mut message = messages::data_message(&path, &err.into_inner().to_string());
                // Say what was sent, when the sentence does not.
                let sent = form_urlencoded::parse(query.as_bytes())
                    .find(|(key, _)| *key == path)
                    .map(|(_, value)| value.into_owned());
                if let Some(sent) = sent.filter(|_| !message.contains(", not ")) {
                    message.push_str(&format!(", not {sent:?}"));
                }
                ApiError::Unprocessable(format!("In the query: {message}"))
            })
    }
}

/// `(skip, limit)` of a list query: skip defaults to 0 and may not be
/// negative; limit defaults to 100 and runs from 0 to 1000.
pub fn page(skip: Option<i64>, limit: Option<i64>) -> Result<(i64, i64), ApiError> {
    let (skip, limit) = (skip.unwrap_or(0), limit.unwrap_or(100));
    if skip < 0 || !(0..=1000).contains(&limit) {
        return Err(ApiError::Unprocessable(
            "skip must not be negative and limit must be from 0 to 1000".to_owned(),
        ));
    }
    Ok((skip, limit))
}

/// A query parameter `name` as an instant: RFC 3339
/// (`2026-11-01T10:00:00Z`) or a date (`2026-11-01`, midnight UTC); 422
/// otherwise.
pub fn instant(name: &str, raw: &str) -> Result<chrono::DateTime<chrono::Utc>, ApiError> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Ok(at.with_timezone(&chrono::Utc));
    }
    if let Ok(day) = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        if let Some(midnight) = day.and_hms_opt(0, 0, 0) {
            return Ok(midnight.and_utc());
        }
    }
    Err(ApiError::Unprocessable(format!(
        "{name} must be a date (2026-11-01) or an RFC 3339 time (2026-11-01T10:00:00Z), not {raw:?}"
    )))
}

/// A query parameter `name` as an amount of money (`12.50`); 422 otherwise.
pub fn money(name: &str, raw: &str) -> Result<crate::Money, ApiError> {
    crate::Money::parse(raw.trim())
        .map_err(|err| ApiError::Unprocessable(format!("{name} {err}, not {raw:?}")))
}

/// The query parameters `{name}_min` and `{name}_max` as an inclusive range
/// of money, either end open; 422 when one is not an amount, or the minimum
/// is above the maximum.
pub fn money_range(
    name: &str,
    min: Option<&str>,
    max: Option<&str>,
) -> Result<(Option<crate::Money>, Option<crate::Money>), ApiError> {
    let (min_name, max_name) = (format!("{name}_min"), format!("{name}_max"));
    let min = min.map(|raw| money(&min_name, raw)).transpose()?;
    let max = max.map(|raw| money(&max_name, raw)).transpose()?;
    if let (Some(low), Some(high)) = (min, max) {
        if low > high {
            return Err(ApiError::Unprocessable(format!(
                "{min_name} must not be above {max_name}"
            )));
        }
    }
    Ok((min, max))
}

/// Checks a user id: 1 to 128 characters, taken literally (`victim#` is
/// not `victim`), without control characters and without white space at
/// either end (`"alice "` would be another user who looks the same).
pub fn check_user_id(user_id: &str) -> Result<(), ApiError> {
    if user_id.is_empty() || user_id.chars().count() > 128 {
        return Err(ApiError::Unprocessable(
            "user_id must be from 1 to 128 characters".to_owned(),
        ));
    }
    if user_id.chars().any(char::is_control) {
        return Err(ApiError::Unprocessable(
            "user_id must not contain control characters".to_owned(),
        ));
    }
    if user_id.trim() != user_id {
        return Err(ApiError::Unprocessable(
            "user_id must not begin or end with white space".to_owned(),
        ));
    }
    // A URL path cannot carry them: clients and proxies resolve them as
    // "this" and "the parent" segment before the request leaves.
    if user_id == "." || user_id == ".." {
        return Err(ApiError::Unprocessable(
            "user_id must not be \".\" or \"..\"".to_owned(),
        ));
    }
    Ok(())
}
