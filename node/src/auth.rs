//! Who may call a node: bearer tokens with a role, checked on every gRPC
//! call and HTTP request, and a per-token rate limit.
//!
//! Tokens come from a file of `role token` lines (`admin …`, `read …`;
//! `#` starts a comment). A `read` token may call what only looks
//! (get, list, watch, status, analytics, scoring); an `admin` token may also
//! change things (create, start, stop, rates, scenarios, injected events,
//! target probes). Agents accept the cluster's token, which the coordinator
//! sends; its role is admin. Tokens are compared in constant time and never
//! appear in errors or logs. The gRPC health service stays open for probes.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use subtle::ConstantTimeEq;

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Read,
    Admin,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Admin => "admin",
        }
    }
}

/// The shortest token accepted: shorter ones are guessable.
pub const MIN_TOKEN_LEN: usize = 16;

/// Known tokens and their roles.
#[derive(Clone, Default)]
pub struct Tokens {
    entries: Vec<(Role, Vec<u8>)>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokens({} tokens)", self.entries.len())
    }
}

impl Tokens {
    /// One admin token (the cluster's, on agents).
    pub fn admin(token: &str) -> Result<Tokens, String> {
        Tokens::parse(&format!("admin {token}"))
    }

    /// Reads `role token` lines; every problem is named by its line.
    pub fn parse(text: &str) -> Result<Tokens, String> {
        let mut entries = Vec::new();
        let mut problems = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let mut words = line.split_whitespace();
            let (Some(role), Some(token), None) = (words.next(), words.next(), words.next()) else {
                problems.push(format!(
                    "line {}: expected `admin TOKEN` or `read TOKEN`",
                    number + 1
                ));
                continue;
            };
            let role = match role {
                "admin" => Role::Admin,
                "read" => Role::Read,
                other => {
                    problems.push(format!(
                        "line {}: unknown role `{other}`; expected admin or read",
                        number + 1
                    ));
                    continue;
                }
            };
            if token.len() < MIN_TOKEN_LEN {
                problems.push(format!(
                    "line {}: the token is shorter than {MIN_TOKEN_LEN} characters",
                    number + 1
                ));
                continue;
            }
            entries.push((role, token.as_bytes().to_vec()));
        }
        if entries.is_empty() && problems.is_empty() {
            problems.push("no tokens".to_string());
        }
        if problems.is_empty() {
            Ok(Tokens { entries })
        } else {
            Err(problems.join("; "))
        }
    }

    pub fn load(path: &std::path::Path) -> Result<Tokens, String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Tokens::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The role of a presented token and its index (for rate limiting).
    /// Every known token is compared, each in constant time.
    fn find(&self, presented: &[u8]) -> Option<(usize, Role)> {
        let mut found = None;
        for (index, (role, token)) in self.entries.iter().enumerate() {
            if bool::from(token.as_slice().ct_eq(presented)) {
                found = Some((index, *role));
            }
        }
        found
    }
}

/// Why a call is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No token, or one that is not known.
    Unauthenticated(&'static str),
    /// A known token whose role may not do this.
    Forbidden { needs: Role },
    /// Too many calls with this token.
    Limited,
}

impl Refusal {
    pub fn to_status(&self) -> tonic::Status {
        match self {
            Refusal::Unauthenticated(why) => tonic::Status::unauthenticated(*why),
            Refusal::Forbidden { needs } => {
                tonic::Status::permission_denied(format!("this call needs the {} role", needs.name()))
            }
            Refusal::Limited => tonic::Status::resource_exhausted("rate limit: slow down"),
        }
    }
}

/// A token bucket per token: `rate` calls a second, bursts of `burst`.
#[derive(Debug)]
pub struct RateLimit {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<usize, (f64, Instant)>>,
}

impl RateLimit {
    pub fn new(rate: f64, burst: f64) -> RateLimit {
        RateLimit {
            rate,
            burst: burst.max(1.0),
            buckets: Mutex::default(),
        }
    }

