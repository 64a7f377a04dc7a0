//! Plain sentences for what serde, serde_json and axum report about a bad
//! request: `?: EOF while parsing an object` becomes "The body is not valid
//! JSON: it ends inside an object (line 1, column 14)", and `invalid type:
//! string "x", expected i64` becomes "product_id must be a whole number,
//! not the text "x"". Each message still names the field or the position.

/// What a JSON syntax error means, in words (serde_json's message in).
fn syntax_reason(message: &str) -> &'static str {
    const REASONS: [(&str, &str); 17] = [
        ("EOF while parsing an object", "it ends inside an object"),
        ("EOF while parsing a list", "it ends inside a list"),
        ("EOF while parsing a string", "it ends inside a string"),
        (
            "EOF while parsing a value",
            "it ends where a value should be",
        ),
        ("trailing comma", "there is a comma after the last item"),
        ("expected `,` or `}`", "a comma or a closing } is missing"),
        ("expected `,` or `]`", "a comma or a closing ] is missing"),
        ("expected `:`", "a colon is missing after a key"),
        ("key must be a string", "keys must be text in double quotes"),
        (
            "expected value",
            "a value is missing or is not JSON (text needs double quotes)",
        ),
        (
            "expected ident",
            "true, false and null must be written in lowercase",
        ),
        ("trailing characters", "there is more after the JSON object"),
        (
            "control character",
            "text holds a raw control character (escape it)",
        ),
        ("invalid escape", "text holds an invalid escape sequence"),
        (
            "invalid unicode code point",
            "text holds an invalid \\u escape",
        ),
        ("number out of range", "a number is out of range"),
        ("invalid number", "a number is malformed"),
    ];
    REASONS
        .iter()
        .find(|(pattern, _)| message.contains(pattern))
        .map_or("it is malformed", |(_, reason)| reason)
}

/// What a type or format name of serde means to a person.
fn kind(expected: &str) -> &'static str {
    let expected = expected.trim().trim_matches('`');
    match expected {
        "i8" | "i16" | "i32" | "i64" | "i128" | "u8" | "u16" | "u32" | "u64" | "u128" | "usize"
        | "isize" => "a whole number",
        "f32" | "f64" | "a JSON number" => "a number",
        "a string" | "a borrowed string" | "a character" | "a string or a number" => "text",
        "a boolean" => "true or false",
        "a sequence" => "a list",
        _ if expected.starts_with("struct ") || expected == "a map" => "an object",
        _ => "of another kind",
    }
}

/// What a value serde reports as unexpected was, in words.
fn value(got: &str) -> String {
    let got = got.trim();
    let quoted = |prefix: &str| got.strip_prefix(prefix).map(|rest| rest.trim_matches('`'));
    if let Some(text) = got.strip_prefix("string ") {
        return format!("the text {text}");
    }
    if let Some(number) = quoted("floating point ").or(quoted("integer ")) {
        return number.to_owned();
    }
    if let Some(boolean) = quoted("boolean ") {
        return boolean.to_owned();
    }
    match got {
        "null" | "unit" => "null".to_owned(),
        "map" => "an object".to_owned(),
        "sequence" => "a list".to_owned(),
        other => other.to_owned(),
    }
}

/// The names between backticks in `text`.
fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// A plain sentence for serde's message about `field` (a path such as
/// `items[0].quantity`, or empty for the whole body or query).
pub fn data_message(field: &str, message: &str) -> String {
    let subject = if field.is_empty() || field == "." {
        "The request"
    } else {
        field
    };
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let (got, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let expected = kind(expected);
        let got = value(got);
        // A whole number too large for 64 bits arrives as a float.
        if expected == "a whole number" && !got.contains('.') && got.contains("e+") {
            return format!("{subject} must be a whole number, and {got} is too large");
        }
        return format!("{subject} must be {expected}, not {got}");
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        let (got, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        return format!("{subject} must be {expected}, not {}", value(got));
    }
    if message.starts_with("missing field ") {
        let name = backticked(message).first().copied().unwrap_or("a field");
        let name = if field.is_empty() || field == "." {
            name.to_owned()
        } else {
            format!("{field}.{name}")
        };
        return format!("{name} is required");
    }
    if message.starts_with("duplicate field ") {
        let name = backticked(message).first().copied().unwrap_or("a field");
        return format!("{name} is given twice");
    }
    if message.starts_with("unknown variant ") {
        let names = backticked(message);
        if let Some((got, allowed)) = names.split_first() {
            return format!("{subject} must be one of {}, not {got}", allowed.join(", "));
        }
    }
    if message.starts_with("unknown field ") {
        let names = backticked(message);
        if let Some((got, allowed)) = names.split_first() {
            return format!(
                "{got} is not a field here (expected {})",
                allowed.join(", ")
            );
        }
    }
    // Integers of a query or path (parsed from text by std).
    match message {
        "invalid digit found in string" | "cannot parse integer from empty string" => {
            return format!("{subject} must be a whole number");
        }
        "number too large to fit in target type" | "number too small to fit in target type" => {
            return format!("{subject} must be a whole number within range");
        }
        "invalid float literal" => return format!("{subject} must be a number"),
        "provided string was not `true` or `false`" => {
            return format!("{subject} must be true or false")
        }
        _ => {}
    }
    // Shop's own checks: "must be ...", or a sentence naming the field.
    let last = field.rsplit('.').next().unwrap_or(field);
    if subject == "The request" || (!last.is_empty() && message.starts_with(last)) {
        message.to_owned()
    } else if message.starts_with("must ") || message.starts_with("is ") {
        format!("{subject} {message}")
    } else {
        format!("{subject}: {message}")
    }
}

/// A plain sentence for a JSON body serde_json refused, naming the field
/// (`path`) or the position.
pub fn json_body(path: &str, err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let text = err.to_string();
    let message = match text.find(" at line ") {
        Some(at) => &text[..at],
        None => text.as_str(),
    };
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => format!(
            "The body is not valid JSON: {} (line {}, column {})",
            syntax_reason(message),
            err.line(),
            err.column()
        ),
        Category::Data => data_message(path, message),
    }
}

