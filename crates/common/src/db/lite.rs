//! SQLite through rusqlite, as sqlx's `Any` driver would have it: `$n`
//! bound as sqlx binds it, rows handed back as sqlx's `AnyRow`, and
//! SQLite's refusals as sqlx's database errors with the same extended
//! codes. What the paths that run SQLite's statements beside sqlx (the
//! writer's queue, the readers) share, so that their callers cannot tell.

use std::borrow::Cow;
use std::sync::Arc;

use rusqlite::types::{ToSqlOutput, ValueRef};
use sqlx::any::{AnyRow, AnyTypeInfo, AnyTypeInfoKind, AnyValue};
use sqlx::error::ErrorKind;
use sqlx_core::any::{AnyColumn, AnyValueKind};
use sqlx_core::ext::ustr::UStr;

use super::refusal::Refusal;
use crate::paging::Arg;

/// Runs `sql` on `connection` (its statement kept prepared), `$n` bound to
/// `value(n)`; its rows, appended to `rows`.
pub(super) fn run<'v>(
    connection: &rusqlite::Connection,
    sql: &str,
    value: impl Fn(usize) -> Option<ToSqlOutput<'v>>,
    rows: &mut Vec<AnyRow>,
) -> Result<(), sqlx::Error> {
    let mut statement = connection.prepare_cached(sql).map_err(refusal)?;
    for at in 1..=statement.parameter_count() {
        // `$n` is the n-th value, wherever it stands, as sqlx binds it.
        let n = statement
            .parameter_name(at)
            .and_then(|name| name.strip_prefix(['$', '?']))
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(at);
        let value = value(n).ok_or_else(|| {
            sqlx::Error::Protocol(format!("no value for parameter {n} of: {sql}"))
        })?;
        statement.raw_bind_parameter(at, value).map_err(refusal)?;
    }
    let columns: Vec<UStr> = statement
        .column_names()
        .into_iter()
        .map(UStr::new)
        .collect();
    // A name given twice is its last column's, as sqlx has it.
    let names: Arc<sqlx_core::HashMap<UStr, usize>> = Arc::new(
        columns
            .iter()
            .enumerate()
            .map(|(at, name)| (name.clone(), at))
            .collect(),
    );
    let mut found = statement.raw_query();
    while let Some(row) = found.next().map_err(refusal)? {
        rows.push(any_row(row, &columns, &names)?);
    }
    Ok(())
}

/// One row, each value of the kind its own type says (as sqlx-sqlite maps
/// a row for `Any`: by the value's type, not the column's).
fn any_row(
    row: &rusqlite::Row<'_>,
    columns: &[UStr],
    names: &Arc<sqlx_core::HashMap<UStr, usize>>,
) -> Result<AnyRow, sqlx::Error> {
    let mut any = AnyRow {
        column_names: names.clone(),
        columns: Vec::with_capacity(columns.len()),
        values: Vec::with_capacity(columns.len()),
    };
    for (at, name) in columns.iter().enumerate() {
        let (kind, type_kind) = match row.get_ref(at).map_err(refusal)? {
            ValueRef::Null => (
                AnyValueKind::Null(AnyTypeInfoKind::Null),
                AnyTypeInfoKind::Null,
            ),
            ValueRef::Integer(v) => (AnyValueKind::BigInt(v), AnyTypeInfoKind::BigInt),
            ValueRef::Real(v) => (AnyValueKind::Double(v), AnyTypeInfoKind::Double),
            ValueRef::Text(text) => {
                let text = std::str::from_utf8(text).map_err(|err| sqlx::Error::ColumnDecode {
                    index: name.to_string(),
                    source: Box::new(err),
                })?;
                (
                    AnyValueKind::Text(Cow::Owned(text.to_owned())),
                    AnyTypeInfoKind::Text,
                )
            }
            ValueRef::Blob(blob) => (
                AnyValueKind::Blob(Cow::Owned(blob.to_vec())),
                AnyTypeInfoKind::Blob,
            ),
        };
        any.columns.push(AnyColumn {
            ordinal: at,
            name: name.clone(),
            type_info: AnyTypeInfo { kind: type_kind },
        });
        any.values.push(AnyValue { kind });
    }
    Ok(any)
}

/// A value of ours as sqlx binds it: `i64`, text, `NULL`.
pub(super) fn arg(value: &Arg) -> ToSqlOutput<'_> {
    match value {
        Arg::Int(v) => ToSqlOutput::from(*v),
        Arg::Text(v) => ToSqlOutput::from(v.as_str()),
        Arg::Null => ToSqlOutput::from(rusqlite::types::Null),
    }
}

/// A value bound through sqlx's `Any` as sqlx-sqlite binds it (booleans
/// and the smaller integers as integers).
pub(super) fn any_value<'v>(value: &'v AnyValueKind<'_>) -> ToSqlOutput<'v> {
    match value {
        AnyValueKind::Null(_) => ToSqlOutput::from(rusqlite::types::Null),
        AnyValueKind::Bool(v) => ToSqlOutput::from(i64::from(*v)),
        AnyValueKind::SmallInt(v) => ToSqlOutput::from(i64::from(*v)),
        AnyValueKind::Integer(v) => ToSqlOutput::from(i64::from(*v)),
        AnyValueKind::BigInt(v) => ToSqlOutput::from(*v),
        AnyValueKind::Real(v) => ToSqlOutput::from(f64::from(*v)),
        AnyValueKind::Double(v) => ToSqlOutput::from(*v),
        AnyValueKind::Text(v) => ToSqlOutput::from(v.as_ref()),
        AnyValueKind::Blob(v) => ToSqlOutput::from(v.as_ref()),
        // `AnyValueKind` is non-exhaustive; sqlx 0.8 has no other kind.
        _ => ToSqlOutput::from(rusqlite::types::Null),
    }
}

/// A rusqlite failure as sqlx's: SQLite's refusal as a database error
/// with its extended code (so a unique violation is one, and a busy or
/// full database is unavailable), anything else as a protocol error.
pub(super) fn refusal(err: rusqlite::Error) -> sqlx::Error {
    match err {
        rusqlite::Error::SqliteFailure(failure, message) => {
            let message = message.unwrap_or_else(|| failure.to_string());
            Refusal {
                code: failure.extended_code.to_string(),
                shown: format!("(code: {}) {message}", failure.extended_code),
                message,
                kind_of: error_kind,
                constraint: None,
                table: None,
            }
            .into_sqlx()
        }
        other => sqlx::Error::Protocol(other.to_string()),
    }
}

/// What an extended result code says, as sqlx-sqlite reads it.
fn error_kind(code: &str) -> ErrorKind {
    use rusqlite::ffi;
    match code.parse() {
        Ok(ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => {
            ErrorKind::UniqueViolation
        }
        Ok(ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => ErrorKind::ForeignKeyViolation,
        Ok(ffi::SQLITE_CONSTRAINT_NOTNULL) => ErrorKind::NotNullViolation,
        Ok(ffi::SQLITE_CONSTRAINT_CHECK) => ErrorKind::CheckViolation,
        _ => ErrorKind::Other,
    }
}
