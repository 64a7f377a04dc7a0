//! Bounded strings: text fields that cannot be empty or megabytes long.

use serde::{de, Deserialize, Deserializer, Serialize};

/// Text of `MIN` to `MAX` characters, surrounding white space removed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Text<const MIN: usize, const MAX: usize>(String);

impl<const MIN: usize, const MAX: usize> Text<MIN, MAX> {
    /// Trims `raw` and checks its length in characters.
    pub fn parse(raw: &str) -> Result<Self, String> {
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

impl<'de, const MIN: usize, const MAX: usize> Deserialize<'de> for Text<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Text::parse(&raw).map_err(de::Error::custom)
    }
}

impl<const MIN: usize, const MAX: usize> utoipa::PartialSchema for Text<MIN, MAX> {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(MIN))
            .max_length(Some(MAX))
            .into()
    }
}

impl<const MIN: usize, const MAX: usize> utoipa::ToSchema for Text<MIN, MAX> {}

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
}
