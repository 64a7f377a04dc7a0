//! Keyset paging for the list endpoints, beside the seed's `skip`/`limit`.
//!
//! A list is sorted by a key column and the row id (the tie-breaker, so the
//! order is total). A page's last row becomes the cursor of the next page
//! (`after=`), its first row the cursor of the previous one (`before=`); the
//! next page is then "the rows past this key", which an index on
//! `(key, id)` finds directly, so the last page of a million rows costs what
//! the first does (with `skip`, the database walks past every skipped row).
//! The cursors go in a `Link` header (RFC 8288) as query-only references
//! (`<?limit=50&after=…>; rel="next"`), which resolve against whatever URL
//! the client used, directly or through the gateway; the body stays the
//! seed's array.
//!
//! A cursor is opaque to clients (base64url of `[key, id]`) and not secret:
//! a forged one only names another position in the same sorted list.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Executor};

use crate::extract::page;
use crate::ApiError;

/// A value bound to a query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Arg {
    Int(i64),
    Text(String),
    /// SQL NULL (for a text column).
    Null,
}

impl From<Option<String>> for Arg {
    fn from(value: Option<String>) -> Arg {
        value.map_or(Arg::Null, Arg::Text)
    }
}

impl From<i64> for Arg {
    fn from(value: i64) -> Arg {
        Arg::Int(value)
    }
}

impl From<&str> for Arg {
    fn from(value: &str) -> Arg {
        Arg::Text(value.to_owned())
    }
}

impl From<String> for Arg {
    fn from(value: String) -> Arg {
        Arg::Text(value)
    }
}

/// `query` with `arg` bound as its next argument.
pub fn bind<'q>(
    query: Query<'q, Any, AnyArguments<'q>>,
    arg: &Arg,
) -> Query<'q, Any, AnyArguments<'q>> {
    match arg {
        Arg::Int(v) => query.bind(*v),
        Arg::Text(v) => query.bind(v.clone()),
        Arg::Null => query.bind(None::<String>),
    }
}

/// The `WHERE` conditions of a list query and their arguments, numbered
/// `$1`, `$2`… in the order they are added.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    parts: Vec<String>,
    args: Vec<Arg>,
}

impl Filters {
    pub fn new() -> Filters {
        Filters::default()
    }

    /// Adds `condition`, each `?` in it standing for the next of `args`.
    pub fn add(&mut self, condition: &str, args: impl IntoIterator<Item = Arg>) {
        let mut sql = String::with_capacity(condition.len() + 8);
        for (i, piece) in condition.split('?').enumerate() {
            if i > 0 {
                sql.push_str(&format!("${}", self.args.len() + i));
            }
            sql.push_str(piece);
        }
        let args: Vec<Arg> = args.into_iter().collect();
        debug_assert_eq!(
            condition.matches('?').count(),
            args.len(),
            "one argument per ? in {condition}"
        );
        self.args.extend(args);
        self.parts.push(format!("({sql})"));
    }

    /// `WHERE a AND b`, or nothing.
    fn clause(&self) -> String {
        if self.parts.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.parts.join(" AND "))
        }
    }
}

/// A position in a sorted list: a row's sort key (none when the list is
/// sorted by id alone) and its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub key: Option<Arg>,
    pub id: i64,
}

impl Cursor {
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(&(&self.key, self.id)).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    /// A cursor this API gave out, or 422 naming the parameter.
    pub fn decode(name: &str, raw: &str) -> Result<Cursor, ApiError> {
        let bad = || {
            ApiError::Unprocessable(format!(
                "{name} must be a cursor from this list's Link header"
            ))
        };
        let json = URL_SAFE_NO_PAD.decode(raw.trim()).map_err(|_| bad())?;
        let (key, id): (Option<Arg>, i64) = serde_json::from_slice(&json).map_err(|_| bad())?;
        Ok(Cursor { key, id })
    }
}

/// Which way from a cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The rows after it: the next page.
    After,
    /// The rows before it: the previous page.
    Before,
}

/// The page a request asks for: the seed's `skip`/`limit`, or `limit` rows
/// after or before a cursor, or before the end (the last page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub skip: i64,
    pub limit: i64,
    /// Where the page starts; `(Before, None)` is the end of the list.
    pub from: Option<(Direction, Option<Cursor>)>,
}

/// The paging parameters of a list request, as sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Position<'a> {
    pub skip: Option<i64>,
    pub limit: Option<i64>,
    pub after: Option<&'a str>,
    pub before: Option<&'a str>,
    /// `last=true`: the last page.
    pub last: Option<bool>,
}

