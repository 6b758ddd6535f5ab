//! Targets: where a campaign's traffic goes, and how it is spoken.

use serde_json::{Map, Value};

use super::reader::Reader;
use super::{Allowlist, ValidationContext};
use crate::http::tls::{TlsTrust, parse_certificates};

/// A secret value (a Matomo `token_auth`, a GA4 `api_secret`): its Debug and
/// Display never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// The field names whose values are secrets, redacted wherever a spec is shown.
pub const SECRET_FIELDS: &[&str] = &["token_auth", "api_secret", "secret"];

/// How traffic is spoken to a target.
#[derive(Clone, Debug, PartialEq)]
pub enum TargetKind {
    /// Pages fetched from the site itself.
    Http,
    /// Matomo's tracking API at the target URL (e.g. `…/matomo.php`).
    Matomo {
        site_id: u32,
        token_auth: Option<Secret>,
        /// Hits per bulk request; 1 sends each hit as its own GET.
        bulk: u32,
    },
    /// GA4 Measurement Protocol at the target URL (e.g. `…/mp/collect`).
    Ga4 {
        measurement_id: String,
        api_secret: Secret,
        /// Read the collector's `validationMessages` (point the URL at
        /// `…/debug/mp/collect`): a payload it finds fault with is a failed request.
        validate: bool,
    },
    /// Real Chromium visits the site at the target URL: journeys become
    /// navigations, clicks, typing and scrolling.
    Browser {
        /// How many times a visit runs again when its browser dies under it.
        retries: u32,
    },
}

