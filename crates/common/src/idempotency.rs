//! `Idempotency-Key`: a retry with the same key gets the first response.
//!
//! A service records the response of a keyed request in its own database
//! (table `idempotency_keys`), in the same transaction as the request's
//! effect where the effect is local, so a crash cannot separate them. A
//! retry with the same key and the same request replays the recorded status
//! and body; the same key with a different request is a 422. When two
//! requests with one key race, the second to commit fails on the primary
//! key, rolls back its effect and replays the first one's response.
//!
//! Only final answers are recorded: a 5xx (a dependency down) is not, so a
//! retry runs again.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sqlx::{Any, Executor, Row};

use crate::db::{is_unique_violation, Batch, Column, Connections, Guard, Statements};
use crate::error::ApiError;
use crate::paging::{self, Arg};

/// The request header.
pub const HEADER: &str = "idempotency-key";

/// A keyed request: its scope (route), key and canonical request text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    scope: String,
    key: String,
    request: String,
}

/// A recorded response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub status: StatusCode,
    pub body: String,
}

impl IntoResponse for Recorded {
    fn into_response(self) -> Response {
        (
            self.status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            self.body,
        )
            .into_response()
    }
}

impl Idempotency {
    /// The request's key, if it has one. `scope` names the operation (e.g.
    /// `POST /orders/7/payment`); `request` is what must match on a retry.
    pub fn from_headers(
        headers: &HeaderMap,
        scope: impl Into<String>,
        request: &impl Serialize,
    ) -> Result<Option<Idempotency>, ApiError> {
        let Some(value) = headers.get(HEADER) else {
            return Ok(None);
        };
        let key = value
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|k| !k.is_empty() && k.len() <= 200)
            .ok_or_else(|| {
                ApiError::Unprocessable(
                    "Idempotency-Key must be 1 to 200 visible ASCII characters".to_owned(),
                )
            })?;
        // serde_json's maps are sorted, so equal requests give equal text.
        let request = serde_json::to_value(request)
            .and_then(|v| serde_json::to_string(&v))
            .map_err(ApiError::internal)?;
        Ok(Some(Idempotency {
            scope: scope.into(),
            key: key.to_owned(),
            request,
        }))
    }

    /// The key itself (to key effects in other services by it).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The recorded response of an earlier request with this key, or a 422
    /// when that request differed from this one.
    pub async fn replay<'c>(
        &self,
        db: impl Executor<'c, Database = Any>,
    ) -> Result<Option<Recorded>, ApiError> {
        let row = sqlx::query(
            "SELECT request, status, body FROM idempotency_keys WHERE scope = $1 AND key = $2",
        )
        .bind(self.scope.clone())
        .bind(self.key.clone())
        .fetch_optional(db)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let request: String = row.try_get("request")?;
        if request != self.request {
            return Err(ApiError::Unprocessable(
                "Idempotency-Key was already used with a different request".to_owned(),
            ));
        }
        let status: i64 = row.try_get("status")?;
        Ok(Some(Recorded {
            status: u16::try_from(status)
                .ok()
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::OK),
            body: row.try_get("body")?,
        }))
    }

    /// Records the response. Returns false when another request with this
    /// key recorded first (then roll back and [`Idempotency::replay`]).
    pub async fn record<'c>(
        &self,
        db: impl Executor<'c, Database = Any>,
        status: StatusCode,
        body: &impl Serialize,
    ) -> Result<bool, ApiError> {
        if status.is_server_error() {
            return Ok(true);
        }
        let values = self.values(status, Arg::from(serialized(body)?));
        let done = values
            .iter()
            .fold(sqlx::query(RECORD), paging::bind)
            .execute(db)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The statement that records the response, for a batch to send with
    /// the request's effect in the same message (a 5xx is never recorded:
    /// then none): recorded only if `guard` finds the row the effect wrote.
    /// A record already there under this key stays, as with
    /// [`Idempotency::record`]. When `id` names a member of the body and a column of that
    /// row (`("id", "id")`), the body is built with [`UNKNOWN_ID`](crate::db::UNKNOWN_ID) there and
    /// the record takes the row's value, which the database gave it.
    pub fn recording_when(
        &self,
        status: StatusCode,
        body: &impl Serialize,
        guard: &Guard,
        id: Option<(&str, &'static str)>,
    ) -> Result<Statements, ApiError> {
        self.guarded(
            status,
            body,
            guard,
            id,
            "ON CONFLICT (scope, key) DO NOTHING",
        )
    }

    /// As [`Idempotency::recording_when`], but the statement fails when a
    /// record is there under this key already, as [`commit_answer`]'s
    /// does: that rolls the request's effect back with it, and the first
    /// request's answer is the answer.
    pub fn recorded_first_when(
        &self,
        status: StatusCode,
        body: &impl Serialize,
        guard: &Guard,
    ) -> Result<Statements, ApiError> {
        self.guarded(status, body, guard, None, "")
    }

    fn guarded(
        &self,
        status: StatusCode,
        body: &impl Serialize,
        guard: &Guard,
        id: Option<(&str, &'static str)>,
        tail: &str,
    ) -> Result<Statements, ApiError> {
        if status.is_server_error() {
            return Ok(Statements::new());
        }
        let body = serialized(body)?;
        let body = match id {
            Some((member, column)) => Column::with_id(&body, member, column).ok_or_else(|| {
                ApiError::internal(format!("the answer has no single {member} to fill in"))
            })?,
            None => body.into(),
        };
        let values = self.values(status, body);
        Ok(guard.insert(
            "idempotency_keys (scope, key, request, status, body, created_at)",
            values,
            tail,
        ))
    }

    /// [`RECORD_FIRST`] with the response's values; none for a 5xx.
    fn recorded_first(
        &self,
        status: StatusCode,
        body: &impl Serialize,
    ) -> Result<Statements, ApiError> {
        if status.is_server_error() {
            return Ok(Statements::new());
        }
        let body = Arg::from(serialized(body)?);
        Ok(Statements::new().push(RECORD_FIRST, self.values(status, body)))
    }

    /// The values of [`RECORD`] and [`RECORD_FIRST`] (`Arg`s), or of
    /// [`Idempotency::recording_when`] (`Column`s), `body` the serialized
    /// answer.
    fn values<T: From<Arg>>(&self, status: StatusCode, body: T) -> Vec<T> {
        let arg = |value: Arg| T::from(value);
        vec![
            arg(self.scope.as_str().into()),
            arg(self.key.as_str().into()),
            arg(self.request.as_str().into()),
            arg(i64::from(status.as_u16()).into()),
            body,
            arg(crate::now_rfc3339().into()),
        ]
    }
}

/// An answer's body as it is recorded.
fn serialized(body: &impl Serialize) -> Result<String, ApiError> {
    serde_json::to_string(body).map_err(ApiError::internal)
}

/// Records a response; fails when one is recorded under its key already.
macro_rules! record_first {
    () => {
        "INSERT INTO idempotency_keys (scope, key, request, status, body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)"
    };
}
const RECORD_FIRST: &str = record_first!();

/// Records a response, unless one is recorded under its key already.
const RECORD: &str = concat!(record_first!(), " ON CONFLICT (scope, key) DO NOTHING");

/// What a request that may carry an `Idempotency-Key` does first.
#[derive(Debug)]
pub enum Keyed {
    /// A retry: answer what the first request with this key answered.
    Replay(Response),
    /// Run the request, recording its answer under the key if it has one.
    Proceed(Option<Idempotency>),
}

/// Reads the request's key (see [`Idempotency::from_headers`]) and looks up
/// an earlier answer under it in `db`: the preamble of every keyed handler.
pub async fn begin<'c>(
    headers: &HeaderMap,
    scope: impl Into<String>,
    request: &impl Serialize,
    db: impl Executor<'c, Database = Any>,
) -> Result<Keyed, ApiError> {
    let idem = Idempotency::from_headers(headers, scope, request)?;
    if let Some(idem) = &idem {
        if let Some(first) = idem.replay(db).await? {
            return Ok(Keyed::Replay(first.into_response()));
        }
    }
    Ok(Keyed::Proceed(idem))
}

/// Commits `batch` with `statements` and the record of its answer under
/// `idem` (on SQLite, one message), and answers `status` and `body`. When
/// another request with the same key recorded first, the record fails,
/// which rolls the whole batch back (undoing this request's effect), and
/// that request's answer is given. Any other failure is returned as it is
/// (a unique violation of the effect's own, say, for the caller to name).
pub async fn commit_answer<T: Serialize>(
    idem: Option<&Idempotency>,
    batch: Batch,
    statements: Statements,
    readers: &Connections,
    status: StatusCode,
    body: &T,
) -> Result<Result<Response, sqlx::Error>, ApiError> {
    let record = match idem {
        Some(idem) => idem.recorded_first(status, body)?,
        None => Statements::new(),
    };
    match batch.commit(statements.then(record)).await {
        Ok(_) => Ok(Ok((status, crate::extract::Json(body)).into_response())),
        Err(err) => match first_answer(idem, &err, readers).await? {
            Some(first) => Ok(Ok(first)),
            None => Ok(Err(err)),
        },
    }
}

/// The answer of the request that recorded first under `idem`'s key, when
/// `err` (a write's failure that would have recorded this request's
/// answer) is that record's unique violation; `None` otherwise, and then
/// `err` is the write's own to name.
pub async fn first_answer(
    idem: Option<&Idempotency>,
    err: &sqlx::Error,
    readers: &Connections,
) -> Result<Option<Response>, ApiError> {
    match idem {
        Some(idem) if is_unique_violation(err) => {
            Ok(idem.replay(readers).await?.map(IntoResponse::into_response))
        }
        _ => Ok(None),
    }
}
