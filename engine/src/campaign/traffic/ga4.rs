//! GA4 Measurement Protocol: one JSON payload per step, posted to
//! `/mp/collect?measurement_id=…&api_secret=…` (or `/debug/mp/collect` to
//! have the collector validate it). The `api_secret` is a secret: it is only
//! ever put in the request URL, never logged or recorded.

use serde_json::{Value, json};

use super::journey::{Action, PlannedStep};
use super::visit::{Cart, VisitContext, encode, title};
use crate::ids::{self, Part};

/// GA4 `client_id` in the usual `random.first_visit_seconds` form, stable per visitor.
pub fn client_id(visit: &VisitContext) -> String {
    format!(
        "{}.{}",
        visit.who.visitor.id & 0xffff_ffff,
        visit.first_visit_ms / 1000
    )
}

/// The collector's complaints about a payload, from a debug endpoint's
/// answer (`{"validationMessages": [{"description": …}, …]}`); None if it has none.
pub fn validation_error(body: &[u8]) -> Option<String> {
    let answer: Value = serde_json::from_slice(body).ok()?;
    let messages = answer.get("validationMessages")?.as_array()?;
    let texts: Vec<String> = messages
        .iter()
        .map(|m| {
            m.get("description")
                .and_then(Value::as_str)
                .unwrap_or("invalid payload")
                .to_string()
        })
        .collect();
    (!texts.is_empty()).then(|| format!("ga4 validation: {}", texts.join("; ")))
}

/// The collect URL of `endpoint` (e.g. `http://host/mp/collect`).
pub fn collect_url(endpoint: &str, measurement_id: &str, api_secret: &str) -> String {
    format!(
        "{endpoint}?measurement_id={}&api_secret={}",
        encode(measurement_id),
        encode(api_secret)
    )
}

fn items(cart: &Cart) -> Vec<Value> {
    cart.items
        .iter()
        .map(|(p, quantity)| {
            json!({"item_id": p.sku, "item_name": p.name, "item_category": p.category, "price": p.price, "quantity": quantity})
        })
        .collect()
}

/// Builds one visit's payloads in order, keeping its cart and engagement time.
pub struct Ga4Visit<'a> {
    visit: &'a VisitContext,
    events_sent: usize,
    last_ms: u64,
    cart: Cart,
    page_location: String,
}

impl<'a> Ga4Visit<'a> {
    pub fn new(visit: &'a VisitContext) -> Self {
        Ga4Visit {
            visit,
            events_sent: 0,
            last_ms: visit.start_ms,
            cart: Cart::default(),
            page_location: visit.page_url("/", true),
        }
    }

    fn params(&self, now_ms: u64, mut extra: Value) -> Value {
        let engagement = now_ms.saturating_sub(self.last_ms).max(1);
        if let Value::Object(map) = &mut extra {
            map.insert(
                "session_id".into(),
                json!((self.visit.start_ms / 1000).to_string()),
            );
            map.insert("engagement_time_msec".into(), json!(engagement));
            map.insert("page_location".into(), json!(self.page_location));
            map.insert("language".into(), json!(self.visit.who.language.to_lowercase()));
            map.insert("screen_resolution".into(), json!(self.visit.who.resolution));
        }
        extra
    }

