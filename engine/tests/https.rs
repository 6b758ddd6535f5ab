//! `https` targets against a real TLS site with a self-signed certificate:
//! the pooled engine and a visitor's own connection, each with the trust a
//! spec can give (public roots, the site's certificate, or none checked).

use std::time::Duration;

use throng_engine::http::{HttpEngine, HttpEngines, HttpRequest, TlsTrust, VisitorConnection};
use throng_testkit::{HTTPS_PAGE, HttpsSite};

const TIMEOUT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_trusted_certificate_is_accepted_and_an_unknown_one_refused() {
    let site = HttpsSite::start().await;
    let url = format!("{}/", site.url);

    let public = HttpEngine::new();
    let error = public
        .get(&url, TIMEOUT)
        .await
        .expect_err("a self-signed site is not publicly trusted");
    assert_eq!(error.class(), "connect", "{error}");
    assert!(error.to_string().contains("certificate"), "{error}");

    let trusting = HttpEngine::with_trust(&TlsTrust::WithCertificates(site.certificate_pem.clone()), false);
    let request = HttpRequest {
        keep_body: true,
        ..HttpRequest::get(&url)
    };
    let answer = trusting.send(request, TIMEOUT).await.expect("trusted");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body.as_deref(), Some(HTTPS_PAGE.as_bytes()));

    let unverified = HttpEngine::with_trust(&TlsTrust::Unverified, false);
    assert_eq!(
        unverified.get(&url, TIMEOUT).await.expect("unchecked").status,
        200
    );
    assert_eq!(site.requests(), 2, "the refused handshake sent no request");
}

#[tokio::test]
async fn the_pool_keeps_its_tls_connections_alive() {
    let site = HttpsSite::start().await;
    let engines = HttpEngines::new();
    let trust = TlsTrust::WithCertificates(site.certificate_pem.clone());
    for path in ["/a", "/b", "/c"] {
        let engine = engines.engine(&trust, false);
        let answer = engine
            .get(&format!("{}{path}", site.url), TIMEOUT)
            .await
            .expect("answer");
        assert_eq!(answer.status, 200);
    }
    assert_eq!((site.requests(), site.connections()), (3, 1));
}

#[tokio::test]
async fn a_visitor_keeps_its_own_tls_connection() {
    let site = HttpsSite::start().await;
    let engines = HttpEngines::new();
    let trust = TlsTrust::WithCertificates(site.certificate_pem.clone());
    let mut first = VisitorConnection::with_tls(engines.visitor_tls(&trust));
    let mut second = VisitorConnection::with_tls(engines.visitor_tls(&trust));
    for path in ["/a", "/b"] {
        for visitor in [&mut first, &mut second] {
            let answer = visitor
                .send(HttpRequest::get(format!("{}{path}", site.url)), TIMEOUT)
                .await
                .expect("answer");
            assert_eq!((answer.status, answer.body_bytes), (200, HTTPS_PAGE.len() as u64));
        }
    }
    assert_eq!(
        (site.requests(), site.connections()),
        (4, 2),
        "one connection per visitor"
    );

    let mut doubting = VisitorConnection::with_tls(engines.visitor_tls(&TlsTrust::PublicRoots));
    let error = doubting
        .send(HttpRequest::get(format!("{}/", site.url)), TIMEOUT)
        .await
        .expect_err("not publicly trusted");
    assert!(error.to_string().contains("TLS handshake"), "{error}");
}

#[tokio::test]
async fn sessions_browse_an_https_site_over_the_pool_and_their_own_connections() {
    use std::sync::Arc;
    use throng_engine::campaign::session::{SessionContext, SessionPlan, run_session};
    use throng_engine::clock::WallClock;
    use throng_engine::lease::LeaseGuard;
    use throng_engine::spec::{Allowlist, CampaignSpec, ValidationContext};

    let site = HttpsSite::start().await;
    let context = SessionContext {
        engines: HttpEngines::new(),
        lease: LeaseGuard::always_valid(),
        clock: WallClock::now(),
        browsers: None,
        generator: Default::default(),
    };
    let allow = ValidationContext {
        allowlist: Allowlist::parse(&["127.0.0.1".to_string()]).expect("allowlist"),
    };
    let mut pages = 0;
    for connections in ["pooled", "per_visitor"] {
        let document = format!(
            "name: tls\ntarget: {{ url: \"{}\", connections: {connections}, tls: {{ ca: {} }} }}\n\
             pages: [\"/\", \"/a\"]\nsession: {{ pages: {{ min: 3, max: 3 }}, think_time: {{ min: 1ms, max: 1ms }} }}\n\
             load: {{ rate: 1, sessions: 1 }}\n",
            site.url,
            serde_json::to_string(&site.certificate_pem).expect("quoted"),
        );
        let spec = Arc::new(CampaignSpec::parse(&document, &allow).expect("valid"));
        let plan = SessionPlan::new(&spec, 0, 0);
        let outcome = run_session(&plan, &spec, &context, std::time::Instant::now()).await;
        assert!(!outcome.failed, "{connections}: {}", outcome.error);
        assert!(
            outcome.requests.iter().all(|r| r.status == 200),
            "{:?}",
            outcome.requests
        );
        pages += outcome.requests.len() as u64;
    }
    assert_eq!(site.requests(), pages);
}
