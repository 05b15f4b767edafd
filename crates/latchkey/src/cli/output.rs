//! Printing answers: JSON with `--json`, otherwise a short human summary.

use std::process::ExitCode;

use serde::Serialize;
use serde_json::Value;

use super::VerbResult;
use crate::client::ClientError;

/// Prints `v` as JSON (with `--json`) or via `human`.
pub fn emit<T: Serialize>(json: bool, v: &T, human: impl FnOnce(&Value)) -> VerbResult {
    let value = serde_json::to_value(v).map_err(|e| ClientError::Local(e.to_string()))?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&value).map_err(|e| ClientError::Local(e.to_string()))?
        );
    } else {
        human(&value);
    }
    Ok(ExitCode::SUCCESS)
}

/// A string field of a JSON object, or `-`.
pub fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("-")
}

/// Prints a JSON value as indented `key: value` lines.
pub fn pretty(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// Prints each element of a JSON array with `line`.
pub fn each(v: &Value, line: impl Fn(&Value) -> String) {
    for item in v.as_array().map(Vec::as_slice).unwrap_or_default() {
        println!("{}", line(item));
    }
}