impl TargetKind {
    pub fn name(&self) -> &'static str {
        match self {
            TargetKind::Http => "http",
            TargetKind::Matomo { .. } => "matomo",
            TargetKind::Ga4 { .. } => "ga4",
            TargetKind::Browser { .. } => "browser",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct TargetSpec {
    /// For `http`, the site's base URL without a trailing slash; for tracking
    /// kinds, the collector endpoint.
    pub url: String,
    pub kind: TargetKind,
    /// Relative share of sessions sent to this target.
    pub share: f64,
    /// Speak HTTP/2 (cleartext, prior knowledge) instead of HTTP/1.1.
    pub http2: bool,
    /// Add a W3C `traceparent` header to every request, so the target's own
    /// traces link to the simulated session.
    pub traceparent: bool,
    /// Each visitor keeps its own keep-alive connection (as a browser does)
    /// instead of borrowing from the agent's shared pool (`http` targets).
    pub per_visitor_connections: bool,
    /// Which certificates `https` connections accept.
    pub tls: TlsTrust,
}

pub(crate) const TARGET_FIELDS: &[&str] = &[
    "url",
    "kind",
    "share",
    "site_id",
    "token_auth",
    "bulk",
    "measurement_id",
    "api_secret",
    "http2",
    "traceparent",
    "connections",
    "validate",
    "tls",
    "retries",
];

const TLS_FIELDS: &[&str] = &["ca", "verify"];

/// Reads `target` (one) or `targets` (a list).
pub(crate) fn read_targets(
    r: &mut Reader,
    root: &Map<String, Value>,
    context: &ValidationContext,
) -> Option<Vec<TargetSpec>> {
    match (root.get("target"), root.get("targets")) {
        (Some(_), Some(_)) => {
            r.error("targets", "give either target or targets, not both");
            None
        }
        (None, None) => {
            r.error("target", "is required (or targets, a list)");
            None
        }
        (Some(one), None) => Some(vec![read_target(r, one, "target", &context.allowlist)?]),
        (None, Some(many)) => {
            let Some(items) = many.as_array().filter(|a| !a.is_empty()) else {
                r.error("targets", "must be a non-empty list");
                return None;
            };
            let targets: Vec<Option<TargetSpec>> = items
                .iter()
                .enumerate()
                .map(|(i, item)| read_target(r, item, &format!("targets[{i}]"), &context.allowlist))
                .collect();
            let targets: Option<Vec<TargetSpec>> = targets.into_iter().collect();
            let targets = targets?;
            if targets.iter().all(|t| t.share <= 0.0) {
                r.error("targets", "shares sum to zero");
                return None;
            }
            Some(targets)
        }
    }
}

fn read_target(r: &mut Reader, value: &Value, path: &str, allowlist: &Allowlist) -> Option<TargetSpec> {
    let target = r.object(value, path, TARGET_FIELDS)?;
    let url = read_url(r, target, path, allowlist);
    let share = r.optional_f64(target, path, "share", 0.0, 1e9).unwrap_or(1.0);
    let flag = |r: &mut Reader, field: &str| match target.get(field) {
        None => false,
        Some(serde_json::Value::Bool(b)) => *b,
        Some(_) => {
            r.error(&format!("{path}.{field}"), "must be true or false");
            false
        }
    };
    let http2 = flag(r, "http2");
    let traceparent = flag(r, "traceparent");
    let tls = read_tls(r, target, path);
    let per_visitor_connections = match r.optional_str(target, path, "connections").as_deref() {
        None | Some("pooled") => false,
        Some("per_visitor") => true,
        Some(other) => {
            r.error(
                &format!("{path}.connections"),
                format!("unknown `{other}`; expected pooled or per_visitor"),
            );
            false
        }
    };
    let kind_name = r
        .optional_str(target, path, "kind")
        .unwrap_or_else(|| "http".to_string());
    let only_for = |r: &mut Reader, field: &str, kinds: &str| {
        if target.contains_key(field) {
            r.error(
                &format!("{path}.{field}"),
                format!("only applies to {kinds} targets"),
            );
        }
    };
    if kind_name != "browser" {
        only_for(r, "retries", "browser");
    }
    let kind = match kind_name.as_str() {
        "http" => {
            for field in [
                "site_id",
                "token_auth",
                "bulk",
                "measurement_id",
                "api_secret",
                "validate",
            ] {
                only_for(r, field, "matomo or ga4");
            }
            Some(TargetKind::Http)
        }
        "matomo" => {
            only_for(r, "measurement_id", "ga4");
            only_for(r, "api_secret", "ga4");
            only_for(r, "validate", "ga4");
            let site_id = r
                .optional_u64(target, path, "site_id", 1, u64::from(u32::MAX))
                .map(|v| v as u32);
            if !target.contains_key("site_id") {
                r.error(&format!("{path}.site_id"), "is required for matomo targets");
            }
            let bulk = r.optional_u64(target, path, "bulk", 1, 1000).unwrap_or(1) as u32;
            let token_auth = r.optional_str(target, path, "token_auth").map(Secret::new);
            site_id.map(|site_id| TargetKind::Matomo {
                site_id,
                token_auth,
                bulk,
            })
        }
        "ga4" => {
            for field in ["site_id", "token_auth", "bulk"] {
                only_for(r, field, "matomo");
            }
            let validate = flag(r, "validate");
            let measurement_id = r.optional_str(target, path, "measurement_id");
            let api_secret = r.optional_str(target, path, "api_secret");
            if measurement_id.is_none() {
                r.error(&format!("{path}.measurement_id"), "is required for ga4 targets");
            }
            if api_secret.is_none() {
                r.error(&format!("{path}.api_secret"), "is required for ga4 targets");
            }
            Some(TargetKind::Ga4 {
                measurement_id: measurement_id?,
                api_secret: Secret::new(api_secret?),
                validate,
            })
        }
        "browser" => {
            for field in [
                "site_id",
                "token_auth",
                "bulk",
                "measurement_id",
                "api_secret",
                "validate",
                "http2",
                "connections",
                "tls",
            ] {
                if target.contains_key(field) {
                    r.error(&format!("{path}.{field}"), "does not apply to browser targets");
                }
            }
            let retries = r.optional_u64(target, path, "retries", 0, 5).unwrap_or(1) as u32;
            Some(TargetKind::Browser { retries })
        }
        other => {
            r.error(
                &format!("{path}.kind"),
                format!("unknown kind `{other}`; expected http, matomo, ga4 or browser"),
            );
            None
        }
    };
    Some(TargetSpec {
        url: url?,
        kind: kind?,
        share,
        http2,
        traceparent,
        per_visitor_connections,
        tls: tls?,
    })
}

/// `tls: { ca: PEM, verify: false }` for `https` targets.
fn read_tls(r: &mut Reader, target: &Map<String, Value>, path: &str) -> Option<TlsTrust> {
    let Some(value) = target.get("tls") else {
        return Some(TlsTrust::PublicRoots);
    };
    let tls_path = format!("{path}.tls");
    let is_https = target
        .get("url")
        .and_then(Value::as_str)
        .is_some_and(|u| u.starts_with("https://"));
    if !is_https {
        r.error(&tls_path, "only applies to https:// targets");
    }
    let tls = r.object(value, &tls_path, TLS_FIELDS)?;
    let verify = match tls.get("verify") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            r.error(&format!("{tls_path}.verify"), "must be true or false");
            return None;
        }
    };
    let ca = r.optional_str(tls, &tls_path, "ca");
    match (verify, ca) {
        (false, Some(_)) => {
            r.error(
                &format!("{tls_path}.ca"),
                "is not used when verify is false; give one or the other",
            );
            None
        }
        (false, None) => Some(TlsTrust::Unverified),
        (true, None) => Some(TlsTrust::PublicRoots),
        (true, Some(pem)) => match parse_certificates(&pem) {
            Ok(_) => Some(TlsTrust::WithCertificates(pem)),
            Err(problem) => {
                r.error(&format!("{tls_path}.ca"), problem);
                None
            }
        },
    }
}

