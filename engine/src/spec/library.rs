//! Library items: personas, journeys and sites kept by name and version
//! apart from any campaign, and campaign specs that use them.
//!
//! A campaign refers to an item with `use` where it would write the item
//! itself: `personas: [{ use: shopper, version: 2, weight: 3 }]`,
//! `journeys: [{ use: checkout }]`, `site: { use: shop }`. Creating the
//! campaign resolves every reference into the item's document (a snapshot:
//! editing the item later never changes the campaign) and records what it
//! used in the spec's `uses` list, by kind, name and version. A persona
//! from the library brings the library journeys it walks that the spec
//! does not define.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::reader::Reader;
use super::{FieldError, SpecErrors, limits, traffic};
use crate::campaign::traffic::journey;

/// What a library item is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    Persona,
    Journey,
    Site,
}

impl ItemKind {
    pub const ALL: [ItemKind; 3] = [ItemKind::Persona, ItemKind::Journey, ItemKind::Site];

    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Persona => "persona",
            ItemKind::Journey => "journey",
            ItemKind::Site => "site",
        }
    }

    /// `persona` or `personas` (and the same for the others).
    pub fn parse(name: &str) -> Option<ItemKind> {
        ItemKind::ALL
            .into_iter()
            .find(|k| name == k.as_str() || name.strip_suffix('s') == Some(k.as_str()))
    }
}

impl std::fmt::Display for ItemKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One version of a library item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LibraryItem {
    pub kind: ItemKind,
    pub name: String,
    /// 1 for the first; each change of the document adds one.
    pub version: u32,
    /// The item as a campaign spec would hold it inline.
    pub document: Value,
    pub updated_ms: u64,
}

/// Finds an item by kind, name and version (`None`: the newest).
pub type Lookup<'a> = dyn Fn(ItemKind, &str, Option<u32>) -> Option<LibraryItem> + 'a;

/// Which version of which item a campaign was built from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ItemRef {
    pub kind: ItemKind,
    pub name: String,
    pub version: u32,
}

/// Checks an item's document as a campaign would read it inline; the
/// item's name (the `name` field of a persona or journey, or `name` beside
/// a site's fields) is returned with the document to store.
///
/// A persona may walk the built-in journeys and `library_journeys`.
pub fn check_item(
    kind: ItemKind,
    document: &Value,
    library_journeys: &[String],
) -> Result<(String, Value), SpecErrors> {
    let mut r = Reader::default();
    let Some(map) = document.as_object() else {
        return Err(SpecErrors(vec![FieldError {
            path: "(document)".into(),
            message: format!("a {kind} must be a mapping"),
        }]));
    };
    let name = r.required_str(map, "", "name");
    if let Some(name) = &name {
        check_name(&mut r, "name", name);
    }
    let stored = match kind {
        ItemKind::Persona => {
            let mut journeys = journey::builtins();
            journeys.extend(library_journeys.iter().map(|n| journey::Journey {
                name: n.clone(),
                start: String::new(),
                steps: Default::default(),
            }));
            let root = single("personas", json!([document]));
            let session = super::SessionSpec::default();
            traffic::read_personas(&mut r, &root, &session, &journeys);
            document.clone()
        }
        ItemKind::Journey => {
            let root = single("journeys", json!([document]));
            traffic::read_journeys(&mut r, &root);
            document.clone()
        }
        ItemKind::Site => {
            // The site itself has no name field: the library's name sits beside it.
            let mut site = map.clone();
            site.remove("name");
            let root = single("site", Value::Object(site.clone()));
            traffic::read_site(&mut r, &root, &[]);
            Value::Object(site)
        }
    };
    let prefix = match kind {
        ItemKind::Persona => "personas[0]",
        ItemKind::Journey => "journeys[0]",
        ItemKind::Site => "site",
    };
    let errors: Vec<FieldError> = r
        .into_errors()
        .into_iter()
        .map(|e| FieldError {
            path: strip_prefix(&e.path, prefix),
            message: e.message,
        })
        .collect();
    match name {
        Some(name) if errors.is_empty() => Ok((name, stored)),
        _ => Err(SpecErrors(errors)),
    }
}

