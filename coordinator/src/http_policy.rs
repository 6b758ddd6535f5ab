//! What the HTTP API tells browsers: security headers on every answer, a
//! content security policy for the dashboard that admits only its own
//! inline script and style (by hash) and its assets from the same origin, and CORS for the origins an operator
//! allows with `--cors-origin`, so a page served elsewhere can call the API.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

/// Who may call from a browser page of another origin.
#[derive(Clone, Debug, Default)]
pub struct BrowserPolicy {
    /// Origins allowed (`https://console.example`), or `*` for any.
    pub cors_origins: Vec<String>,
}

impl BrowserPolicy {
    fn allows(&self, origin: &str) -> bool {
        self.cors_origins.iter().any(|o| o == "*" || o == origin)
    }
}

/// The `'sha256-…'` source of an inline block's text.
fn hash_source(text: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    )
}

/// The text between `open` and `close` in `page`, if both are there.
fn between<'a>(page: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = page.find(open)? + open.len();
    let end = start + page[start..].find(close)?;
    Some(&page[start..end])
}

/// The dashboard's content security policy: its own inline script and
/// style (if any), the scripts and assets it loads from this origin,
/// calls to this origin only, no framing. Images may also be `blob:` URLs,
/// which only the page's own scripts make (a failed visit's screenshot is
/// fetched with the token and shown from one).
pub fn dashboard_csp(page: &str) -> String {
    let inline = |open, close| {
        between(page, open, close).map_or_else(String::new, |text| format!(" {}", hash_source(text)))
    };
    let (script, style) = (inline("<script>", "</script>"), inline("<style>", "</style>"));
    format!(
        "default-src 'none'; script-src 'self'{script}; style-src 'self'{style}; connect-src 'self'; \
         img-src 'self' data: blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

/// The policy for everything that is not the dashboard page: nothing to
/// run, and never in a frame.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

fn set_security_headers(headers: &mut HeaderMap, csp: &str) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY)
        && let Ok(value) = HeaderValue::from_str(csp)
    {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
}

fn set_cors_headers(headers: &mut HeaderMap, origin: &HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type"),
    );
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
}

/// The middleware: answers CORS preflights (before any token is asked, as
/// browsers send none with them) and adds the headers to every answer.
pub async fn apply(State(policy): State<Arc<BrowserPolicy>>, request: Request, next: Next) -> Response {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .filter(|o| o.to_str().is_ok_and(|o| policy.allows(o)))
        .cloned();
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight {
        let status = if origin.is_some() {
            StatusCode::NO_CONTENT
        } else {
            StatusCode::FORBIDDEN
        };
        status.into_response()
    } else {
        next.run(request).await
    };
    set_security_headers(response.headers_mut(), API_CSP);
    if let Some(origin) = &origin {
        set_cors_headers(response.headers_mut(), origin);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dashboard_policy_admits_exactly_its_own_script_and_style() {
        let page = "<html><style>b{}</style><script>go()</script></html>";
        let csp = dashboard_csp(page);
        assert!(
            csp.contains(&format!("script-src 'self' {}", hash_source("go()"))),
            "{csp}"
        );
        assert!(
            csp.contains(&format!("style-src 'self' {}", hash_source("b{}"))),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        // The hash of a known text, as browsers compute it.
        assert_eq!(
            hash_source(""),
            "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"
        );
    }

    #[test]
    fn origins_are_allowed_by_name_or_all_at_once() {
        let some = BrowserPolicy {
            cors_origins: vec!["https://console.example".into()],
        };
        assert!(some.allows("https://console.example"));
        assert!(!some.allows("https://evil.example"));
        assert!(!BrowserPolicy::default().allows("https://console.example"));
        let all = BrowserPolicy {
            cors_origins: vec!["*".into()],
        };
        assert!(all.allows("https://anything.example"));
    }
}
