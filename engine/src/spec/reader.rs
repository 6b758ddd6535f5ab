//! A small reader over a parsed document that records every problem with its
//! field path and keeps going, so one pass reports them all.

use std::time::Duration;

use serde_json::{Map, Value};

use super::FieldError;

#[derive(Default)]
pub(crate) struct Reader {
    errors: Vec<FieldError>,
}

fn join(parent: &str, field: &str) -> String {
    if parent.is_empty() {
        field.to_string()
    } else {
        format!("{parent}.{field}")
    }
}

impl Reader {
    pub(crate) fn error(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            path: if path.is_empty() {
                "(document)".into()
            } else {
                path.to_string()
            },
            message: message.into(),
        });
    }

    pub(crate) fn into_errors(self) -> Vec<FieldError> {
        self.errors
    }

    /// The value as an object; unknown fields are reported (and ignored).
    pub(crate) fn object<'v>(
        &mut self,
        value: &'v Value,
        path: &str,
        known: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        let Some(map) = value.as_object() else {
            self.error(path, "must be a mapping");
            return None;
        };
        for key in map.keys() {
            if !known.contains(&key.as_str()) {
                self.error(
                    &join(path, key),
                    format!("unknown field; expected one of: {}", known.join(", ")),
                );
            }
        }
        Some(map)
    }

    pub(crate) fn required_str(
        &mut self,
        map: &Map<String, Value>,
        parent: &str,
        field: &str,
    ) -> Option<String> {
        match map.get(field) {
            None => {
                self.error(&join(parent, field), "is required");
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.error(&join(parent, field), "must be a string");
                None
            }
        }
    }

    pub(crate) fn required_f64(
        &mut self,
        map: &Map<String, Value>,
        parent: &str,
        field: &str,
    ) -> Option<f64> {
        match map.get(field) {
            None => {
                self.error(&join(parent, field), "is required");
                None
            }
            Some(value) => match value.as_f64() {
                Some(v) if v.is_finite() => Some(v),
                _ => {
                    self.error(&join(parent, field), "must be a number");
                    None
                }
            },
        }
    }

    /// An optional whole number in `[min, max]`.
    pub(crate) fn optional_u64(
        &mut self,
        map: &Map<String, Value>,
        parent: &str,
        field: &str,
        min: u64,
        max: u64,
    ) -> Option<u64> {
        let value = map.get(field)?;
        let path = join(parent, field);
        match value.as_u64() {
            Some(v) if (min..=max).contains(&v) => Some(v),
            Some(_) => {
                self.error(&path, format!("must be between {min} and {max}"));
                None
            }
            None => {
                self.error(&path, format!("must be a whole number between {min} and {max}"));
                None
            }
        }
    }

    /// An optional human duration (`"500ms"`, `"30s"`, `"2m"`) in `[min, max]`.
    pub(crate) fn optional_duration(
        &mut self,
        map: &Map<String, Value>,
        parent: &str,
        field: &str,
        min: Duration,
        max: Duration,
    ) -> Option<Duration> {
        let value = map.get(field)?;
        let path = join(parent, field);
        let parsed = match value {
            Value::String(s) => humantime::parse_duration(s.trim()).map_err(|e| e.to_string()),
            _ => Err("must be a duration such as \"500ms\", \"30s\" or \"2m\"".to_string()),
        };
        match parsed {
            Ok(d) if d >= min && d <= max => Some(d),
            Ok(_) => {
                self.error(&path, format!("must be between {min:?} and {max:?}"));
                None
            }
            Err(e) => {
                self.error(
                    &path,
                    format!("is not a duration ({e}); use e.g. \"500ms\", \"30s\", \"2m\""),
                );
                None
            }
        }
    }
}

impl Reader {
    /// An optional string.
    pub(crate) fn optional_str(
        &mut self,
        map: &Map<String, Value>,
        parent: &str,
        field: &str,
    ) -> Option<String> {
        match map.get(field)? {
            Value::String(s) => Some(s.clone()),
            _ => {
                self.error(&join(parent, field), "must be a string");
                None
            }
        }
    }

    /// An optional number in `[min, max]`.
    pub(crate) fn optional_f64(
        &mut self,
        map: &Map<String, Value>,
        parent: &str,
        field: &str,
        min: f64,
        max: f64,
    ) -> Option<f64> {
        let value = map.get(field)?;
        match value.as_f64() {
            Some(v) if v.is_finite() && v >= min && v <= max => Some(v),
            _ => {
                self.error(
                    &join(parent, field),
                    format!("must be a number between {min} and {max}"),
                );
                None
            }
        }
    }

    /// An optional probability (a number in [0, 1]).
    pub(crate) fn probability(&mut self, map: &Map<String, Value>, parent: &str, field: &str) -> Option<f64> {
        self.optional_f64(map, parent, field, 0.0, 1.0)
    }

    /// An optional mapping of names to non-negative weights, not all zero.
    /// With `allowed`, names outside it are reported.
    pub(crate) fn weights(
        &mut self,
        map: &Map<String, Value>,
        parent: &str,
        field: &str,
        allowed: Option<&[&str]>,
    ) -> Option<Vec<(String, f64)>> {
        let path = join(parent, field);
        let value = map.get(field)?;
        let Some(entries) = value.as_object() else {
            self.error(
                &path,
                "must be a mapping of names to weights, e.g. { a: 0.7, b: 0.3 }",
            );
            return None;
        };
        let mut weights = Vec::new();
        let mut ok = true;
        for (name, weight) in entries {
            if let Some(allowed) = allowed
                && !allowed.contains(&name.as_str())
            {
                self.error(
                    &join(&path, name),
                    format!("unknown; expected one of: {}", allowed.join(", ")),
                );
                ok = false;
                continue;
            }
            match weight.as_f64() {
                Some(w) if w.is_finite() && w >= 0.0 => weights.push((name.clone(), w)),
                _ => {
                    self.error(&join(&path, name), "weight must be a number >= 0");
                    ok = false;
                }
            }
        }
        if ok && weights.iter().all(|(_, w)| *w <= 0.0) {
            self.error(&path, "weights sum to zero");
            return None;
        }
        ok.then_some(weights)
    }
}
