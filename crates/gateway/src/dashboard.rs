//! The dashboard: the React app of `dashboard/`, built by Vite into
//! `dashboard/dist` and embedded in release builds of the binary (debug
//! builds read it from disk).
//!
//! Hashed files under `assets/` are cached for a year; everything else is
//! revalidated. Any other path without a file answers `index.html`, so the
//! app's own routes survive a reload. A binary built without the dashboard
//! answers a page saying how to build it, never a blank page.
//!
//! Every answer carries [`CONTENT_SECURITY_POLICY`] (scripts, styles and
//! API calls from this origin only; no inline script; no framing),
//! `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY` and
//! `Referrer-Policy: same-origin` ([`security_headers`]).

use axum::body::Body;
use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use rust_embed::RustEmbed;
use shop_common::error::error_response;

#[derive(RustEmbed)]
#[folder = "$CARGO_MANIFEST_DIR/../../dashboard/dist"]
#[allow_missing = true]
struct Assets;

const NOT_BUILT: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Shop: dashboard not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; line-height: 1.5">
<h1>The dashboard is not built into this binary</h1>
<p>The API works: see <a href="/api">/api</a>. To get the dashboard, build it and then the binary:</p>
<pre>npm --prefix dashboard ci
npm --prefix dashboard run build
cargo build --release -p shop</pre>
<p><code>./shop up</code> from the repository does all of this.</p>
</body></html>"#;

/// What the dashboard may load: Vite emits one module script and one
/// stylesheet under `/assets/` and no inline script. React sets the bar
/// widths through the CSSOM, which `style-src` does not govern; the icon
/// is a `data:` URL; the API and the event stream are this origin.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
    object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The page of a binary built without the dashboard: no script at all,
/// its own inline style.
const NOT_BUILT_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'";

/// Middleware on the dashboard's routes: the headers that keep other sites
/// from framing it or making the browser guess content types.
pub async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// `GET /`.
pub async fn index() -> Response {
    file("index.html")
}

/// `GET /{path}`: a file of the dashboard, or the app for its own routes.
pub async fn asset(Path(path): Path<String>) -> Response {
    if Assets::get(&path).is_some() {
        return file(&path);
    }
    let looks_like_a_file = path
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains('.'));
    if looks_like_a_file {
        return error_response(StatusCode::NOT_FOUND, "Not Found");
    }
    file("index.html")
}

fn file(path: &str) -> Response {
    let Some(content) = Assets::get(path) else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_SECURITY_POLICY, NOT_BUILT_POLICY)],
            Html(NOT_BUILT),
        )
            .into_response();
    };
    let cache = if path.starts_with("assets/") {
        // Vite puts a content hash in these names: they never change.
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    Response::builder()
        .header(header::CONTENT_TYPE, content.metadata.mimetype())
        .header(header::CACHE_CONTROL, cache)
        .body(Body::from(content.data.into_owned()))
        .unwrap_or_else(|_| {
            error_response(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
        })
}
