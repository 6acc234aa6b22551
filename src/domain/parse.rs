//! Strict parsing of any manifest fluidform accepts (runtimes, Datasets, profiles) from
//! JSON or YAML, with errors that name the JSON path of the offending field.
//!
//! Both formats are first read into a JSON value, so that a body which is not an object is
//! refused the same way and paths read the same whatever the format. JSON is then
//! deserialized straight from the bytes so that a field given twice is caught, as the
//! Kubernetes API server catches it; the YAML parser has already refused repeated keys.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::FieldError;

/// Input formats a manifest may come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestFormat {
    Json,
    Yaml,
}

/// Render a `serde_path_to_error` path the way validation names fields: `a.b[0].c`.
fn json_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    out
}

/// Make serde's messages about a manifest read like a reviewer's: drop the long list of
/// every accepted field that follows an unknown one.
fn tidy_message(msg: String) -> String {
    match msg.split_once(", expected one of") {
        Some((head, _)) if head.starts_with("unknown field") => head.to_string(),
        _ => msg,
    }
}

/// Read a body into a JSON value, refusing anything that is not an object.
pub(crate) fn parse_value(body: &[u8], format: ManifestFormat) -> Result<Value, FieldError> {
    let value: Value = match format {
        ManifestFormat::Json => {
            serde_json::from_slice(body).map_err(|e| FieldError::new("", format!("invalid JSON: {e}")))?
        }
        ManifestFormat::Yaml => {
            let text =
                std::str::from_utf8(body).map_err(|_| FieldError::new("", "invalid YAML: the body is not UTF-8"))?;
            serde_saphyr::from_str(text).map_err(|e| FieldError::new("", format!("invalid YAML: {e}")))?
        }
    };
    if !value.is_object() {
        return Err(FieldError::new("", "the manifest must be an object with apiVersion, kind, metadata and spec"));
    }
    Ok(value)
}

/// Deserialize an already-read value into `T`, naming the path of the first bad field.
pub(crate) fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value).map_err(|e| located(e.path(), e.inner().to_string()))
}

fn located(path: &serde_path_to_error::Path, msg: String) -> FieldError {
    let mut field = json_path(path);
    // serde names a repeated field in the message only; put it in the path.
    if let Some(name) = msg.strip_prefix("duplicate field `").and_then(|rest| rest.split('`').next()) {
        field = if field.is_empty() { name.to_string() } else { format!("{field}.{name}") };
    }
    FieldError::new(field, tidy_message(msg))
}

/// Parse a manifest strictly into `T`. `value` must be what [`parse_value`] returned for
/// the same body and format.
pub(crate) fn parse_into<T: DeserializeOwned>(
    body: &[u8],
    format: ManifestFormat,
    value: Value,
) -> Result<T, FieldError> {
    match format {
        ManifestFormat::Json => {
            let mut de = serde_json::Deserializer::from_slice(body);
            serde_path_to_error::deserialize(&mut de).map_err(|e| located(e.path(), e.inner().to_string()))
        }
        ManifestFormat::Yaml => from_value(value),
    }
}

/// Parse a manifest exactly as a user writes it: unknown fields are refused naming their
/// JSON path.
pub fn parse_strict<T: DeserializeOwned>(body: &[u8], format: ManifestFormat) -> Result<T, FieldError> {
    let value = parse_value(body, format)?;
    parse_into(body, format, value)
}
