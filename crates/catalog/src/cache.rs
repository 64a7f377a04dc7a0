//! Product reads answered from memory until the catalog changes
//! ([`shop_common::read_cache`]).
//!
//! Browsing and product pages are most of a shop's traffic and change
//! seldom, so the catalog keeps its answers to `GET /products/{id}` and to
//! `GET /products` without a search (by their query, which also shapes
//! their `Link` header; the cart's and the order's `?ids=` pricing calls
//! are such lists). Any write forgets them all: a reservation changes the
//! stock every list shows.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use shop_common::read_cache::{ReadCache, Scope, Ticket, Writes};
use shop_common::ApiError;

/// At most this many bytes of answers are kept.
pub const MAX_BYTES: usize = 64 << 20;

/// What an answer is kept under.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// `GET /products/{id}`.
    Product(i64),
    /// `GET /products?{query}`, no search.
    Page(Option<String>),
}

/// A 200 answer as the handler gave it.
#[derive(Debug, Clone)]
pub struct Kept {
    headers: HeaderMap,
    body: Bytes,
}

/// The catalog's kept answers.
pub type Answers = ReadCache<Key, Kept>;

/// Answers kept for `keep_for` at most.
pub fn answers(keep_for: Duration) -> Answers {
    ReadCache::new(keep_for, |kept| kept.body.len(), MAX_BYTES)
}

/// Every catalog write may change any answer.
pub fn writes(answers: Answers) -> Writes<Key, Kept> {
    Writes {
        cache: answers,
        scope: |_| Scope::All,
    }
}

/// The answer kept under `key`, if any.
pub fn get(answers: &Answers, key: &Key) -> Option<Response> {
    let kept = answers.get(key)?;
    let mut response = Response::new(Body::from(kept.body));
    *response.headers_mut() = kept.headers;
    Some(response)
}

/// Keeps a 200 `response` under `key` (when `ticket` allows); gives it back.
pub async fn keep(answers: &Answers, ticket: Ticket, key: Key, response: Response) -> Response {
    if response.status() != axum::http::StatusCode::OK {
        return response;
    }
    let (parts, body) = response.into_parts();
    // The handlers' bodies are whole already: this only takes them out.
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(err) => return ApiError::internal(format!("answer body: {err}")).into_response(),
    };
    let kept = Kept {
        headers: parts.headers.clone(),
        body: body.clone(),
    };
    answers.keep(ticket, key, kept);
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn text(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_kept_answer_is_answered_again_with_its_headers() {
        let answers = answers(Duration::from_secs(60));
        let mut response = Response::new(Body::from("laptop"));
        response
            .headers_mut()
            .insert("link", "<?after=x>".parse().unwrap());
        let given = keep(
            &answers,
            answers.ticket(&Key::Product(1)),
            Key::Product(1),
            response,
        )
        .await;
        assert_eq!(text(given).await, "laptop");
        let hit = get(&answers, &Key::Product(1)).expect("kept");
        assert_eq!(hit.headers()["link"], "<?after=x>");
        assert_eq!(text(hit).await, "laptop");
        assert!(get(&answers, &Key::Product(2)).is_none());
        assert!(get(&answers, &Key::Page(None)).is_none());
    }

    #[tokio::test]
    async fn only_successful_answers_are_kept() {
        let answers = answers(Duration::from_secs(60));
        let mut missing = Response::new(Body::from("{}"));
        *missing.status_mut() = axum::http::StatusCode::NOT_FOUND;
        keep(
            &answers,
            answers.ticket(&Key::Product(1)),
            Key::Product(1),
            missing,
        )
        .await;
        assert!(get(&answers, &Key::Product(1)).is_none());
    }
}
