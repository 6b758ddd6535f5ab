//! Reading the traffic model of a spec: personas, custom journeys and the site.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

use super::reader::Reader;
use super::{SessionSpec, limits};
use crate::campaign::traffic::Weighted;
use crate::campaign::traffic::journey::{self, Action, Journey, Product, Site, Step};
use crate::campaign::traffic::persona::{Device, Persona, ReferrerKind};

pub(crate) const PERSONA_FIELDS: &[&str] = &[
    "name",
    "weight",
    "devices",
    "languages",
    "countries",
    "referrers",
    "returning",
    "regulars",
    "bounce",
    "pages",
    "think_time",
    "conversion",
    "journeys",
    "behaviour",
];

/// Reads the site the traffic pretends to visit: its public URL (what
/// tracking hits report), pages, products and search terms.
pub(crate) fn read_site(r: &mut Reader, root: &Map<String, Value>, pages: &[String]) -> (String, Site) {
    let mut site = Site::with_pages(pages.to_vec());
    let mut url = "https://shop.example".to_string();
    let Some(value) = root.get("site") else {
        return (url, site);
    };
    let Some(map) = r.object(value, "site", &["url", "products", "search_terms"]) else {
        return (url, site);
    };
    if let Some(u) = r.optional_str(map, "site", "url") {
        if u.starts_with("http://") || u.starts_with("https://") {
            url = u.trim_end_matches('/').to_string();
        } else {
            r.error("site.url", "must be an absolute http:// or https:// URL");
        }
    }
    if let Some(products) = map.get("products") {
        match products.as_array().filter(|a| !a.is_empty()) {
            Some(items) => {
                site.products = items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, item)| {
                        let path = format!("site.products[{i}]");
                        let p = r.object(item, &path, &["sku", "name", "category", "price"])?;
                        let sku = r.required_str(p, &path, "sku");
                        let name = r.required_str(p, &path, "name");
                        let category = r
                            .optional_str(p, &path, "category")
                            .unwrap_or_else(|| "General".into());
                        let price = r.optional_f64(p, &path, "price", 0.0, 1e9).unwrap_or(0.0);
                        Some(Product {
                            sku: sku?,
                            name: name?,
                            category,
                            price,
                        })
                    })
                    .collect();
            }
            None => r.error("site.products", "must be a non-empty list"),
        }
    }
    if let Some(terms) = map.get("search_terms") {
        match terms.as_array().map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(String::from))
                .collect::<Vec<_>>()
        }) {
            Some(terms) if !terms.is_empty() => site.search_terms = terms,
            _ => r.error("site.search_terms", "must be a non-empty list of strings"),
        }
    }
    (url, site)
}

/// Reads custom journeys; together with the built-ins they are the journeys
/// personas may use, by name.
pub(crate) fn read_journeys(r: &mut Reader, root: &Map<String, Value>) -> Vec<Journey> {
    let mut journeys = journey::builtins();
    let Some(value) = root.get("journeys") else {
        return journeys;
    };
    let Some(items) = value.as_array() else {
        r.error("journeys", "must be a list of journeys");
        return journeys;
    };
    for (i, item) in items.iter().enumerate() {
        let path = format!("journeys[{i}]");
        let Some(map) = r.object(item, &path, &["name", "start", "steps"]) else {
            continue;
        };
        let name = r.required_str(map, &path, "name");
        let start = r.required_str(map, &path, "start");
        let mut steps = BTreeMap::new();
        match map.get("steps").and_then(Value::as_object) {
            Some(entries) if !entries.is_empty() => {
                for (step_name, step) in entries {
                    let step_path = format!("{path}.steps.{step_name}");
                    let Some(s) = r.object(
                        step,
                        &step_path,
                        &["action", "path", "next", "selector", "fields"],
                    ) else {
                        continue;
                    };
                    let action = match r.required_str(s, &step_path, "action") {
                        Some(a) => match Action::parse(&a) {
                            Some(action) => Some(action),
                            None => {
                                let known: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
                                r.error(
                                    &format!("{step_path}.action"),
                                    format!("unknown action `{a}`; expected one of: {}", known.join(", ")),
                                );
                                None
                            }
                        },
                        None => None,
                    };
                    let step_target = r
                        .optional_str(s, &step_path, "path")
                        .unwrap_or_else(|| "{page}".into());
                    let next = r.weights(s, &step_path, "next", None).unwrap_or_default();
                    let selector = r.optional_str(s, &step_path, "selector");
                    let fields = read_fields(r, s, &step_path);
                    if let Some(action) = action {
                        steps.insert(
                            step_name.clone(),
                            Step {
                                action,
                                path: step_target,
                                next: Weighted::new(next),
                                selector,
                                fields,
                            },
                        );
                    }
                }
            }
            _ => r.error(
                &format!("{path}.steps"),
                "must be a non-empty mapping of step names to steps",
            ),
        }
        let (Some(name), Some(start)) = (name, start) else {
            continue;
        };
        if journeys.iter().any(|j| j.name == name) {
            r.error(
                &format!("{path}.name"),
                format!("a journey named `{name}` already exists"),
            );
            continue;
        }
        let journey = Journey { name, start, steps };
        for (field, message) in journey::problems(&journey) {
            r.error(&format!("{path}.{field}"), message);
        }
        journeys.push(journey);
    }
    journeys
}

