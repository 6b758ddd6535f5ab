//! Journeys: weighted state machines over pages and actions. A session walks
//! one from its start step, picking each next step by weight, until the
//! journey ends, the persona's page budget is spent, or the visitor bounces.

use std::collections::BTreeMap;
use std::time::Duration;

use rand_core::Rng;

use super::persona::Persona;
use super::{Weighted, chance};
use crate::ids;

/// What a step does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// Load a page.
    PageView,
    /// Follow a link found on the previous page (HTTP targets), else like a page view.
    Click,
    /// A site search.
    Search,
    /// A custom analytics event on the current page.
    Event,
    Download,
    /// Leave the site through an external link.
    Outlink,
    FormSubmit,
    ProductView,
    AddToCart,
    Order,
}

impl Action {
    pub fn parse(name: &str) -> Option<Action> {
        Some(match name {
            "page_view" => Action::PageView,
            "click" => Action::Click,
            "search" => Action::Search,
            "event" => Action::Event,
            "download" => Action::Download,
            "outlink" => Action::Outlink,
            "form_submit" => Action::FormSubmit,
            "product_view" => Action::ProductView,
            "add_to_cart" => Action::AddToCart,
            "order" => Action::Order,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Action::PageView => "page_view",
            Action::Click => "click",
            Action::Search => "search",
            Action::Event => "event",
            Action::Download => "download",
            Action::Outlink => "outlink",
            Action::FormSubmit => "form_submit",
            Action::ProductView => "product_view",
            Action::AddToCart => "add_to_cart",
            Action::Order => "order",
        }
    }

    /// Whether the action is a new page (as opposed to something done on one).
    pub fn is_page(self) -> bool {
        matches!(
            self,
            Action::PageView
                | Action::Click
                | Action::Search
                | Action::FormSubmit
                | Action::ProductView
                | Action::AddToCart
                | Action::Order
        )
    }

    pub const ALL: [Action; 10] = [
        Action::PageView,
        Action::Click,
        Action::Search,
        Action::Event,
        Action::Download,
        Action::Outlink,
        Action::FormSubmit,
        Action::ProductView,
        Action::AddToCart,
        Action::Order,
    ];
}

/// The step name that ends a journey.
pub const END: &str = "end";

/// One state of a journey.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub action: Action,
    /// Path on the site; `{page}`, `{product}` and `{query}` are filled in.
    pub path: String,
    /// Next steps by weight; `end` (or nothing) ends the journey.
    pub next: Weighted<String>,
    /// For browser targets: the element a `click` or `form_submit` presses
    /// (one of its matches, picked as a visitor would).
    pub selector: Option<String>,
    /// For browser targets: the fields a `form_submit` types into, as
    /// (selector, text); `{email}` in a text is the visitor's address.
    pub fields: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Journey {
    pub name: String,
    pub start: String,
    pub steps: BTreeMap<String, Step>,
}

/// A product of the simulated shop.
#[derive(Clone, Debug, PartialEq)]
pub struct Product {
    pub sku: String,
    pub name: String,
    pub category: String,
    pub price: f64,
}

/// What the simulated site offers, for filling in journeys.
#[derive(Clone, Debug, PartialEq)]
pub struct Site {
    pub pages: Vec<String>,
    pub products: Vec<Product>,
    pub search_terms: Vec<String>,
}

impl Site {
    pub fn with_pages(pages: Vec<String>) -> Self {
        Site {
            pages,
            products: vec![
                product("SKU-LAMP", "Lamp", "Lighting", 39.0),
                product("SKU-CHAIR", "Chair", "Furniture", 129.0),
                product("SKU-DESK", "Desk", "Furniture", 349.0),
            ],
            search_terms: ["lamp", "chair", "desk", "oak desk", "reading light"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

fn product(sku: &str, name: &str, category: &str, price: f64) -> Product {
    Product {
        sku: sku.to_string(),
        name: name.to_string(),
        category: category.to_string(),
        price,
    }
}

fn step(action: Action, path: &str, next: &[(&str, f64)]) -> Step {
    Step {
        action,
        path: path.to_string(),
        next: Weighted::new(next.iter().map(|(n, w)| (n.to_string(), *w)).collect()),
        selector: None,
        fields: Vec::new(),
    }
}

fn journey(name: &str, start: &str, steps: Vec<(&str, Step)>) -> Journey {
    Journey {
        name: name.to_string(),
        start: start.to_string(),
        steps: steps.into_iter().map(|(n, s)| (n.to_string(), s)).collect(),
    }
}

/// The built-in journeys: `browse` (random pages of the spec), `casual`,
/// `researcher` and `buyer`.
pub fn builtins() -> Vec<Journey> {
    use Action::*;
    vec![
        journey(
            "browse",
            "page",
            vec![("page", step(PageView, "{page}", &[("page", 1.0)]))],
        ),
        journey(
            "casual",
            "landing",
            vec![
                (
                    "landing",
                    step(PageView, "{page}", &[("link", 0.5), ("about", 0.2), (END, 0.3)]),
                ),
                (
                    "link",
                    step(Click, "{page}", &[("link", 0.6), ("event", 0.1), (END, 0.3)]),
                ),
                ("about", step(PageView, "/about", &[("link", 0.5), (END, 0.5)])),
                ("event", step(Event, "{page}", &[("link", 0.7), (END, 0.3)])),
            ],
        ),
        journey(
            "researcher",
            "landing",
            vec![
                (
                    "landing",
                    step(PageView, "/", &[("search", 0.7), ("product", 0.3)]),
                ),
                (
                    "search",
                    step(Search, "/search?q={query}", &[("product", 0.8), ("search", 0.2)]),
                ),
                (
                    "product",
                    step(
                        ProductView,
                        "/products/{product}",
                        &[
                            ("product", 0.3),
                            ("search", 0.2),
                            ("download", 0.2),
                            ("outlink", 0.1),
                            (END, 0.2),
                        ],
                    ),
                ),
                (
                    "download",
                    step(Download, "/files/{product}.pdf", &[("product", 0.5), (END, 0.5)]),
                ),
                (
                    "outlink",
                    step(Outlink, "https://reviews.example.org/{product}", &[(END, 1.0)]),
                ),
            ],
        ),
        journey(
            "buyer",
            "landing",
            vec![
                ("landing", step(PageView, "/", &[("product", 1.0)])),
                (
                    "product",
                    step(
                        ProductView,
                        "/products/{product}",
                        &[("product", 0.3), ("cart", 0.7)],
                    ),
                ),
                (
                    "cart",
                    step(AddToCart, "/cart", &[("checkout", 0.8), ("product", 0.2)]),
                ),
                ("checkout", step(FormSubmit, "/checkout", &[("order", 1.0)])),
                ("order", step(Order, "/order/complete", &[(END, 1.0)])),
            ],
        ),
    ]
}

/// Problems of a journey, as (field under the journey, message).
pub fn problems(journey: &Journey) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    if !journey.steps.contains_key(&journey.start) {
        problems.push(("start".to_string(), format!("unknown step `{}`", journey.start)));
    }
    for (name, step) in &journey.steps {
        if name == END {
            problems.push((
                format!("steps.{name}"),
                "`end` is reserved for the end of a journey".into(),
            ));
        }
        for (i, (next, weight)) in step.next.items().iter().enumerate() {
            if next != END && !journey.steps.contains_key(next) {
                problems.push((format!("steps.{name}.next.{next}"), "unknown step".into()));
            }
            if !weight.is_finite() || *weight < 0.0 {
                problems.push((
                    format!("steps.{name}.next.{next}"),
                    format!("weight {weight} is not >= 0 (entry {i})"),
                ));
            }
        }
        if !step.next.is_empty() && step.next.items().iter().all(|(_, w)| *w <= 0.0) {
            problems.push((format!("steps.{name}.next"), "weights sum to zero".into()));
        }
    }
    problems
}

/// One planned step of a session.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedStep {
    /// `journey.step`, the name latency is reported under.
    pub name: String,
    pub action: Action,
    /// The filled-in path (or absolute URL for outlinks).
    pub path: String,
    pub think_before: Duration,
    /// Index into the site's products, for product actions.
    pub product: Option<usize>,
    /// The search term, for searches.
    pub query: Option<String>,
}

/// Walks `journey` for one session.
pub fn walk(journey: &Journey, persona: &Persona, site: &Site, rng: &mut impl Rng) -> Vec<PlannedStep> {
    let budget = ids::uniform_u64(rng, persona.pages_min, persona.pages_max).max(1);
    let mut steps = Vec::new();
    let mut current = journey.start.clone();
    let mut product: Option<usize> = None;
    let mut pages = 0u64;
    while let Some(step) = journey.steps.get(&current) {
        if step.action == Action::Order && !chance(rng, persona.conversion) {
            break;
        }
        let think_before = if steps.is_empty() {
            Duration::ZERO
        } else {
            let (min, max) = (
                persona.think_min.as_millis() as u64,
                persona.think_max.as_millis() as u64,
            );
            Duration::from_millis(ids::uniform_u64(rng, min, max))
        };
        // A product page picks a product; later steps (cart, order) keep it.
        let wants_product =
            step.path.contains("{product}") || matches!(step.action, Action::ProductView | Action::AddToCart);
        if wants_product
            && !site.products.is_empty()
            && (step.action == Action::ProductView || product.is_none())
        {
            product = Some(ids::uniform_u64(rng, 0, site.products.len() as u64 - 1) as usize);
        }
        let query = step.path.contains("{query}").then(|| {
            let i = ids::uniform_u64(rng, 0, site.search_terms.len().max(1) as u64 - 1) as usize;
            site.search_terms
                .get(i)
                .cloned()
                .unwrap_or_else(|| "search".to_string())
        });
        let page = if site.pages.is_empty() {
            "/".to_string()
        } else {
            site.pages[ids::uniform_u64(rng, 0, site.pages.len() as u64 - 1) as usize].clone()
        };
        let slug = product
            .and_then(|i| site.products.get(i))
            .map(|p| p.sku.to_lowercase())
            .unwrap_or_default();
        let path = step
            .path
            .replace("{page}", &page)
            .replace("{product}", &slug)
            .replace("{query}", &query.clone().unwrap_or_default().replace(' ', "+"));
        steps.push(PlannedStep {
            name: format!("{}.{}", journey.name, current),
            action: step.action,
            path,
            think_before,
            product: product.filter(|_| {
                matches!(
                    step.action,
                    Action::ProductView | Action::AddToCart | Action::Order | Action::Download
                )
            }),
            query,
        });
        if step.action.is_page() {
            pages += 1;
        }
        if pages >= budget || (steps.len() == 1 && chance(rng, persona.bounce)) || step.next.is_empty() {
            break;
        }
        current = step.next.choose(rng).clone();
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{Part, rng_for};

    fn persona(conversion: f64, bounce: f64) -> Persona {
        let mut p = Persona::default_visitor(1, 12, Duration::from_millis(100), Duration::from_millis(300));
        p.conversion = conversion;
        p.bounce = bounce;
        p
    }

    #[test]
    fn builtins_are_well_formed() {
        for journey in builtins() {
            assert!(
                problems(&journey).is_empty(),
                "{}: {:?}",
                journey.name,
                problems(&journey)
            );
        }
    }

    #[test]
    fn problems_name_their_fields() {
        let mut broken = builtins().remove(3);
        broken.start = "nowhere".into();
        broken.steps.get_mut("cart").expect("cart").next = Weighted::new(vec![("ghost".into(), 1.0)]);
        let fields: Vec<String> = problems(&broken).into_iter().map(|(f, _)| f).collect();
        assert!(fields.contains(&"start".to_string()));
        assert!(fields.contains(&"steps.cart.next.ghost".to_string()));
    }

    #[test]
    fn buyers_order_only_as_often_as_they_convert() {
        let buyer = builtins().remove(3);
        let site = Site::with_pages(vec!["/".into()]);
        let mut orders = [0u32; 2];
        for (i, conversion) in [0.0, 1.0].into_iter().enumerate() {
            let mut rng = rng_for(&[Part::Str("buyer"), Part::U64(i as u64)]);
            for _ in 0..500 {
                let steps = walk(&buyer, &persona(conversion, 0.0), &site, &mut rng);
                assert_eq!(steps[0].think_before, Duration::ZERO);
                orders[i] += steps.iter().filter(|s| s.action == Action::Order).count() as u32;
                if let Some(order) = steps.iter().find(|s| s.action == Action::Order) {
                    assert!(order.product.is_some(), "an order carries the cart's product");
                }
            }
        }
        assert_eq!(orders[0], 0, "no conversion, no orders");
        assert!(orders[1] > 100, "full conversion orders often: {}", orders[1]);
    }

    #[test]
    fn bounces_end_after_one_page_and_paths_are_filled_in() {
        let researcher = builtins().remove(2);
        let site = Site::with_pages(vec!["/".into()]);
        let mut rng = rng_for(&[Part::Str("bounce")]);
        let bounced = (0..1000)
            .filter(|_| walk(&researcher, &persona(0.0, 0.4), &site, &mut rng).len() == 1)
            .count();
        assert!((330..=470).contains(&bounced), "about 40% bounce: {bounced}");
        for _ in 0..200 {
            for step in walk(&researcher, &persona(0.0, 0.0), &site, &mut rng) {
                assert!(!step.path.contains('{'), "unfilled template in {}", step.path);
                if step.action == Action::Search {
                    assert!(step.query.is_some());
                }
            }
        }
    }
}
