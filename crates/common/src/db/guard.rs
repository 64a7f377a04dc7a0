//! Writes that depend on an earlier write of the same message.
//!
//! A [`Batch`](super::Batch) sends a transaction's statements to SQLite in
//! one message, so a statement cannot wait for an earlier one's answer in
//! Rust: whether the order was marked paid, which id its `INSERT` gave it.
//! A [`Guard`] asks the database instead. It finds again the row an earlier
//! statement of the batch wrote, by a condition only that write meets (the
//! timestamp it set, the key it stored), and the inserts built on it
//! ([`Guard::insert`]) write only when that row is there, taking what they
//! need of it (its id) from its columns. On PostgreSQL the statements run
//! one at a time, with the same effect.

use super::Statements;
use crate::paging::Arg;

/// The id a value is built with before the database has given it: the
/// row's id goes where this is, by [`Column::with_id`].
pub const UNKNOWN_ID: i64 = i64::MIN;

/// The rows a batch wrote, found again: `FROM …` in SQL (a table and a
/// `WHERE` only they meet), with its own values numbered from `$1`.
#[derive(Debug, Clone)]
pub struct Guard {
    from: String,
    values: Vec<Arg>,
}

/// One value of an insert built on a [`Guard`].
#[derive(Debug, Clone)]
pub enum Column {
    /// A value given here.
    Value(Arg),
    /// A column of the guard's row.
    Of(&'static str),
    /// Text with a column of the guard's row put in: `before`, the
    /// column's value, `after`.
    Spliced {
        before: String,
        column: &'static str,
        after: String,
    },
}

impl<T: Into<Arg>> From<T> for Column {
    fn from(value: T) -> Column {
        Column::Value(value.into())
    }
}

impl Column {
    /// JSON `text` whose member `"key": UNKNOWN_ID` (exactly one) gets
    /// the guard row's `column` as its value; `None` when `text` holds no
    /// such member, or more than one.
    ///
    /// The member is found as written: a JSON string holds `"` only
    /// escaped, so `"key":` in `text` is always a member's name.
    pub fn with_id(text: &str, key: &str, column: &'static str) -> Option<Column> {
        let member = format!("\"{key}\":{UNKNOWN_ID}");
        let at = text.find(&member)?;
        if text[at + member.len()..].contains(&member) {
            return None;
        }
        let value_at = at + member.len() - UNKNOWN_ID.to_string().len();
        Some(Column::Spliced {
            before: text[..value_at].to_owned(),
            column,
            after: text[at + member.len()..].to_owned(),
        })
    }
}

impl Guard {
    /// The rows of `from` (`table WHERE …`, values `$1` to `$n`).
    pub fn new(from: impl Into<String>, values: Vec<Arg>) -> Guard {
        Guard {
            from: from.into(),
            values,
        }
    }

    /// The same rows, each joined to the one row of `source` (a `FROM`
    /// item, its `values` numbered from `$1`): an insert built on the
    /// result evaluates `source` before it writes a row.
    pub fn joined(&self, source: &str, values: Vec<Arg>) -> Guard {
        let source = super::connections::renumbered(source, self.values.len());
        Guard {
            from: format!("{source}, {}", self.from),
            values: self.values.iter().cloned().chain(values).collect(),
        }
    }

    /// `INSERT INTO into (…)` of `columns`, once per row the guard finds
    /// (none when the write it stands for did not happen), then `tail`
    /// (`ON CONFLICT …`, say).
    pub fn insert(&self, into: &str, columns: Vec<Column>, tail: &str) -> Statements {
        let mut values = Vec::new();
        let mut bind = |value: Arg| {
            values.push(value);
            format!("${}", values.len())
        };
        let selected: Vec<String> = columns
            .into_iter()
            .map(|column| match column {
                Column::Value(value) => bind(value),
                Column::Of(name) => name.to_owned(),
                Column::Spliced {
                    before,
                    column,
                    after,
                } => {
                    let before = bind(before.into());
                    let after = bind(after.into());
                    format!("{before} || CAST({column} AS TEXT) || {after}")
                }
            })
            .collect();
        let from = super::connections::renumbered(&self.from, values.len());
        values.extend(self.values.iter().cloned());
        Statements::new().push(
            format!(
                "INSERT INTO {into} SELECT {} FROM {from} {tail}",
                selected.join(", ")
            ),
            values,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_goes_where_its_member_is_and_nowhere_else() {
        let text = format!(r#"{{"id":{UNKNOWN_ID},"name":"\"id\":{UNKNOWN_ID}"}}"#);
        let Some(Column::Spliced { before, after, .. }) = Column::with_id(&text, "id", "id") else {
            panic!("no member found in {text}");
        };
        assert_eq!(before, r#"{"id":"#);
        assert_eq!(after, format!(r#","name":"\"id\":{UNKNOWN_ID}"}}"#));
        let twice = format!(r#"{{"id":{UNKNOWN_ID},"x":{{"id":{UNKNOWN_ID}}}}}"#);
        assert!(Column::with_id(&twice, "id", "id").is_none());
        assert!(Column::with_id(r#"{"id":7}"#, "id", "id").is_none());
    }

    #[test]
    fn an_insert_numbers_its_values_before_the_guards() {
        let guard = Guard::new(
            "orders WHERE id = $1 AND updated_at = $2",
            vec![Arg::Int(7), "now".into()],
        );
        let statements = guard.insert(
            "outbox (a, b, c)",
            vec![
                "x".into(),
                Column::Of("id"),
                Column::Spliced {
                    before: "[".into(),
                    column: "id",
                    after: "]".into(),
                },
            ],
            "ON CONFLICT (a) DO NOTHING",
        );
        let (sql, values) = &statements.0[0];
        assert_eq!(
            sql,
            "INSERT INTO outbox (a, b, c) SELECT $1, id, $2 || CAST(id AS TEXT) || $3 \
             FROM orders WHERE id = $4 AND updated_at = $5 ON CONFLICT (a) DO NOTHING"
        );
        assert_eq!(values.len(), 5);
    }

    #[test]
    fn a_joined_source_numbers_its_values_after_the_guards() {
        let guard = Guard::new("orders WHERE id = $1", vec![Arg::Int(7)])
            .joined("(SELECT lock($1, $2)) AS l", vec![Arg::Int(8), Arg::Int(9)]);
        let statements = guard.insert("outbox (a)", vec!["x".into()], "");
        let (sql, values) = &statements.0[0];
        assert_eq!(
            sql,
            "INSERT INTO outbox (a) SELECT $1 FROM (SELECT lock($3, $4)) AS l, orders WHERE id = $2 "
        );
        assert_eq!(values.len(), 4);
    }
}