/// `fields: {selector: text}`: what a browser visitor types into a form.
fn read_fields(r: &mut Reader, step: &Map<String, Value>, path: &str) -> Vec<(String, String)> {
    let Some(value) = step.get("fields") else {
        return Vec::new();
    };
    let Some(map) = value.as_object().filter(|m| !m.is_empty()) else {
        r.error(
            &format!("{path}.fields"),
            "must be a non-empty mapping of selectors to the text typed into them",
        );
        return Vec::new();
    };
    map.iter()
        .filter_map(|(selector, text)| match text.as_str() {
            Some(text) => Some((selector.clone(), text.to_string())),
            None => {
                r.error(&format!("{path}.fields.{selector}"), "must be a string");
                None
            }
        })
        .collect()
}

fn weighted<T>(
    r: &mut Reader,
    map: &Map<String, Value>,
    path: &str,
    field: &str,
    allowed: Option<&[&str]>,
    parse: impl Fn(&str) -> Option<T>,
    default: Vec<(T, f64)>,
) -> Weighted<T> {
    match r.weights(map, path, field, allowed) {
        Some(entries) => Weighted::new(
            entries
                .into_iter()
                .filter_map(|(k, w)| parse(&k).map(|v| (v, w)))
                .collect(),
        ),
        None => Weighted::new(default),
    }
}

/// Reads personas; without any, one default persona browses the spec's pages.
pub(crate) fn read_personas(
    r: &mut Reader,
    root: &Map<String, Value>,
    session: &SessionSpec,
    journeys: &[Journey],
) -> Vec<Persona> {
    let default = Persona::default_visitor(
        session.pages_min,
        session.pages_max,
        session.think_min,
        session.think_max,
    );
    let Some(value) = root.get("personas") else {
        return vec![default];
    };
    let Some(items) = value.as_array().filter(|a| !a.is_empty()) else {
        r.error("personas", "must be a non-empty list");
        return vec![default];
    };
    let journey_names: Vec<&str> = journeys.iter().map(|j| j.name.as_str()).collect();
    let mut personas: Vec<Persona> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("personas[{i}]");
        let Some(map) = r.object(item, &path, PERSONA_FIELDS) else {
            continue;
        };
        let Some(name) = r.required_str(map, &path, "name") else {
            continue;
        };
        if personas.iter().any(|p| p.name == name) {
            r.error(
                &format!("{path}.name"),
                format!("persona `{name}` is defined twice"),
            );
        }
        personas.push(read_persona(r, map, &path, name, &default, &journey_names));
    }
    if !personas.is_empty() && personas.iter().all(|p| p.weight <= 0.0) {
        r.error("personas", "weights sum to zero");
    }
    personas
}

