//! What every tracking hit of one visit shares: the visitor, device,
//! language, referrer and the cart, plus URL helpers.

use super::journey::{Action, PlannedStep, Product, Site};
use super::persona::{Device, ReferrerKind};
use super::visitor::Visitor;

/// Who makes a visit, on what, and from where: drawn when the session is planned.
#[derive(Clone, Debug, PartialEq)]
pub struct Visitant {
    pub visitor: Visitor,
    pub device: Device,
    pub user_agent: &'static str,
    pub resolution: String,
    pub language: String,
    pub country: String,
    pub referrer: ReferrerKind,
    /// The URL the visit came from (none for direct visits).
    pub referrer_url: Option<String>,
    /// `(source, medium, campaign)` for campaign visits, added to the landing URL as UTM.
    pub campaign: Option<(String, String, String)>,
}

/// The context of one visit: its visitant, the site, and this run's times.
#[derive(Clone, Debug, PartialEq)]
pub struct VisitContext {
    pub session_id: u64,
    pub who: Visitant,
    /// Base URL of the simulated site as tracking hits report it, e.g. `https://shop.example`.
    pub site_url: String,
    pub site: std::sync::Arc<Site>,
    /// When the visit starts, epoch milliseconds.
    pub start_ms: u64,
    /// When the visitor first came, epoch milliseconds.
    pub first_visit_ms: u64,
    /// When the visitor last came before this visit, epoch milliseconds.
    pub previous_visit_ms: Option<u64>,
}

impl VisitContext {
    /// The absolute URL of a site path; the landing page carries the campaign's UTM tags.
    pub fn page_url(&self, path: &str, landing: bool) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            return path.to_string();
        }
        let mut url = format!("{}{}", self.site_url, path);
        if landing && let Some((source, medium, campaign)) = &self.who.campaign {
            let separator = if url.contains('?') { '&' } else { '?' };
            url.push_str(&format!(
                "{separator}utm_source={}&utm_medium={}&utm_campaign={}",
                encode(source),
                encode(medium),
                encode(campaign)
            ));
        }
        url
    }
}

/// The products in a visitor's cart, with quantities.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cart {
    pub items: Vec<(Product, u32)>,
}

impl Cart {
    pub fn add(&mut self, product: &Product) {
        match self.items.iter_mut().find(|(p, _)| p.sku == product.sku) {
            Some((_, quantity)) => *quantity += 1,
            None => self.items.push((product.clone(), 1)),
        }
    }

    pub fn total(&self) -> f64 {
        self.items.iter().map(|(p, q)| p.price * f64::from(*q)).sum()
    }

    /// What ordering this cart costs: the simulated shop adds 20 % tax and a
    /// flat shipping fee. Every amount is in whole cents, as a shop charges
    /// them (a tax of 15.600000000000001 is no price anyone pays).
    pub fn order(&self) -> Order {
        let subtotal = to_cents(self.total());
        let (tax, shipping) = (to_cents(subtotal * 0.2), 4.95);
        Order {
            subtotal,
            tax,
            shipping,
            revenue: to_cents(subtotal + tax + shipping),
        }
    }
}

/// An amount rounded to whole cents.
fn to_cents(amount: f64) -> f64 {
    (amount * 100.0).round() / 100.0
}

/// The money of one order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Order {
    pub subtotal: f64,
    pub tax: f64,
    pub shipping: f64,
    pub revenue: f64,
}

/// What a visit amounted to, as analytics count it: pages, actions, orders
/// and their revenue. Revenue is in whole cents, so totals add up exactly
/// wherever they are summed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VisitSummary {
    pub page_views: u32,
    pub actions: u32,
    pub conversions: u32,
    pub revenue_cents: u64,
}

/// What each step earns in cents: an order its cart's total (kept as the
/// tracking encoders keep it), anything else nothing.
pub fn revenue_by_step(steps: &[PlannedStep], site: &Site) -> Vec<u64> {
    let mut cart = Cart::default();
    steps
        .iter()
        .map(|step| {
            let product = step.product.and_then(|i| site.products.get(i));
            match step.action {
                Action::AddToCart => {
                    if let Some(p) = product {
                        cart.add(p);
                    }
                    0
                }
                Action::Order => {
                    if cart.items.is_empty()
                        && let Some(p) = product
                    {
                        cart.add(p);
                    }
                    let cents = (cart.order().revenue * 100.0).round() as u64;
                    cart = Cart::default();
                    cents
                }
                _ => 0,
            }
        })
        .collect()
}

/// A page title derived from its path: `/products/sku-lamp` → `Products / Sku Lamp`.
pub fn title(path: &str) -> String {
    let path = path.split('?').next().unwrap_or("/");
    let parts: Vec<String> = path
        .split('/')
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.split(['-', '_', '.'])
                .filter(|w| !w.is_empty())
                .map(|w| {
                    let mut chars = w.chars();
                    chars
                        .next()
                        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
                        .unwrap_or_default()
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    if parts.is_empty() {
        "Home".to_string()
    } else {
        parts.join(" / ")
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3 / 2);
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// `key=value&…` with both sides encoded.
pub fn query_string(params: &[(&str, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_and_encoding() {
        assert_eq!(title("/"), "Home");
        assert_eq!(title("/products/sku-lamp"), "Products / Sku Lamp");
        assert_eq!(title("/search?q=oak"), "Search");
        assert_eq!(encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(
            query_string(&[("e_c", "x y".into()), ("n", "1".into())]),
            "e_c=x%20y&n=1"
        );
    }
}