fn single(field: &str, value: Value) -> Map<String, Value> {
    let mut root = Map::new();
    root.insert(field.to_string(), value);
    root
}

fn strip_prefix(path: &str, prefix: &str) -> String {
    match path.strip_prefix(prefix) {
        Some("") => "(document)".to_string(),
        Some(rest) => rest.trim_start_matches('.').to_string(),
        None => path.to_string(),
    }
}

fn check_name(r: &mut Reader, path: &str, name: &str) {
    let valid = !name.is_empty()
        && name.len() <= limits::MAX_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid {
        r.error(
            path,
            format!(
                "must be 1 to {} characters of letters, digits, '-', '_' or '.'",
                limits::MAX_NAME_LEN
            ),
        );
    }
}

/// Whether a campaign document refers to any library item.
pub fn uses_library(document: &Value) -> bool {
    let has_use = |v: &Value| v.get("use").is_some();
    let listed = |field: &str| {
        document
            .get(field)
            .and_then(Value::as_array)
            .is_some_and(|items| items.iter().any(has_use))
    };
    listed("personas") || listed("journeys") || document.get("site").is_some_and(has_use)
}

/// The items a stored campaign document says it was built from.
pub fn uses_of(document: &Value) -> Vec<ItemRef> {
    document
        .get("uses")
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

/// Replaces every `use` reference in a campaign document by the item's
/// document, and records the items in `uses`. `lookup(kind, name,
/// version)` gives the item (`None` for the version: the newest). Every
/// reference that cannot be resolved is reported with its field path.
pub fn resolve(document: &Value, lookup: &Lookup<'_>) -> Result<Value, SpecErrors> {
    let Some(root) = document.as_object() else {
        return Ok(document.clone());
    };
    let mut r = Reader::default();
    let mut root = root.clone();
    let mut uses: Vec<ItemRef> = Vec::new();
    let mut defined_journeys: Vec<String> = Vec::new();
    if let Some(Value::Array(items)) = root.get("journeys").cloned() {
        let mut resolved = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            match item.as_object().filter(|m| m.contains_key("use")) {
                Some(entry) => {
                    if let Some(doc) = take(
                        &mut r,
                        lookup,
                        &mut uses,
                        &format!("journeys[{i}]"),
                        ItemKind::Journey,
                        entry,
                        &[],
                    ) {
                        resolved.push(doc);
                    }
                }
                None => resolved.push(item),
            }
        }
        defined_journeys = resolved
            .iter()
            .filter_map(|j| j.get("name").and_then(Value::as_str).map(String::from))
            .collect();
        root.insert("journeys".into(), Value::Array(resolved));
    }
    let mut brought_journeys: Vec<Value> = Vec::new();
    if let Some(Value::Array(items)) = root.get("personas").cloned() {
        let mut resolved = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let Some(entry) = item.as_object().filter(|m| m.contains_key("use")) else {
                resolved.push(item);
                continue;
            };
            let path = format!("personas[{i}]");
            let Some(mut persona) = take(
                &mut r,
                lookup,
                &mut uses,
                &path,
                ItemKind::Persona,
                entry,
                &["weight"],
            ) else {
                continue;
            };
            if let (Some(weight), Some(map)) = (entry.get("weight"), persona.as_object_mut()) {
                map.insert("weight".into(), weight.clone());
            }
            // The library journeys it walks that nothing else defines.
            let walks: Vec<String> = persona
                .get("journeys")
                .and_then(Value::as_object)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            for name in walks {
                let built_in = journey::builtins().iter().any(|j| j.name == name);
                if built_in || defined_journeys.contains(&name) {
                    continue;
                }
                if let Some(item) = lookup(ItemKind::Journey, &name, None) {
                    uses.push(ItemRef {
                        kind: ItemKind::Journey,
                        name: name.clone(),
                        version: item.version,
                    });
                    defined_journeys.push(name);
                    brought_journeys.push(item.document);
                }
            }
            resolved.push(persona);
        }
        root.insert("personas".into(), Value::Array(resolved));
    }
    if !brought_journeys.is_empty() {
        let mut journeys = root
            .get("journeys")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        journeys.extend(brought_journeys);
        root.insert("journeys".into(), Value::Array(journeys));
    }
    if let Some(entry) = root
        .get("site")
        .and_then(Value::as_object)
        .filter(|m| m.contains_key("use"))
        .cloned()
        && let Some(site) = take(&mut r, lookup, &mut uses, "site", ItemKind::Site, &entry, &[])
    {
        root.insert("site".into(), site);
    }
    let errors = r.into_errors();
    if !errors.is_empty() {
        return Err(SpecErrors(errors));
    }
    if !uses.is_empty() {
        uses.sort();
        uses.dedup();
        root.insert("uses".into(), serde_json::to_value(&uses).unwrap_or_default());
    }
    Ok(Value::Object(root))
}