impl Window {
    /// Checks the paging parameters: `skip` with no cursor, at most one of
    /// `after`, `before` and `last=true`.
    pub fn new(position: Position<'_>) -> Result<Window, ApiError> {
        let (skip, limit) = page(position.skip, position.limit)?;
        let last = position.last == Some(true);
        let from = match (position.after, position.before, last) {
            (Some(raw), None, false) => {
                Some((Direction::After, Some(Cursor::decode("after", raw)?)))
            }
            (None, Some(raw), false) => {
                Some((Direction::Before, Some(Cursor::decode("before", raw)?)))
            }
            (None, None, true) => Some((Direction::Before, None)),
            (None, None, false) => None,
            _ => {
                return Err(ApiError::Unprocessable(
                    "Send one of after, before and last=true".to_owned(),
                ))
            }
        };
        if from.is_some() && position.skip.is_some() {
            return Err(ApiError::Unprocessable(
                "skip cannot be combined with after, before or last".to_owned(),
            ));
        }
        Ok(Window { skip, limit, from })
    }
}

/// `order=` of a list: ascending or descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    Asc,
    Desc,
}

/// How a list is sorted: by `key` (none for the id alone), then by `id`
/// (a column), descending or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub key: Option<Key>,
    pub id: &'static str,
    pub descending: bool,
}

/// A sort key: its column (or expression), and whether it holds text
/// rather than integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub column: &'static str,
    pub text: bool,
}

impl Window {
    /// 422 when the cursor was made for another sort (its key of another
    /// kind): comparing it would name no position in this one.
    pub fn fits(&self, sort: &Sort) -> Result<(), ApiError> {
        let Some((direction, Some(cursor))) = &self.from else {
            return Ok(());
        };
        let fits = match (sort.key, &cursor.key) {
            (None, None) => true,
            (Some(key), Some(Arg::Text(_))) => key.text,
            (Some(key), Some(Arg::Int(_))) => !key.text,
            _ => false,
        };
        if fits {
            return Ok(());
        }
        let name = match direction {
            Direction::After => "after",
            Direction::Before => "before",
        };
        Err(ApiError::Unprocessable(format!(
            "{name} is a cursor of another sort; start again from the first page"
        )))
    }
}

/// A page of rows and the cursors of its neighbours.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub rows: Vec<T>,
    pub next: Option<Cursor>,
    pub prev: Option<Cursor>,
}

impl<T> Page<T> {
    /// The same page with each row mapped.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            rows: self.rows.into_iter().map(f).collect(),
            next: self.next,
            prev: self.prev,
        }
    }
}

/// The answer of a list endpoint: the page's rows as the JSON array (the
/// seed's body), its neighbours in the `Link` header ([`link_header`]),
/// and the `total` the filters select in [`TOTAL_COUNT`] when counted.
pub fn response<T: Serialize>(
    raw_query: Option<&str>,
    page: Page<T>,
    total: Option<i64>,
) -> Response {
    let link = link_header(raw_query, &page);
    let mut response = axum::Json(page.rows).into_response();
    if let Some(link) = link {
        response.headers_mut().insert(header::LINK, link);
    }
    if let Some(total) = total {
        response
            .headers_mut()
            .insert(TOTAL_COUNT, HeaderValue::from(total));
    }
    response
}

/// A statement and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sql: String,
    pub args: Vec<Arg>,
}

impl Statement {
    /// The statement ready to run.
    pub fn query(&self) -> Query<'_, Any, AnyArguments<'_>> {
        self.args.iter().fold(sqlx::query(&self.sql), bind)
    }
}

/// The statement that reads the page `window` of `select` (`SELECT … FROM
/// …`, without `WHERE`) under `filters`, sorted by `sort`: one row more than
/// the page, which says whether there is more beyond. The window must
/// [`Window::fits`] the sort.
pub fn statement(select: &str, mut filters: Filters, sort: Sort, window: &Window) -> Statement {
    let backwards = matches!(window.from, Some((Direction::Before, _)));
    // Reading backwards, the database walks the sort in reverse.
    let descending = sort.descending != backwards;
    if let Some((_, Some(cursor))) = &window.from {
        let op = if descending { "<" } else { ">" };
        match (sort.key, &cursor.key) {
            (Some(key), Some(value)) => filters.add(
                &format!("({}, {}) {op} (?, ?)", key.column, sort.id),
                [value.clone(), Arg::Int(cursor.id)],
            ),
            _ => filters.add(&format!("{} {op} ?", sort.id), [Arg::Int(cursor.id)]),
        }
    }
    let dir = if descending { "DESC" } else { "ASC" };
    let order = match sort.key {
        Some(key) => format!("{} {dir}, {} {dir}", key.column, sort.id),
        None => format!("{} {dir}", sort.id),
    };
    let n = filters.args.len();
    let sql = format!(
        "{select}{} ORDER BY {order} LIMIT ${} OFFSET ${}",
        filters.clause(),
        n + 1,
        n + 2
    );
    let mut args = filters.args;
    args.push(Arg::Int(window.limit + 1));
    args.push(Arg::Int(window.skip));
    Statement { sql, args }
}

