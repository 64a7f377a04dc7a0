//! The dashboard: the React app of `dashboard/`, built by Vite into
//! `dashboard/dist` and embedded in release builds of the binary (debug
//! builds read it from disk).
//!
//! Hashed files under `assets/` are cached for a year; everything else is
//! revalidated. Text files are gzipped once, at start-up ([`precompress`];
//! again only if a debug build's file changed on disk), and served gzipped
//! to clients that accept it (`Vary: Accept-Encoding`): no request pays for
//! compression. Any other path without a file answers `index.html`, so the
//! app's own routes survive a reload. A binary built without the dashboard
//! answers a page saying how to build it, never a blank page.
//!
//! Every answer carries [`CONTENT_SECURITY_POLICY`] (scripts, styles and
//! API calls from this origin only; no inline script; no framing),
//! `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY` and
//! `Referrer-Policy: same-origin` ([`security_headers`]).

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use flate2::write::GzEncoder;
use flate2::Compression;
use rust_embed::{EmbeddedFile, RustEmbed};
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
pub async fn index(headers: HeaderMap) -> Response {
    file("index.html", &headers)
}

/// `GET /{path}`: a file of the dashboard, or the app for its own routes.
pub async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    if Assets::get(&path).is_some() {
        return file(&path, &headers);
    }
    let looks_like_a_file = path
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains('.'));
    if looks_like_a_file {
        return error_response(StatusCode::NOT_FOUND, "Not Found");
    }
    file("index.html", &headers)
}

fn file(path: &str, request: &HeaderMap) -> Response {
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
    let mut response = Response::builder()
        .header(header::CONTENT_TYPE, content.metadata.mimetype())
        .header(header::CACHE_CONTROL, cache);
    let body = match gzipped(path, &content) {
        None => Body::from(content.data.into_owned()),
        Some(gzipped) => {
            response = response.header(header::VARY, "accept-encoding");
            if accepts_gzip(request) {
                response = response.header(header::CONTENT_ENCODING, "gzip");
                Body::from(gzipped)
            } else {
                Body::from(content.data.into_owned())
            }
        }
    };
    response.body(body).unwrap_or_else(|_| {
        error_response(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
    })
}

/// Files smaller than this are sent as they are.
const MIN_GZIP_BYTES: usize = 1024;

/// A file gzipped, with the hash of the content it was made from.
struct Gzipped {
    made_from: [u8; 32],
    body: Bytes,
}

/// Each text file gzipped, by path.
static GZIPPED: OnceLock<Mutex<HashMap<String, Gzipped>>> = OnceLock::new();

/// Gzips every text file of the dashboard (at start-up, off the runtime's
/// threads: about 20 ms for the 255 KB script).
pub fn precompress() {
    for path in Assets::iter() {
        if let Some(content) = Assets::get(&path) {
            gzipped(&path, &content);
        }
    }
}

/// The gzipped `content` of `path`, when it is text worth compressing:
/// made once per content (the lock is held while it is made, so two
/// requests never both make it).
fn gzipped(path: &str, content: &EmbeddedFile) -> Option<Bytes> {
    let mime = content.metadata.mimetype();
    let text = mime.starts_with("text/")
        || ["javascript", "json", "xml", "svg"]
            .iter()
            .any(|kind| mime.contains(kind));
    if !text || content.data.len() < MIN_GZIP_BYTES {
        return None;
    }
    let hash = content.metadata.sha256_hash();
    let mut cache = GZIPPED
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(gzipped) = cache.get(path) {
        if gzipped.made_from == hash {
            return Some(gzipped.body.clone());
        }
    }
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(&content.data).ok()?;
    let body = Bytes::from(encoder.finish().ok()?);
    let gzipped = Gzipped {
        made_from: hash,
        body: body.clone(),
    };
    cache.insert(path.to_owned(), gzipped);
    Some(body)
}

/// Whether `Accept-Encoding` allows gzip (by name or `*`, with a quality
/// above zero; `gzip;q=0` refuses it).
fn accepts_gzip(request: &HeaderMap) -> bool {
    let mut gzip = None;
    let mut any = None;
    for value in request.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for entry in value.split(',') {
            let mut parts = entry.split(';');
            let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let quality = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .filter_map(|q| q.trim().parse::<f32>().ok())
                .next()
                .unwrap_or(1.0);
            match name.as_str() {
                "gzip" | "x-gzip" => gzip = Some(quality > 0.0),
                "*" => any = Some(quality > 0.0),
                _ => {}
            }
        }
    }
    gzip.or(any).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, value.parse().unwrap());
        accepts_gzip(&headers)
    }

    #[test]
    fn gzip_is_sent_only_to_clients_that_accept_it() {
        assert!(accept("gzip"));
        assert!(accept("br, GZIP;q=0.5"));
        assert!(accept("deflate, *"));
        assert!(!accept("gzip;q=0"));
        assert!(!accept("gzip;q=0, *"));
        assert!(!accept("identity"));
        assert!(!accept("br"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