/// Resolves one `{ use: NAME, version: N, ... }` entry at `path`; `extra`
/// are the fields that may stand beside `use`.
fn take(
    r: &mut Reader,
    lookup: &Lookup<'_>,
    uses: &mut Vec<ItemRef>,
    path: &str,
    kind: ItemKind,
    entry: &Map<String, Value>,
    extra: &[&str],
) -> Option<Value> {
    let mut known = vec!["use", "version"];
    known.extend_from_slice(extra);
    for key in entry.keys() {
        if !known.contains(&key.as_str()) {
            r.error(
                &format!("{path}.{key}"),
                format!(
                    "unknown field beside `use`; expected one of: {}",
                    known.join(", ")
                ),
            );
        }
    }
    let name = match entry.get("use") {
        Some(Value::String(name)) => name.clone(),
        _ => {
            r.error(
                &format!("{path}.use"),
                format!("must be the name of a library {kind}"),
            );
            return None;
        }
    };
    let version = match entry.get("version") {
        None => None,
        Some(v) => match v.as_u64().and_then(|v| u32::try_from(v).ok()).filter(|v| *v > 0) {
            Some(v) => Some(v),
            None => {
                r.error(&format!("{path}.version"), "must be a whole number from 1");
                return None;
            }
        },
    };
    let Some(item) = lookup(kind, &name, version) else {
        let which = version.map(|v| format!(" version {v}")).unwrap_or_default();
        r.error(
            &format!("{path}.use"),
            format!("the library has no {kind} `{name}`{which} (see `throng {kind} list`)"),
        );
        return None;
    };
    uses.push(ItemRef {
        kind,
        name,
        version: item.version,
    });
    Some(item.document)
}