/// How many rows of `table` match `filters`.
pub async fn count<'c>(
    db: impl Executor<'c, Database = Any>,
    table: &str,
    filters: Filters,
) -> Result<i64, sqlx::Error> {
    let statement = Statement {
        sql: format!("SELECT COUNT(*) AS n FROM {table}{}", filters.clause()),
        args: filters.args,
    };
    let row = statement.query().fetch_one(db).await?;
    sqlx::Row::try_get(&row, "n")
}

/// The header that carries a list's total when asked (`count=true`).
pub const TOTAL_COUNT: &str = "x-total-count";

/// Runs `statement` (from [`statement`] for `window`) and makes the page of
/// its rows: `decode` reads a row, `cursor_of` names a row's position.
pub async fn fetch<'c, T>(
    db: impl Executor<'c, Database = Any>,
    statement: &Statement,
    window: &Window,
    decode: impl Fn(&AnyRow) -> Result<T, sqlx::Error>,
    cursor_of: impl Fn(&T) -> Cursor,
) -> Result<Page<T>, sqlx::Error> {
    let rows = statement.query().fetch_all(db).await?;
    let mut rows = rows.iter().map(decode).collect::<Result<Vec<T>, _>>()?;
    let more = rows.len() as i64 > window.limit;
    rows.truncate(window.limit as usize);
    let backwards = matches!(window.from, Some((Direction::Before, _)));
    if backwards {
        rows.reverse();
    }
    let first = rows.first().map(&cursor_of);
    let last = rows.last().map(&cursor_of);
    // An empty page past a cursor still leads back to where it came from.
    let (next, prev) = match &window.from {
        None => (last.filter(|_| more), first.filter(|_| window.skip > 0)),
        Some((Direction::After, from)) => (last.filter(|_| more), first.or_else(|| from.clone())),
        // Read back from the end (`last=true`), nothing follows.
        Some((Direction::Before, None)) => (None, first.filter(|_| more)),
        Some((Direction::Before, from)) => (last.or_else(|| from.clone()), first.filter(|_| more)),
    };
    Ok(Page { rows, next, prev })
}

/// The `Link` header of `page`: the request's own query (`raw_query`) with
/// `after` or `before` in place of its paging position (`next`, `prev`),
/// without one (`first`), or with `last=true` (`last`); `None` when the page
/// has no neighbour. `first` comes with `prev`, `last` with `next`.
pub fn link_header<T>(raw_query: Option<&str>, page: &Page<T>) -> Option<HeaderValue> {
    let kept: Vec<(String, String)> = form_urlencoded::parse(raw_query.unwrap_or("").as_bytes())
        .filter(|(name, _)| !matches!(name.as_ref(), "after" | "before" | "skip" | "last"))
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    let link = |rel: &str, position: Option<(&str, String)>| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in &kept {
            query.append_pair(name, value);
        }
        if let Some((param, value)) = position {
            query.append_pair(param, &value);
        }
        format!("<?{}>; rel=\"{rel}\"", query.finish())
    };
    let next = page.next.as_ref();
    let prev = page.prev.as_ref();
    let links: Vec<String> = [
        next.map(|c| link("next", Some(("after", c.encode())))),
        prev.map(|c| link("prev", Some(("before", c.encode())))),
        prev.map(|_| link("first", None)),
        next.map(|_| link("last", Some(("last", "true".to_owned())))),
    ]
    .into_iter()
    .flatten()
    .collect();
    if links.is_empty() {
        return None;
    }
    HeaderValue::from_str(&links.join(", ")).ok()
}