/// A plain sentence for a path parameter that is not of its type: `name`
/// (when known) and the value it had.
pub fn path_parameter(name: Option<&str>, raw: &str, expected: &str) -> String {
    let subject = match name {
        Some(name) => format!("{name} in the path"),
        None => "A path parameter".to_owned(),
    };
    format!("{subject} must be {}, not {raw}", kind(expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &str) -> String {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Item {
            product_id: i64,
            quantity: i64,
            note: Option<String>,
            fast: Option<bool>,
        }
        let mut de = serde_json::Deserializer::from_str(json);
        let err = match serde_path_to_error::deserialize::<_, Item>(&mut de) {
            Err(err) => err,
            Ok(_) => match de.end() {
                Err(err) => return json_body("", &err),
                Ok(()) => panic!("{json} parsed"),
            },
        };
        let path = err.path().to_string();
        json_body(&path, err.inner())
    }

    #[test]
    fn syntax_errors_say_what_and_where() {
        assert_eq!(
            body(r#"{"product_id": 1, "quantity": 2"#),
            "The body is not valid JSON: it ends inside an object (line 1, column 31)"
        );
        assert_eq!(
            body(r#"{"product_id": 1, "quantity": 2,}"#),
            "The body is not valid JSON: there is a comma after the last item (line 1, column 33)"
        );
        assert_eq!(
            body(r#"{"product_id": 1 "quantity": 2}"#),
            "The body is not valid JSON: a comma or a closing } is missing (line 1, column 18)"
        );
        assert_eq!(
            body("{'product_id': 1}"),
            "The body is not valid JSON: keys must be text in double quotes (line 1, column 2)"
        );
        assert_eq!(
            body(r#"{"product_id": 1, "quantity": 2} x"#),
            "The body is not valid JSON: there is more after the JSON object (line 1, column 34)"
        );
        assert!(body(r#"{"product_id": tru}"#).contains("lowercase"));
        assert!(body(r#"{"product_id": abc}"#).contains("a value is missing"));
        assert!(body("{\"note\": \"a\u{1}b\"}").contains("control character"));
    }

    #[test]
    fn type_errors_name_the_field_and_what_it_must_be() {
        assert_eq!(
            body(r#"{"product_id": "x", "quantity": 2}"#),
            r#"product_id must be a whole number, not the text "x""#
        );
        assert_eq!(
            body(r#"{"product_id": 1.5, "quantity": 2}"#),
            "product_id must be a whole number, not 1.5"
        );
        assert_eq!(
            body(r#"{"product_id": 1, "quantity": 99999999999999999999}"#),
            "quantity must be a whole number, and 1e+20 is too large"
        );
        assert_eq!(
            body(r#"{"product_id": null, "quantity": 1}"#),
            "product_id must be a whole number, not null"
        );
        assert_eq!(
            body(r#"{"product_id": 1, "quantity": 1, "fast": "yes"}"#),
            r#"fast must be true or false, not the text "yes""#
        );
        assert_eq!(
            body(r#"{"product_id": 1, "quantity": 1, "note": 5}"#),
            "note must be text, not 5"
        );
        assert_eq!(body(r#"{"quantity": 2}"#), "product_id is required");
        assert_eq!(
            body(r#"{"product_id": 1, "quantity": 1, "product_id": 2}"#),
            "product_id is given twice"
        );
        assert_eq!(
            body(r#"{"product_id": 1, "quantity": 1, "colour": 2}"#),
            "colour is not a field here (expected product_id, quantity, note, fast)"
        );
    }

    #[test]
    fn variants_queries_and_shops_own_checks_read_as_sentences() {
        assert_eq!(
            data_message(
                "status",
                "unknown variant `bogus`, expected one of `pending`, `paid`"
            ),
            "status must be one of pending, paid, not bogus"
        );
        assert_eq!(
            data_message("limit", "invalid digit found in string"),
            "limit must be a whole number"
        );
        assert_eq!(
            data_message("price", "must have at most two decimals"),
            "price must have at most two decimals"
        );
        assert_eq!(
            data_message("quantity", "quantity must be from 1 to 1000000, got 0"),
            "quantity must be from 1 to 1000000, got 0"
        );
        assert_eq!(
            path_parameter(Some("order_id"), "abc", "i64"),
            "order_id in the path must be a whole number, not abc"
        );
    }
}
