//! Bounded strings: text fields that cannot be empty or megabytes long.

use serde::{de, Deserialize, Deserializer, Serialize};

/// Text of `MIN` to `MAX` characters, surrounding white space removed.
///
/// Control characters (C0, DEL and C1: NUL, ESC, CR, ...) are refused:
/// stored, they break terminals, logs and headers. `MULTILINE` text (a
/// description) may hold tab and newline. Every script, emoji sequences,
/// zero-width joiners and bidi marks are text and stay as sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Text<const MIN: usize, const MAX: usize, const MULTILINE: bool = false>(String);

/// Whether `c` may be stored in text (`multiline`: tab and newline too).
pub fn allowed_char(c: char, multiline: bool) -> bool {
    !c.is_control() || (multiline && matches!(c, '\t' | '\n'))
}

impl<const MIN: usize, const MAX: usize, const MULTILINE: bool> Text<MIN, MAX, MULTILINE> {
    /// Trims `raw` and checks its characters and its length in characters.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if let Some(bad) = raw.chars().find(|c| !allowed_char(*c, MULTILINE)) {
            return Err(format!(
                "must not contain control characters (found U+{:04X}){}",
                u32::from(bad),
                if MULTILINE {
                    " other than tab and newline"
                } else {
                    ""
                }
            ));
        }
        let trimmed = raw.trim();
        let chars = trimmed.chars().count();
        if chars < MIN || chars > MAX {
            if MIN == 0 {
                return Err(format!("must be at most {MAX} characters"));
            }
            return Err(format!("must be from {MIN} to {MAX} characters"));
        }
        Ok(Text(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl<'de, const MIN: usize, const MAX: usize, const MULTILINE: bool> Deserialize<'de>
    for Text<MIN, MAX, MULTILINE>
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Text::parse(&raw).map_err(de::Error::custom)
    }
}

impl<const MIN: usize, const MAX: usize, const MULTILINE: bool> utoipa::PartialSchema
    for Text<MIN, MAX, MULTILINE>
{
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(MIN))
            .max_length(Some(MAX))
            .into()
    }
}

impl<const MIN: usize, const MAX: usize, const MULTILINE: bool> utoipa::ToSchema
    for Text<MIN, MAX, MULTILINE>
{
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_bounds() {
        type Name = Text<1, 5>;
        assert_eq!(Name::parse("  ab ").unwrap().as_str(), "ab");
        assert!(Name::parse("   ").is_err());
        assert!(Name::parse("abcdef").is_err());
        assert!(Name::parse("ééééé").is_ok());
        assert!(serde_json::from_str::<Name>("12").is_err());
    }

    #[test]
    fn control_characters_are_refused_and_real_text_kept() {
        type Name = Text<1, 50>;
        type Notes = Text<0, 50, true>;
        for bad in [
            "a\0b",
            "a\u{1b}[31mb",
            "a\rb",
            "a\u{7f}",
            "a\u{85}b",
            "a\u{9b}b",
        ] {
            assert!(Name::parse(bad).is_err(), "{bad:?}");
            assert!(Notes::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Name::parse("a\tb").is_err());
        assert!(Name::parse("a\nb").is_err());
        assert_eq!(Notes::parse("a\tb\nc").unwrap().as_str(), "a\tb\nc");
        for good in [
            "Ñandú",
            "東京タワー",
            "שלום\u{200f}",
            "👩‍👩‍👧‍👦 family",
            "a\u{200d}b",
            "مرحبا",
        ] {
            assert_eq!(Name::parse(good).unwrap().as_str(), good);
        }
    }
}