    /// The payload of one step.
    pub fn payload(&mut self, step: &PlannedStep, now_ms: u64) -> Value {
        let product = step
            .product
            .and_then(|i| self.visit.site.products.get(i))
            .cloned();
        let mut events = Vec::new();
        if self.events_sent == 0 {
            events.push(json!({"name": "session_start", "params": self.params(now_ms, json!({}))}));
        }
        if step.action.is_page() {
            self.page_location = self.visit.page_url(&step.path, self.events_sent == 0);
            let mut page = json!({"page_title": title(&step.path)});
            if self.events_sent == 0
                && let Some(referrer) = &self.visit.who.referrer_url
            {
                page["page_referrer"] = json!(referrer);
            }
            events.push(json!({"name": "page_view", "params": self.params(now_ms, page)}));
        }
        let currency = "EUR";
        match step.action {
            Action::Search => events.push(json!({"name": "search", "params": self.params(now_ms,
                json!({"search_term": step.query.clone().unwrap_or_default()}))})),
            Action::Event => events.push(json!({"name": "scroll", "params": self.params(now_ms,
                json!({"percent_scrolled": 90}))})),
            Action::Download => {
                let url = self.visit.page_url(&step.path, false);
                let file = step.path.rsplit('/').next().unwrap_or("").to_string();
                let extension = file.rsplit('.').next().unwrap_or("").to_string();
                events.push(json!({"name": "file_download", "params": self.params(now_ms,
                    json!({"link_url": url, "file_name": file, "file_extension": extension}))}));
            }
            Action::Outlink => events.push(json!({"name": "click", "params": self.params(now_ms,
                json!({"link_url": step.path, "outbound": true}))})),
            Action::ProductView => {
                if let Some(p) = &product {
                    let mut single = Cart::default();
                    single.add(p);
                    events.push(json!({"name": "view_item", "params": self.params(now_ms,
                        json!({"currency": currency, "value": p.price, "items": items(&single)}))}));
                }
            }
            Action::AddToCart => {
                if let Some(p) = &product {
                    self.cart.add(p);
                    let mut single = Cart::default();
                    single.add(p);
                    events.push(json!({"name": "add_to_cart", "params": self.params(now_ms,
                        json!({"currency": currency, "value": p.price, "items": items(&single)}))}));
                }
            }
            Action::Order => {
                if self.cart.items.is_empty()
                    && let Some(p) = &product
                {
                    self.cart.add(p);
                }
                let order = self.cart.order();
                let transaction = format!(
                    "T{:012x}",
                    ids::stable_hash(&[Part::Str("order"), Part::U64(self.visit.session_id)]) >> 16
                );
                events.push(json!({"name": "purchase", "params": self.params(now_ms, json!({
                    "transaction_id": transaction, "currency": currency, "value": order.revenue,
                    "tax": order.tax, "shipping": order.shipping, "items": items(&self.cart)}))}));
                self.cart = Cart::default();
            }
            Action::PageView | Action::Click | Action::FormSubmit => {}
        }
        self.events_sent += events.len();
        self.last_ms = now_ms;
        json!({
            "client_id": client_id(self.visit),
            "timestamp_micros": now_ms * 1000,
            "non_personalized_ads": false,
            "user_properties": {"device_category": {"value": self.visit.who.device.name()}},
            "events": events,
        })
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
            session_id: 5,
            who: Visitant {
                visitor: Visitor::for_session(1, "c", "p", 3, 5, false, 10),
                device: Device::Mobile,
                user_agent: "UA",
                resolution: "390x844".into(),
                language: "en-US".into(),
                country: "us".into(),
                referrer: ReferrerKind::Search,
                referrer_url: Some("https://www.google.com/".into()),
                campaign: None,
            },
            site_url: "https://shop.example".into(),
            site: std::sync::Arc::new(Site::with_pages(vec!["/".into()])),
            start_ms: 1_700_000_000_000,
            first_visit_ms: 1_700_000_000_000,
            previous_visit_ms: None,
        }
    }

    fn step(action: Action, path: &str, product: Option<usize>) -> PlannedStep {
        PlannedStep {
            name: "j.s".into(),
            action,
            path: path.into(),
            think_before: std::time::Duration::ZERO,
            product,
            query: None,
        }
    }

    #[test]
    fn payloads_carry_the_required_fields() {
        let context = visit();
        let mut tracker = Ga4Visit::new(&context);
        let first = tracker.payload(&step(Action::PageView, "/", None), context.start_ms);
        let names: Vec<&str> = first["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter_map(|e| e["name"].as_str())
            .collect();
        assert_eq!(names, vec!["session_start", "page_view"]);
        assert_eq!(first["client_id"], client_id(&context));
        assert_eq!(
            first["events"][1]["params"]["page_referrer"],
            "https://www.google.com/"
        );
        for event in first["events"].as_array().expect("events") {
            assert!(event["params"]["session_id"].is_string());
            assert!(
                event["params"]["engagement_time_msec"]
                    .as_u64()
                    .is_some_and(|t| t > 0)
            );
        }
        let view = tracker.payload(
            &step(Action::ProductView, "/products/sku-lamp", Some(0)),
            context.start_ms + 5000,
        );
        assert_eq!(view["events"][1]["name"], "view_item");
        assert_eq!(view["events"][1]["params"]["items"][0]["item_id"], "SKU-LAMP");
        assert_eq!(view["events"][1]["params"]["engagement_time_msec"], 5000);
        tracker.payload(
            &step(Action::AddToCart, "/cart", Some(0)),
            context.start_ms + 6000,
        );
        let order = tracker.payload(
            &step(Action::Order, "/order/complete", Some(0)),
            context.start_ms + 7000,
        );
        let purchase = &order["events"][1];
        assert_eq!(purchase["name"], "purchase");
        assert!(
            purchase["params"]["transaction_id"]
                .as_str()
                .is_some_and(|t| t.starts_with('T'))
        );
        assert_eq!(purchase["params"]["items"].as_array().map(Vec::len), Some(1));
        let url = collect_url("http://127.0.0.1:1/mp/collect", "G-ABC", "s e");
        assert_eq!(
            url,
            "http://127.0.0.1:1/mp/collect?measurement_id=G-ABC&api_secret=s%20e"
        );
    }

    #[test]
    fn debug_answers_are_read() {
        let complaint = br#"{"validationMessages":[{"fieldPath":"events","description":"Event name is reserved.","validationCode":"NAME_RESERVED"}]}"#;
        assert_eq!(
            validation_error(complaint).as_deref(),
            Some("ga4 validation: Event name is reserved.")
        );
        assert_eq!(validation_error(br#"{"validationMessages":[]}"#), None);
        assert_eq!(validation_error(b""), None);
    }
}