/// `value` with `%`, `_` and `\` escaped for `LIKE … ESCAPE '\'`, inside
/// `%…%`: a substring match that no input can turn into a pattern.
pub fn like_substring(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('%');
    for c in value.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_junk_is_422() {
        for cursor in [
            Cursor { key: None, id: 7 },
            Cursor {
                key: Some(Arg::Int(-5)),
                id: 1,
            },
            Cursor {
                key: Some(Arg::Text("Zoë \"x\"".to_owned())),
                id: i64::MAX,
            },
        ] {
            assert_eq!(Cursor::decode("after", &cursor.encode()).unwrap(), cursor);
        }
        for junk in ["", "!!", "bm90IGpzb24", "WzEsMiwzXQ"] {
            let err = Cursor::decode("after", junk).unwrap_err();
            assert!(
                matches!(err, ApiError::Unprocessable(m) if m.contains("after")),
                "{junk}"
            );
        }
    }

    #[test]
    fn windows_refuse_mixed_paging() {
        let c = Cursor { key: None, id: 3 }.encode();
        let at = |skip, limit, after, before, last| {
            Window::new(Position {
                skip,
                limit,
                after,
                before,
                last,
            })
        };
        assert!(at(None, Some(10), Some(&c), None, None).is_ok());
        assert!(at(Some(5), None, Some(&c), None, None).is_err());
        assert!(at(None, None, Some(&c), Some(&c), None).is_err());
        assert!(at(None, None, Some(&c), None, Some(true)).is_err());
        assert!(at(Some(5), None, None, None, Some(true)).is_err());
        assert!(at(None, Some(1001), None, None, None).is_err());
        assert_eq!(at(Some(4), None, None, None, None).unwrap().skip, 4);
        let last = at(None, None, None, None, Some(true)).unwrap();
        assert_eq!(last.from, Some((Direction::Before, None)));
        assert_eq!(at(None, None, None, None, Some(false)).unwrap().from, None);
    }

    #[test]
    fn a_cursor_of_another_sort_is_refused() {
        let by = |text| Sort {
            key: Some(Key { column: "k", text }),
            id: "id",
            descending: false,
        };
        let by_id = Sort {
            key: None,
            id: "id",
            descending: true,
        };
        let text = Cursor {
            key: Some(Arg::from("m")),
            id: 3,
        }
        .encode();
        let after = |raw| Position {
            after: Some(raw),
            ..Position::default()
        };
        let window = Window::new(after(&text)).unwrap();
        assert!(window.fits(&by(true)).is_ok());
        assert!(window.fits(&by(false)).is_err());
        assert!(window.fits(&by_id).is_err());
        let id_only = Cursor { key: None, id: 3 }.encode();
        let window = Window::new(Position {
            before: Some(&id_only),
            ..Position::default()
        })
        .unwrap();
        assert!(window.fits(&by_id).is_ok());
        assert!(window.fits(&by(false)).is_err());
        let last = Window::new(Position {
            last: Some(true),
            ..Position::default()
        })
        .unwrap();
        assert!(last.fits(&by_id).is_ok() && last.fits(&by(true)).is_ok());
    }

    #[test]
    fn conditions_are_numbered_in_order() {
        let mut filters = Filters::new();
        filters.add("status = ?", [Arg::from("paid")]);
        filters.add("total >= ? AND total < ?", [Arg::Int(1), Arg::Int(2)]);
        assert_eq!(
            filters.clause(),
            " WHERE (status = $1) AND (total >= $2 AND total < $3)"
        );
    }

    #[test]
    fn links_keep_the_query_and_replace_the_position() {
        let page = Page {
            rows: vec![1],
            next: Some(Cursor { key: None, id: 9 }),
            prev: Some(Cursor { key: None, id: 1 }),
        };
        let link = link_header(Some("status=paid&skip=3&after=old&limit=2"), &page).unwrap();
        let link = link.to_str().unwrap();
        let next = Cursor { key: None, id: 9 }.encode();
        let prev = Cursor { key: None, id: 1 }.encode();
        assert_eq!(
            link,
            format!(
                "<?status=paid&limit=2&after={next}>; rel=\"next\", \
                 <?status=paid&limit=2&before={prev}>; rel=\"prev\", \
                 <?status=paid&limit=2>; rel=\"first\", \
                 <?status=paid&limit=2&last=true>; rel=\"last\""
            )
        );
        let first_page = Page {
            rows: vec![1],
            next: Some(Cursor { key: None, id: 9 }),
            prev: None,
        };
        let link = link_header(Some("last=true&limit=2"), &first_page).unwrap();
        assert_eq!(
            link.to_str().unwrap(),
            format!("<?limit=2&after={next}>; rel=\"next\", <?limit=2&last=true>; rel=\"last\"")
        );
        let none: Page<i32> = Page {
            rows: vec![],
            next: None,
            prev: None,
        };
        assert!(link_header(None, &none).is_none());
    }

    #[test]
    fn like_patterns_are_literal() {
        assert_eq!(like_substring("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
