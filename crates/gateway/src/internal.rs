//! Service-only endpoints: what the gateway never routes.
//!
//! Some endpoints exist only for another service (stock reservations, the
//! cart's lines for a checkout, their removal and their return, an order's
//! payment attempt, refunding a payment), and the identity service's
//! sessions, which only the gateway's own sign-in uses. The service-only ones also require the service
//! credential on the services' own ports, which the gateway never holds, so this list is the second of two
//! locks: with no `SERVICE_TOKEN` configured it is the only one. The path
//! is compared after percent-decoding, with empty and `.` segments dropped
//! and `..` applied, so no spelling of a service-only path slips through.

/// Whether `path` (the part after `/api/<service>`) of `service` is a
/// service-only endpoint (whatever the method).
pub fn is_service_only(service: &str, path: &str) -> bool {
    let segments = normalized_segments(path);
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    // A user id may hold an encoded `/`, so the action is looked for in
    // every segment after the id's first.
    let after_id = |action: &str| segments.len() >= 3 && segments[2..].contains(&action);
    match (service, segments.as_slice()) {
        ("catalog", ["reservations", ..]) => true,
        ("cart", ["cart", ..]) => {
            after_id("remove-items") || after_id("restore-items") || after_id("checkout-lines")
        }
        ("order", ["orders", ..]) => after_id("payment-attempt"),
        ("payment", ["payments", ..]) => after_id("refund"),
        // The gateway's own sessions (`crate::session`): clients sign in at
        // `/api/session` and never see a session token.
        ("identity", ["auth", "sessions", ..]) => true,
        _ => false,
    }
}

/// The path's segments, percent-decoded, lowercased, without empty or `.`
/// segments, `..` applied.
pub(crate) fn normalized_segments(path: &str) -> Vec<String> {
    let decoded = percent_decode(path).to_lowercase();
    let mut out: Vec<String> = Vec::new();
    // A decoded `/` separates too: `%2F` is as good as `/` to an attacker.
    for segment in decoded.split(['/', '\\']) {
        match segment {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            other => out.push(other.to_owned()),
        }
    }
    out
}

/// Percent-decodes repeatedly (a double-encoded `%2572` is `r` to a
/// lenient server), keeping invalid escapes as they are.
fn percent_decode(raw: &str) -> String {
    let mut current = raw.to_owned();
    for _ in 0..4 {
        let bytes = current.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' && i + 2 < bytes.len() {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                if let Some(byte) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    out.push(byte);
                    i += 3;
                    continue;
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        let next = String::from_utf8_lossy(&out).into_owned();
        if next == current {
            break;
        }
        current = next;
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_service_only_path_is_caught() {
        for path in [
            "/reservations",
            "/reservations/",
            "/reservations/k1/release",
            "//reservations",
            "/./reservations",
            "/x/../reservations",
            "/%72eservations",
            "/%2572eservations",
            "/RESERVATIONS",
            "/%2Freservations%2Fk%2Frelease",
        ] {
            assert!(is_service_only("catalog", path), "{path}");
        }
        assert!(is_service_only("cart", "/cart/alice/remove-items"));
        assert!(is_service_only("cart", "/cart/alice/checkout-lines"));
        assert!(is_service_only("cart", "/cart/alice/%72estore-items"));
        assert!(is_service_only("cart", "/cart/alice/%63heckout-lines"));
        assert!(is_service_only("cart", "/cart/a%2Fb/remove-items/"));
        assert!(is_service_only("order", "/orders/3/payment-attempt"));
        assert!(is_service_only("payment", "/payments/p-1/refund"));
        assert!(is_service_only("payment", "/payments/p-1/%52efund/"));
        assert!(is_service_only("identity", "/auth/sessions"));
        assert!(is_service_only("identity", "/auth/%53essions/access"));
        assert!(is_service_only("identity", "/auth/sessions/provider"));
        assert!(is_service_only("identity", "//auth/x/../sessions/end"));
    }

    #[test]
    fn public_endpoints_still_route() {
        assert!(!is_service_only("catalog", "/products"));
        assert!(!is_service_only("cart", "/cart/alice"));
        assert!(!is_service_only("cart", "/cart/alice/items"));
        assert!(!is_service_only("order", "/orders/3/payment"));
        // GET lists; POST is the seed's way for a client to pay (through
        // the order's flow).
        assert!(!is_service_only("payment", "/payments"));
        assert!(!is_service_only("payment", "/payments/order/3"));
        assert!(!is_service_only("payment", "/payments/abc"));
        assert!(!is_service_only("identity", "/auth/login"));
        assert!(!is_service_only("identity", "/.well-known/jwks.json"));
    }
}
