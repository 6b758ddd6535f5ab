//! Matomo's HTTP Tracking API: the parameters of every hit of a visit, and
//! bulk requests. Reference: Matomo's "Tracking HTTP API" documentation.
//!
//! Overrides Matomo only accepts from an authenticated request (`cip`,
//! `cdt`, `country`) are sent only when a `token_auth` is configured; the
//! token is a secret and never appears in logs or telemetry.

use serde_json::json;

use super::journey::{Action, PlannedStep};
use super::visit::{Cart, Order, VisitContext, title};
use crate::ids::{self, Part};

/// A Matomo target.
#[derive(Clone, Debug, PartialEq)]
pub struct MatomoSettings {
    pub site_id: u32,
    /// Whether a `token_auth` is configured (the token itself travels separately).
    pub authenticated: bool,
}

/// One hit's parameters, in order.
pub type Hit = Vec<(&'static str, String)>;

/// A page view id: 6 alphanumerics, shared by a page and the actions on it.
pub fn page_view_id(session_id: u64, page_index: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut h = ids::stable_hash(&[
        Part::Str("pv_id"),
        Part::U64(session_id),
        Part::U64(page_index as u64),
    ]);
    (0..6)
        .map(|_| {
            let c = ALPHABET[(h % ALPHABET.len() as u64) as usize] as char;
            h /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

/// A stable IP for a visitor, from the benchmarking range 198.18.0.0/15
/// (RFC 2544) so it can never be mistaken for a real person's address.
pub fn visitor_ip(visitor_id: u64) -> String {
    let bits = (visitor_id % (1 << 17)) as u32;
    format!("198.{}.{}.{}", 18 + (bits >> 16), (bits >> 8) & 0xff, bits & 0xff)
}

fn items_json(cart: &Cart) -> String {
    let items: Vec<serde_json::Value> = cart
        .items
        .iter()
        .map(|(p, quantity)| json!([p.sku, p.name, p.category, p.price, quantity]))
        .collect();
    serde_json::Value::Array(items).to_string()
}

fn money(value: f64) -> String {
    format!("{value:.2}")
}

/// Tracks one visit's hits, in order, keeping the state Matomo needs across
/// them (current page view id, cart, whether this is the first hit).
pub struct MatomoVisit<'a> {
    settings: &'a MatomoSettings,
    visit: &'a VisitContext,
    hits_sent: usize,
    pages: usize,
    page_view: String,
    current_url: String,
    cart: Cart,
}

impl<'a> MatomoVisit<'a> {
    pub fn new(settings: &'a MatomoSettings, visit: &'a VisitContext) -> Self {
        MatomoVisit {
            settings,
            visit,
            hits_sent: 0,
            pages: 0,
            page_view: String::new(),
            current_url: visit.page_url("/", true),
            cart: Cart::default(),
        }
    }

    /// The parameters every hit carries.
    fn base(&self, now_ms: u64) -> Hit {
        let v = self.visit;
        let seconds = |ms: u64| (ms / 1000).to_string();
        let clock = (now_ms / 1000) % 86_400;
        let mut hit: Hit = vec![
            ("idsite", self.settings.site_id.to_string()),
            ("rec", "1".to_string()),
            ("apiv", "1".to_string()),
            (
                "rand",
                (ids::stable_hash(&[Part::U64(v.session_id), Part::U64(self.hits_sent as u64)]) % 1_000_000)
                    .to_string(),
            ),
            ("_id", v.who.visitor.matomo_id()),
            ("_idvc", v.who.visitor.visit_count.to_string()),
            ("_idts", seconds(v.first_visit_ms)),
            ("res", v.who.resolution.clone()),
            ("lang", v.who.language.clone()),
            ("ua", v.who.user_agent.to_string()),
            ("h", (clock / 3600).to_string()),
            ("m", ((clock / 60) % 60).to_string()),
            ("s", (clock % 60).to_string()),
            ("send_image", "0".to_string()),
        ];
        if let Some(previous) = v.previous_visit_ms {
            hit.push(("_viewts", seconds(previous)));
        }
        if self.hits_sent == 0 {
            // The first hit opens the visit and says where it came from.
            hit.push(("new_visit", "1".to_string()));
            if let Some(referrer) = &v.who.referrer_url {
                hit.push(("urlref", referrer.clone()));
            }
        }
        if self.settings.authenticated {
            hit.push(("country", v.who.country.clone()));
            hit.push(("cip", visitor_ip(v.who.visitor.id)));
            hit.push(("cdt", seconds(now_ms)));
        }
        hit
    }

    fn page(&mut self, step: &PlannedStep, now_ms: u64) -> Hit {
        let landing = self.pages == 0;
        self.current_url = self.visit.page_url(&step.path, landing);
        self.page_view = page_view_id(self.visit.session_id, self.pages);
        self.pages += 1;
        let mut hit = self.base(now_ms);
        hit.push(("url", self.current_url.clone()));
        hit.push(("action_name", title(&step.path)));
        hit.push(("pv_id", self.page_view.clone()));
        hit
    }

    fn on_page(&self, now_ms: u64) -> Hit {
        let mut hit = self.base(now_ms);
        hit.push(("url", self.current_url.clone()));
        hit.push(("pv_id", self.page_view.clone()));
        hit
    }

    /// The hits of one step (most steps are one hit; a cart update or an
    /// order is a page view plus an ecommerce hit).
    pub fn hits(&mut self, step: &PlannedStep, now_ms: u64) -> Vec<Hit> {
        let product = step
            .product
            .and_then(|i| self.visit.site.products.get(i))
            .cloned();
        let mut hits = Vec::new();
        match step.action {
            Action::PageView | Action::Click | Action::FormSubmit => hits.push(self.page(step, now_ms)),
            Action::Search => {
                let query = step.query.clone().unwrap_or_default();
                let results = ids::stable_hash(&[Part::Str(&query)]) % 40;
                self.current_url = self.visit.page_url(&step.path, self.pages == 0);
                self.page_view = page_view_id(self.visit.session_id, self.pages);
                self.pages += 1;
                let mut hit = self.base(now_ms);
                hit.push(("url", self.current_url.clone()));
                hit.push(("pv_id", self.page_view.clone()));
                hit.push(("search", query));
                hit.push(("search_cat", String::new()));
                hit.push(("search_count", results.to_string()));
                hits.push(hit);
            }
            Action::Event => {
                let mut hit = self.on_page(now_ms);
                hit.push(("e_c", "Engagement".to_string()));
                hit.push(("e_a", "Scroll".to_string()));
                hit.push(("e_n", title(&step.path)));
                hit.push(("e_v", "90".to_string()));
                hits.push(hit);
            }
            Action::Download => {
                let mut hit = self.on_page(now_ms);
                hit.push(("download", self.visit.page_url(&step.path, false)));
                hits.push(hit);
            }
            Action::Outlink => {
                let mut hit = self.on_page(now_ms);
                hit.push(("link", step.path.clone()));
                hits.push(hit);
            }
            Action::ProductView => {
                let mut hit = self.page(step, now_ms);
                if let Some(p) = &product {
                    hit.push(("_pks", p.sku.clone()));
                    hit.push(("_pkn", p.name.clone()));
                    hit.push(("_pkc", p.category.clone()));
                    hit.push(("_pkp", money(p.price)));
                }
                hits.push(hit);
            }
            Action::AddToCart => {
                hits.push(self.page(step, now_ms));
                if let Some(p) = &product {
                    self.cart.add(p);
                }
                let mut update = self.on_page(now_ms);
                update.push(("idgoal", "0".to_string()));
                update.push(("ec_items", items_json(&self.cart)));
                update.push(("revenue", money(self.cart.total())));
                hits.push(update);
            }
            Action::Order => {
                hits.push(self.page(step, now_ms));
                if self.cart.items.is_empty()
                    && let Some(p) = &product
                {
                    self.cart.add(p);
                }
                let Order {
                    subtotal,
                    tax,
                    shipping,
                    revenue,
                } = self.cart.order();
                let mut order = self.on_page(now_ms);
                order.push(("idgoal", "0".to_string()));
                order.push((
                    "ec_id",
                    format!(
                        "{:012x}",
                        ids::stable_hash(&[Part::Str("order"), Part::U64(self.visit.session_id)]) >> 16
                    ),
                ));
                order.push(("ec_items", items_json(&self.cart)));
                order.push(("revenue", money(revenue)));
                order.push(("ec_st", money(subtotal)));
                order.push(("ec_tx", money(tax)));
                order.push(("ec_sh", money(shipping)));
                order.push(("ec_dt", money(0.0)));
                hits.push(order);
                self.cart = Cart::default();
            }
        }
        self.hits_sent += hits.len();
        hits
    }
}

/// A bulk tracking body: `{"requests": ["?…", …], "token_auth": …}`.
pub fn bulk_body(hits: &[Hit], token_auth: Option<&str>) -> String {
    let requests: Vec<String> = hits
        .iter()
        .map(|h| format!("?{}", super::visit::query_string(h)))
        .collect();
    match token_auth {
        Some(token) => json!({ "requests": requests, "token_auth": token }).to_string(),
        None => json!({ "requests": requests }).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::traffic::journey::Site;
    use crate::campaign::traffic::persona::{Device, ReferrerKind};
    use crate::campaign::traffic::visit::Visitant;
    use crate::campaign::traffic::visitor::Visitor;

    fn visit() -> VisitContext {
        VisitContext {
            session_id: 77,
            who: Visitant {
                visitor: Visitor::for_session(1, "c", "p", 12, 77, true, 10),
                device: Device::Desktop,
                user_agent: "UA",
                resolution: "1920x1080".into(),
                language: "de-DE".into(),
                country: "de".into(),
                referrer: ReferrerKind::Campaign,
                referrer_url: Some("https://news.example/".into()),
                campaign: Some(("newsletter".into(), "email".into(), "spring".into())),
            },
            site_url: "https://shop.example".into(),
            site: std::sync::Arc::new(Site::with_pages(vec!["/".into()])),
            start_ms: 1_700_000_000_000,
            first_visit_ms: 1_690_000_000_000,
            previous_visit_ms: Some(1_699_000_000_000),
        }
    }

    fn step(action: Action, path: &str, product: Option<usize>) -> PlannedStep {
        PlannedStep {
            name: "j.s".into(),
            action,
            path: path.into(),
            think_before: std::time::Duration::ZERO,
            product,
            query: (action == Action::Search).then(|| "oak desk".to_string()),
        }
    }

    fn get<'h>(hit: &'h Hit, key: &str) -> Option<&'h str> {
        hit.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str())
    }

    #[test]
    fn a_visit_is_tracked_consistently() {
        let settings = MatomoSettings {
            site_id: 3,
            authenticated: false,
        };
        let context = visit();
        let mut tracker = MatomoVisit::new(&settings, &context);
        let mut hits = Vec::new();
        let now = context.start_ms;
        hits.extend(tracker.hits(&step(Action::PageView, "/", None), now));
        hits.extend(tracker.hits(&step(Action::Search, "/search?q=oak+desk", None), now));
        hits.extend(tracker.hits(&step(Action::ProductView, "/products/sku-desk", Some(2)), now));
        hits.extend(tracker.hits(&step(Action::Event, "/products/sku-desk", None), now));
        hits.extend(tracker.hits(&step(Action::AddToCart, "/cart", Some(2)), now));
        hits.extend(tracker.hits(&step(Action::Order, "/order/complete", Some(2)), now));
        assert_eq!(hits.len(), 8);
        for hit in &hits {
            assert_eq!(get(hit, "idsite"), Some("3"));
            assert_eq!(get(hit, "rec"), Some("1"));
            assert_eq!(get(hit, "_id"), Some(context.who.visitor.matomo_id().as_str()));
            assert_eq!(get(hit, "_idvc"), Some("3"));
            assert!(
                get(hit, "_id").is_some_and(|id| id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit()))
            );
            assert!(
                get(hit, "country").is_none() && get(hit, "cdt").is_none(),
                "no overrides without a token"
            );
        }
        // Only the first hit opens the visit and carries the referrer and UTM landing URL.
        assert_eq!(get(&hits[0], "new_visit"), Some("1"));
        assert_eq!(get(&hits[0], "urlref"), Some("https://news.example/"));
        assert!(get(&hits[0], "url").is_some_and(|u| u.contains("utm_campaign=spring")));
        assert!(hits[1..].iter().all(|h| get(h, "new_visit").is_none()));
        assert_eq!(get(&hits[1], "search"), Some("oak desk"));
        assert_eq!(get(&hits[2], "_pks"), Some("SKU-DESK"));
        // The event belongs to the product page it happened on.
        assert_eq!(get(&hits[3], "pv_id"), get(&hits[2], "pv_id"));
        assert_eq!(get(&hits[3], "e_c"), Some("Engagement"));
        let cart: serde_json::Value =
            serde_json::from_str(get(&hits[5], "ec_items").expect("items")).expect("json");
        assert_eq!(cart[0][0], "SKU-DESK");
        assert_eq!(get(&hits[5], "revenue"), Some("349.00"));
        assert!(get(&hits[7], "ec_id").is_some());
        assert_eq!(get(&hits[7], "revenue"), Some("423.75"));
    }

    #[test]
    fn overrides_need_a_token_and_bulk_bodies_parse() {
        let settings = MatomoSettings {
            site_id: 1,
            authenticated: true,
        };
        let context = visit();
        let mut tracker = MatomoVisit::new(&settings, &context);
        let hits = tracker.hits(&step(Action::PageView, "/", None), context.start_ms);
        assert_eq!(get(&hits[0], "country"), Some("de"));
        let ip = get(&hits[0], "cip").expect("cip with a token");
        assert!(ip.starts_with("198.18.") || ip.starts_with("198.19."), "{ip}");
        assert_eq!(ip, visitor_ip(context.who.visitor.id), "stable per visitor");
        let body = bulk_body(&hits, Some("secret-token"));
        let parsed: serde_json::Value = serde_json::from_str(&body).expect("bulk body is JSON");
        let request = parsed["requests"][0].as_str().expect("request string");
        assert!(request.starts_with("?idsite=1&rec=1"));
        assert_eq!(parsed["token_auth"], "secret-token");
        assert_eq!(page_view_id(1, 0).len(), 6);
        assert_ne!(page_view_id(1, 0), page_view_id(1, 1));
    }
}