/// One persona's fields over `default` (the campaign's session settings).
fn read_persona(
    r: &mut Reader,
    map: &Map<String, Value>,
    path: &str,
    name: String,
    default: &Persona,
    journey_names: &[&str],
) -> Persona {
    let mut persona = default.clone();
    persona.name = name;
    persona.weight = r.optional_f64(map, path, "weight", 0.0, 1e9).unwrap_or(1.0);
    persona.devices = weighted(
        r,
        map,
        path,
        "devices",
        Some(&["desktop", "mobile", "tablet"]),
        Device::parse,
        persona.devices.items().to_vec(),
    );
    persona.languages = weighted(
        r,
        map,
        path,
        "languages",
        None,
        |s| Some(s.to_string()),
        persona.languages.items().to_vec(),
    );
    persona.countries = weighted(
        r,
        map,
        path,
        "countries",
        None,
        |s| Some(s.to_lowercase()),
        persona.countries.items().to_vec(),
    );
    persona.referrers = weighted(
        r,
        map,
        path,
        "referrers",
        Some(&["direct", "search", "social", "campaign"]),
        ReferrerKind::parse,
        persona.referrers.items().to_vec(),
    );
    persona.returning = r.probability(map, path, "returning").unwrap_or(persona.returning);
    persona.regulars = r
        .optional_u64(map, path, "regulars", 1, 100_000_000)
        .unwrap_or(persona.regulars);
    persona.bounce = r.probability(map, path, "bounce").unwrap_or(persona.bounce);
    persona.conversion = r.probability(map, path, "conversion").unwrap_or(0.05);
    read_page_range(r, map, path, &mut persona);
    read_think_range(r, map, path, &mut persona);
    persona.bot = match r.optional_str(map, path, "behaviour").as_deref() {
        None | Some("human") => false,
        Some("bot") => true,
        Some(other) => {
            r.error(
                &format!("{path}.behaviour"),
                format!("unknown `{other}`; expected human or bot"),
            );
            false
        }
    };
    if let Some(entries) = r.weights(map, path, "journeys", None) {
        for (journey, _) in &entries {
            if !journey_names.contains(&journey.as_str()) {
                r.error(
                    &format!("{path}.journeys.{journey}"),
                    format!("unknown journey; known: {}", journey_names.join(", ")),
                );
            }
        }
        persona.journeys = Weighted::new(entries);
    }
    persona
}

/// A persona's `pages: { min, max }`.
fn read_page_range(r: &mut Reader, map: &Map<String, Value>, path: &str, persona: &mut Persona) {
    let p = format!("{path}.pages");
    let Some(range) = map
        .get("pages")
        .and_then(|pages| r.object(pages, &p, &["min", "max"]))
    else {
        return;
    };
    persona.pages_min = r
        .optional_u64(range, &p, "min", 1, limits::MAX_PAGES_PER_SESSION)
        .unwrap_or(persona.pages_min);
    persona.pages_max = r
        .optional_u64(range, &p, "max", 1, limits::MAX_PAGES_PER_SESSION)
        .unwrap_or(persona.pages_max.max(persona.pages_min));
    if persona.pages_min > persona.pages_max {
        r.error(
            &p,
            format!("min ({}) is above max ({})", persona.pages_min, persona.pages_max),
        );
    }
}

/// A persona's `think_time: { min, max }`.
fn read_think_range(r: &mut Reader, map: &Map<String, Value>, path: &str, persona: &mut Persona) {
    let p = format!("{path}.think_time");
    let Some(range) = map
        .get("think_time")
        .and_then(|think| r.object(think, &p, &["min", "max"]))
    else {
        return;
    };
    let max = Duration::from_secs(limits::MAX_THINK_SECS);
    persona.think_min = r
        .optional_duration(range, &p, "min", Duration::ZERO, max)
        .unwrap_or(persona.think_min);
    persona.think_max = r
        .optional_duration(range, &p, "max", Duration::ZERO, max)
        .unwrap_or(persona.think_max.max(persona.think_min));
    if persona.think_min > persona.think_max {
        r.error(&p, "min is above max");
    }
}
