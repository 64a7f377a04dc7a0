//! A statement the database refused, as sqlx's database error: what the
//! paths beside sqlx (`pipe`, `queue`) hand back, so that a unique
//! violation is one and a busy or full database is unavailable, whichever
//! path ran the statement.

use std::borrow::Cow;

use sqlx::error::{DatabaseError, ErrorKind};

/// The database's refusal of a statement.
#[derive(Debug)]
pub(super) struct Refusal {
    /// SQLite's extended result code, or PostgreSQL's SQLSTATE.
    pub code: String,
    pub message: String,
    /// The backend's reading of its code.
    pub kind_of: fn(&str) -> ErrorKind,
    /// The text it is shown as, as the backend's own driver shows it.
    pub shown: String,
    pub constraint: Option<String>,
    pub table: Option<String>,
}

impl Refusal {
    /// As sqlx's database error.
    pub fn into_sqlx(self) -> sqlx::Error {
        sqlx::Error::Database(Box::new(self))
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl std::error::Error for Refusal {}

impl DatabaseError for Refusal {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(&self.code))
    }

    fn constraint(&self) -> Option<&str> {
        self.constraint.as_deref()
    }

    fn table(&self) -> Option<&str> {
        self.table.as_deref()
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        (self.kind_of)(&self.code)
    }
}
