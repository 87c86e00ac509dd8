//! Typed reads out of a JSON object that name the offending field on error.

use serde_json::{Map, Value};

use super::InputError;

/// The body as a JSON object.
pub fn object(body: &[u8]) -> Result<Map<String, Value>, InputError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(InputError::NotAnObject),
        Err(e) => Err(InputError::InvalidJson(e.to_string())),
    }
}

/// Removes and returns a string field. Numbers are accepted as their text
/// (some callers send phone numbers and codes as numbers); null is absent.
pub fn take_str(
    obj: &mut Map<String, Value>,
    key: &str,
    path: &'static str,
) -> Result<Option<String>, InputError> {
    match obj.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(InputError::FieldType {
            field: path,
            expected: "a string",
        }),
    }
}

/// Removes and returns an object field (absent or null gives an empty object).
pub fn take_obj(
    obj: &mut Map<String, Value>,
    key: &str,
    path: &'static str,
) -> Result<Map<String, Value>, InputError> {
    match obj.remove(key) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(InputError::FieldType {
            field: path,
            expected: "an object",
        }),
    }
}

/// Removes and returns any field (absent gives null).
pub fn take_any(obj: &mut Map<String, Value>, key: &str) -> Value {
    obj.remove(key).unwrap_or(Value::Null)
}

/// Records what is left of an object under `extra.<name>` when anything is.
pub fn keep_rest(extra: &mut Map<String, Value>, name: &str, rest: Map<String, Value>) {
    if !rest.is_empty() {
        extra.insert(name.to_owned(), Value::Object(rest));
    }
}