/// Checks the `uses` list a resolved spec carries.
pub(crate) fn read_uses(r: &mut Reader, root: &Map<String, Value>) {
    let Some(value) = root.get("uses") else {
        return;
    };
    let Some(items) = value.as_array() else {
        r.error("uses", "must be a list of { kind, name, version }");
        return;
    };
    for (i, item) in items.iter().enumerate() {
        if serde_json::from_value::<ItemRef>(item.clone()).is_err() {
            r.error(
                &format!("uses[{i}]"),
                "must be { kind: persona|journey|site, name, version } (written when a campaign is created from library items)",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(kind: ItemKind, name: &str, version: u32, document: Value) -> LibraryItem {
        LibraryItem {
            kind,
            name: name.to_string(),
            version,
            document,
            updated_ms: 0,
        }
    }

    fn library() -> Vec<LibraryItem> {
        vec![
            item(
                ItemKind::Persona,
                "shopper",
                1,
                json!({"name": "shopper", "journeys": {"buyer": 1}}),
            ),
            item(
                ItemKind::Persona,
                "shopper",
                2,
                json!({"name": "shopper", "journeys": {"quick-look": 1}}),
            ),
            item(
                ItemKind::Journey,
                "quick-look",
                1,
                json!({"name": "quick-look", "start": "home", "steps": {"home": {"action": "page_view", "path": "/"}}}),
            ),
            item(ItemKind::Site, "shop", 3, json!({"url": "https://shop.test"})),
        ]
    }

    fn lookup(kind: ItemKind, name: &str, version: Option<u32>) -> Option<LibraryItem> {
        library()
            .into_iter()
            .filter(|i| i.kind == kind && i.name == name && version.is_none_or(|v| v == i.version))
            .max_by_key(|i| i.version)
    }

    #[test]
    fn references_become_snapshots_of_the_versions_asked_for() {
        let spec = json!({
            "name": "c",
            "personas": [{"use": "shopper", "version": 1, "weight": 3}, {"name": "inline"}],
            "site": {"use": "shop"}
        });
        let resolved = resolve(&spec, &lookup).expect("resolves");
        assert_eq!(
            resolved["personas"][0],
            json!({"name": "shopper", "journeys": {"buyer": 1}, "weight": 3})
        );
        assert_eq!(resolved["personas"][1], json!({"name": "inline"}));
        assert_eq!(resolved["site"], json!({"url": "https://shop.test"}));
        assert_eq!(
            uses_of(&resolved),
            vec![
                ItemRef {
                    kind: ItemKind::Persona,
                    name: "shopper".into(),
                    version: 1
                },
                ItemRef {
                    kind: ItemKind::Site,
                    name: "shop".into(),
                    version: 3
                },
            ]
        );
        assert!(
            resolved.get("journeys").is_none(),
            "buyer is built in: nothing brought"
        );
    }

    #[test]
    fn a_library_persona_brings_the_library_journeys_it_walks() {
        let spec = json!({"name": "c", "personas": [{"use": "shopper"}]});
        let resolved = resolve(&spec, &lookup).expect("resolves");
        assert_eq!(resolved["personas"][0]["journeys"], json!({"quick-look": 1}));
        assert_eq!(resolved["journeys"][0]["name"], "quick-look");
        assert_eq!(uses_of(&resolved).len(), 2);
    }

    #[test]
    fn every_unresolved_reference_is_reported_with_its_path() {
        let spec = json!({
            "name": "c",
            "personas": [{"use": "nobody"}, {"use": "shopper", "version": 9}, {"use": "shopper", "colour": "red"}],
            "journeys": [{"use": 7}],
            "site": {"use": "elsewhere"}
        });
        let errors = resolve(&spec, &lookup).expect_err("refused").0;
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "journeys[0].use",
                "personas[0].use",
                "personas[1].use",
                "personas[2].colour",
                "site.use"
            ]
        );
        assert!(
            errors[1].message.contains("no persona `nobody`"),
            "{}",
            errors[1].message
        );
        assert!(errors[2].message.contains("version 9"), "{}", errors[2].message);
    }

    #[test]
    fn items_are_checked_as_a_campaign_reads_them_with_paths_from_the_item() {
        let bad = json!({"name": "shopper", "bounce": 2.0, "journeys": {"nowhere": 1}});
        let errors = check_item(ItemKind::Persona, &bad, &[]).expect_err("refused").0;
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert!(paths.contains(&"bounce"), "{paths:?}");
        assert!(paths.iter().any(|p| p.starts_with("journeys")), "{paths:?}");
        let good = json!({"name": "shopper", "journeys": {"quick-look": 1}});
        let (name, _) =
            check_item(ItemKind::Persona, &good, &["quick-look".to_string()]).expect("a library journey");
        assert_eq!(name, "shopper");
        let site =
            check_item(ItemKind::Site, &json!({"name": "shop", "url": "ftp://x"}), &[]).expect_err("bad url");
        assert_eq!(site.0[0].path, "url");
        let (_, stored) = check_item(
            ItemKind::Site,
            &json!({"name": "shop", "url": "https://s.test"}),
            &[],
        )
        .expect("ok");
        assert_eq!(stored, json!({"url": "https://s.test"}));
        let unnamed = check_item(ItemKind::Journey, &json!({"start": "a"}), &[]).expect_err("no name");
        assert!(unnamed.0.iter().any(|e| e.path == "name"));
    }

    #[test]
    fn kinds_read_singular_or_plural() {
        assert_eq!(ItemKind::parse("personas"), Some(ItemKind::Persona));
        assert_eq!(ItemKind::parse("site"), Some(ItemKind::Site));
        assert_eq!(ItemKind::parse("people"), None);
    }
}
