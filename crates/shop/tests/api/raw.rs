//! Raw HTTP/1.1 over TCP, for what well-behaved clients never send:
//! broken chunked bodies, bodies that trickle in, headers byte by byte.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a raw exchange may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A response read off the wire.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "{} with a body that is not JSON: {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The `detail` of a JSON error envelope with the `expected` status.
    pub fn detail(&self, expected: u16) -> String {
        let body = self.json();
        assert_eq!(self.status, expected, "{body}");
        body["detail"]
            .as_str()
            .unwrap_or_else(|| panic!("no detail in {body}"))
            .to_owned()
    }
}

/// `host:port` of an `http://host:port` URL.
pub fn addr(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

/// Connects to `url`'s host and port.
pub async fn connect(url: &str) -> TcpStream {
    tokio::time::timeout(DEADLINE, TcpStream::connect(addr(url)))
        .await
        .expect("connect in time")
        .expect("connect")
}

/// Sends `request` as is on a new connection and reads one response.
pub async fn exchange(url: &str, request: &[u8]) -> RawResponse {
    let mut stream = connect(url).await;
    stream.write_all(request).await.expect("request written");
    read_response(&mut stream)
        .await
        .expect("a response before the connection closed")
}

/// Reads one response (head, then a `Content-Length` or chunked body, or
/// until the connection closes). `None` when the connection closed (or was
/// reset) before a whole head arrived.
pub async fn read_response<R: AsyncRead + Unpin>(stream: &mut R) -> Option<RawResponse> {
    tokio::time::timeout(DEADLINE, read_response_inner(stream))
        .await
        .expect("the server answered or closed in time")
}

async fn read_response_inner<R: AsyncRead + Unpin>(stream: &mut R) -> Option<RawResponse> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = find(&buf, b"\r\n\r\n") {
            break at;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {head:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = buf[head_end + 4..].to_vec();
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    loop {
        let done = match length {
            Some(length) => body.len() >= length,
            None if chunked => find(&body, b"0\r\n\r\n").is_some(),
            None => false,
        };
        if done {
            break;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    if chunked {
        body = dechunk(&body);
    }
    Some(RawResponse {
        status,
        headers,
        body,
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = find(data, b"\r\n") {
        let size = std::str::from_utf8(&data[..line_end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        let end = (start + size).min(data.len());
        out.extend_from_slice(&data[start..end]);
        data = &data[(end + 2).min(data.len())..];
    }
    out
}

/// Whether the server has closed `stream` (EOF or reset), waiting up to
/// `deadline`; whatever it sends first is discarded.
pub async fn closed_by_server(stream: &mut TcpStream, deadline: Duration) -> bool {
    let mut sink = [0u8; 4096];
    tokio::time::timeout(deadline, async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await
    .is_ok()
}