fn read_url(
    r: &mut Reader,
    target: &Map<String, Value>,
    path: &str,
    allowlist: &Allowlist,
) -> Option<String> {
    let url = r.required_str(target, path, "url")?;
    let field = format!("{path}.url");
    let uri: http::Uri = match url.parse() {
        Ok(uri) => uri,
        Err(e) => {
            r.error(&field, format!("is not a valid URL: {e}"));
            return None;
        }
    };
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => {
            r.error(&field, "must be an absolute http:// or https:// URL");
            return None;
        }
    }
    let Some(host) = uri.host() else {
        r.error(&field, "has no host");
        return None;
    };
    if uri.query().is_some() {
        r.error(&field, "must not carry a query string");
    }
    if !allowlist.allows(host) {
        r.error(
            &field,
            format!("host `{host}` is not in the target allowlist ({allowlist}); an operator must allow it"),
        );
        return None;
    }
    Some(url.trim_end_matches('/').to_string())
}

/// A copy of a document with every secret replaced by `***`: the fields
/// named in [`SECRET_FIELDS`], and the password of any URL written with
/// one (`postgres://user:***@host/db`).
pub fn redact(document: &Value) -> Value {
    match document {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if SECRET_FIELDS.contains(&k.as_str()) {
                        Value::String("***".into())
                    } else {
                        redact(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        Value::String(text) => Value::String(redact_url_password(text).into_owned()),
        other => other.clone(),
    }
}

/// `text` with the password of the URL it holds, if any, shown as `***`:
/// `scheme://user:password@host…` becomes `scheme://user:***@host…`.
pub fn redact_url_password(text: &str) -> std::borrow::Cow<'_, str> {
    let Some(scheme_end) = text.find("://") else {
        return text.into();
    };
    let authority_start = scheme_end + 3;
    let authority_end = text[authority_start..]
        .find(['/', '?', '#'])
        .map_or(text.len(), |i| authority_start + i);
    let authority = &text[authority_start..authority_end];
    let Some(at) = authority.rfind('@') else {
        return text.into();
    };
    let Some(colon) = authority[..at].find(':') else {
        return text.into();
    };
    let password = &authority[colon + 1..at];
    if password.is_empty() || password == "***" {
        return text.into();
    }
    let user_end = authority_start + colon + 1;
    format!("{}***{}", &text[..user_end], &text[authority_start + at..]).into()
}

#[cfg(test)]
mod tests {
    use super::redact_url_password;

    #[test]
    fn only_a_url_password_is_hidden() {
        for (text, shown) in [
            ("postgres://app:pw@db:5432/x", "postgres://app:***@db:5432/x"),
            (
                "postgres://app:p@ss@db/x?sslmode=off",
                "postgres://app:***@db/x?sslmode=off",
            ),
            (
                "https://user:tok@hooks.example/in",
                "https://user:***@hooks.example/in",
            ),
            ("postgres://app@db/x", "postgres://app@db/x"),
            ("https://example.com/a@b:c", "https://example.com/a@b:c"),
            ("postgres://app:***@db/x", "postgres://app:***@db/x"),
            ("plain text: with @ signs", "plain text: with @ signs"),
        ] {
            assert_eq!(redact_url_password(text), shown, "{text}");
        }
    }
}