    fn admit(&self, key: usize) -> bool {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (level, at) = buckets.entry(key).or_insert((self.burst, now));
        *level = (*level + now.duration_since(*at).as_secs_f64() * self.rate).min(self.burst);
        *at = now;
        if *level >= 1.0 {
            *level -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The gRPC methods that change things: they need the admin role.
const ADMIN_METHODS: &[&str] = &[
    "CreateCampaign",
    "StartCampaign",
    "PauseCampaign",
    "ResumeCampaign",
    "StopCampaign",
    "DeleteCampaign",
    "SetCampaignRate",
    "UpdateCampaign",
    "CloneCampaign",
    "TestTarget",
    "ApplyScenario",
    "StopScenario",
    "ResetScenarios",
    "InjectEvents",
    "ApplyLibraryItem",
    "DeleteLibraryItem",
];

/// The role a gRPC method (`/package.Service/Method`) needs, or none for
/// the health service, which probes call without a token.
pub fn grpc_role(path: &str) -> Option<Role> {
    if path.starts_with("/grpc.health.") {
        return None;
    }
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let (service, method) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    if service.ends_with(".AgentService") || ADMIN_METHODS.contains(&method) {
        Some(Role::Admin)
    } else {
        Some(Role::Read)
    }
}

/// The checks every call of a node goes through; `None` tokens means the
/// node is open (no tokens configured).
#[derive(Debug, Default)]
pub struct Guard {
    pub tokens: Option<Tokens>,
    pub limit: Option<RateLimit>,
}

impl Guard {
    pub fn open() -> Guard {
        Guard::default()
    }

    /// Whether a call with this `authorization` header value may do what
    /// needs `needs`.
    pub fn check(&self, authorization: Option<&[u8]>, needs: Option<Role>) -> Result<(), Refusal> {
        let Some(needs) = needs else {
            return Ok(());
        };
        let Some(tokens) = &self.tokens else {
            return Ok(());
        };
        let Some(header) = authorization else {
            return Err(Refusal::Unauthenticated("a bearer token is required"));
        };
        let Some(presented) = header.strip_prefix(b"Bearer ") else {
            return Err(Refusal::Unauthenticated(
                "the authorization header must be `Bearer TOKEN`",
            ));
        };
        let Some((index, role)) = tokens.find(presented.trim_ascii()) else {
            return Err(Refusal::Unauthenticated("the token is not valid"));
        };
        if role < needs {
            return Err(Refusal::Forbidden { needs });
        }
        if let Some(limit) = &self.limit
            && !limit.admit(index)
        {
            return Err(Refusal::Limited);
        }
        Ok(())
    }
}

/// A tower layer that checks every gRPC call against a [`Guard`] before it
/// reaches the service.
#[derive(Clone)]
pub struct GuardLayer {
    guard: Arc<Guard>,
}

impl GuardLayer {
    pub fn new(guard: Arc<Guard>) -> GuardLayer {
        GuardLayer { guard }
    }
}

impl<S> tower::Layer<S> for GuardLayer {
    type Service = Guarded<S>;

    fn layer(&self, inner: S) -> Guarded<S> {
        Guarded {
            inner,
            guard: self.guard.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Guarded<S> {
    inner: S,
    guard: Arc<Guard>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, R> tower::Service<http::Request<B>> for Guarded<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    R: Default + Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let needs = grpc_role(request.uri().path());
        let authorization = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .map(|v| v.as_bytes());
        match self.guard.check(authorization, needs) {
            Ok(()) => Box::pin(self.inner.call(request)),
            Err(refusal) => {
                let response = refusal.to_status().into_http();
                Box::pin(async move { Ok(response) })
            }
        }
    }
}

/// Adds `authorization: Bearer TOKEN` to a request when there is a token.
pub fn authorize<T>(request: &mut tonic::Request<T>, token: Option<&str>) {
    if let Some(token) = token
        && let Ok(value) = format!("Bearer {token}").parse()
    {
        request.metadata_mut().insert("authorization", value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: &str = "admin-token-0123456789";
    const READ: &str = "read-token-0123456789";

    fn guard() -> Guard {
        Guard {
            tokens: Some(
                Tokens::parse(&format!(
                    "# operators\nadmin {ADMIN}\nread {READ}  # dashboards\n"
                ))
                .expect("tokens"),
            ),
            limit: None,
        }
    }

    fn bearer(token: &str) -> Vec<u8> {
        format!("Bearer {token}").into_bytes()
    }

    #[test]
    fn roles_decide_what_a_token_may_call() {
        let guard = guard();
        let create = grpc_role("/throng.v1.ControlService/CreateCampaign");
        let list = grpc_role("/throng.v1.ControlService/ListCampaigns");
        assert_eq!(create, Some(Role::Admin));
        assert_eq!(list, Some(Role::Read));
        assert_eq!(grpc_role("/throng.v1.AgentService/Describe"), Some(Role::Admin));
        assert_eq!(grpc_role("/grpc.health.v1.Health/Check"), None);

        assert_eq!(guard.check(Some(&bearer(ADMIN)), create), Ok(()));
        assert_eq!(guard.check(Some(&bearer(READ)), list), Ok(()));
        assert_eq!(
            guard.check(Some(&bearer(READ)), create),
            Err(Refusal::Forbidden { needs: Role::Admin })
        );
        assert!(matches!(
            guard.check(None, list),
            Err(Refusal::Unauthenticated(_))
        ));
        assert!(matches!(
            guard.check(Some(&bearer("read-token-012345678")), list),
            Err(Refusal::Unauthenticated(_))
        ));
        assert!(matches!(
            guard.check(Some(READ.as_bytes()), list),
            Err(Refusal::Unauthenticated(_))
        ));
        assert_eq!(guard.check(None, None), Ok(()), "health probes need no token");
        assert_eq!(Guard::open().check(None, create), Ok(()), "no tokens: open");
    }

    #[test]
    fn refusals_never_show_the_token() {
        let guard = guard();
        let wrong = "wrong-token-abcdefghijkl";
        for refusal in [
            guard.check(Some(&bearer(wrong)), Some(Role::Read)),
            guard.check(Some(&bearer(READ)), Some(Role::Admin)),
        ] {
            let status = refusal.expect_err("refused").to_status();
            assert!(!status.message().contains(wrong) && !status.message().contains(READ));
        }
        assert!(!format!("{:?}", guard.tokens).contains(ADMIN));
    }

    /// The RPCs a proto file declares.
    fn rpcs(proto: &str) -> Vec<String> {
        proto
            .lines()
            .filter_map(|l| l.trim().strip_prefix("rpc "))
            .filter_map(|l| l.split('(').next())
            .map(|name| name.trim().to_string())
            .collect()
    }

    #[test]
    fn the_api_page_lists_every_rpc_with_its_role() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let read = |path: &str| std::fs::read_to_string(root.join(path)).expect(path);
        let page = read("docs/api.md");
        let rows: Vec<(String, String)> = page
            .lines()
            .filter_map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
                let role = cells.get(3)?;
                (!name.contains(' ') && !name.contains('/')).then(|| (name.to_string(), role.to_string()))
            })
            .collect();
        let mut declared = 0;
        for (proto, service) in [
            ("proto/throng/v1/control.proto", "ControlService"),
            ("proto/throng/v1/agent.proto", "AgentService"),
        ] {
            let names = rpcs(&read(proto));
            declared += names.len();
            for rpc in names {
                let role = match grpc_role(&format!("/throng.v1.{service}/{rpc}")) {
                    Some(Role::Admin) if service == "AgentService" => "cluster",
                    Some(role) => role.name(),
                    None => "open",
                };
                let listed = rows.iter().find(|(name, _)| *name == rpc);
                assert_eq!(
                    listed.map(|(_, r)| r.as_str()),
                    Some(role),
                    "docs/api.md lists {service}/{rpc} with role {role}"
                );
            }
        }
        assert_eq!(rows.len(), declared, "docs/api.md lists no RPC the protos lack");
    }

    #[test]
    fn bad_token_files_name_every_line() {
        let problems = Tokens::parse("admin short\nroot abcdefghijklmnopqrstu\nread\n").expect_err("bad");
        for expected in [
            "line 1: the token is shorter",
            "line 2: unknown role `root`",
            "line 3: expected",
        ] {
            assert!(problems.contains(expected), "{expected}: {problems}");
        }
        assert_eq!(Tokens::parse("# nothing\n").expect_err("empty"), "no tokens");
    }

    #[test]
    fn the_rate_limit_admits_a_burst_then_the_rate() {
        let guard = Guard {
            limit: Some(RateLimit::new(1.0, 3.0)),
            ..guard()
        };
        let admitted = (0..10)
            .filter(|_| guard.check(Some(&bearer(READ)), Some(Role::Read)).is_ok())
            .count();
        assert_eq!(admitted, 3);
        // Another token has its own bucket.
        assert_eq!(guard.check(Some(&bearer(ADMIN)), Some(Role::Read)), Ok(()));
    }
}
