//! The library of personas, journeys and sites in the cluster state: every
//! version of every item under `/library/<kind>/<name>/<version>`, and the
//! resolution of a campaign document's `use` references against it.

use std::collections::BTreeMap;

use serde_json::Value;
use throng_engine::clock::epoch_ms;
use throng_engine::spec::library::{self, ItemKind, LibraryItem};
use throng_engine::spec::{SpecErrors, parse_document};
use throng_proto::v1;
use throng_state::{Keys, StateStore};

use crate::campaign::Campaign;
use crate::error::{CoordinatorError, Result};

/// One item as listed: its newest (or asked-for) version, how many versions
/// are stored, and the campaigns not yet finished that use it.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemView {
    pub item: LibraryItem,
    pub versions: u32,
    pub used_by: Vec<String>,
}

/// Every stored version of every item (the library is small: a team's
/// personas, journeys and sites), oldest version first.
pub async fn load(store: &dyn StateStore, keys: &Keys) -> Result<Vec<LibraryItem>> {
    let mut items = Vec::new();
    for kv in store.list(&keys.library_prefix()).await? {
        let item: LibraryItem = serde_json::from_slice(&kv.value)
            .map_err(|e| CoordinatorError::Internal(format!("library item at {}: {e}", kv.key)))?;
        items.push(item);
    }
    items.sort_by(|a, b| (a.kind, &a.name, a.version).cmp(&(b.kind, &b.name, b.version)));
    Ok(items)
}

/// The version asked for of an item (`None`: the newest).
pub fn find(items: &[LibraryItem], kind: ItemKind, name: &str, version: Option<u32>) -> Option<LibraryItem> {
    items
        .iter()
        .filter(|i| i.kind == kind && i.name == name && version.is_none_or(|v| v == i.version))
        .max_by_key(|i| i.version)
        .cloned()
}

/// A campaign document with its library references resolved into the
/// items' documents (unchanged when it has none).
pub async fn resolve(store: &dyn StateStore, keys: &Keys, document: &str) -> Result<Value> {
    let value = parse_document(document).map_err(CoordinatorError::InvalidSpec)?;
    if !library::uses_library(&value) {
        return Ok(value);
    }
    let items = load(store, keys).await?;
    library::resolve(&value, &|kind, name, version| find(&items, kind, name, version))
        .map_err(CoordinatorError::InvalidSpec)
}

/// The kind named in a request.
pub fn kind(name: &str) -> Result<ItemKind> {
    ItemKind::parse(name).ok_or_else(|| CoordinatorError::InvalidItem {
        kind: ItemKind::Persona,
        errors: SpecErrors(vec![throng_engine::spec::FieldError {
            path: "kind".into(),
            message: format!("`{name}` is not a library kind; expected persona, journey or site"),
        }]),
    })
}

/// Stores a new version of an item when its document differs from the
/// newest; the newest as it stands when nothing changed.
pub async fn apply(
    store: &dyn StateStore,
    keys: &Keys,
    leadership: &crate::leader::Leadership,
    kind: ItemKind,
    document: &str,
) -> Result<LibraryItem> {
    let invalid = |errors| CoordinatorError::InvalidItem { kind, errors };
    let value = parse_document(document).map_err(invalid)?;
    let items = load(store, keys).await?;
    let journeys: Vec<String> = items
        .iter()
        .filter(|i| i.kind == ItemKind::Journey)
        .map(|i| i.name.clone())
        .collect();
    let (name, stored) = library::check_item(kind, &value, &journeys).map_err(invalid)?;
    let newest = find(&items, kind, &name, None);
    if let Some(newest) = &newest
        && newest.document == stored
    {
        return Ok(newest.clone());
    }
    let item = LibraryItem {
        kind,
        version: newest.map_or(1, |n| n.version + 1),
        name,
        document: stored,
        updated_ms: epoch_ms(),
    };
    let key = keys.library_version(kind.as_str(), &item.name, item.version);
    let value = serde_json::to_vec(&item).map_err(|e| CoordinatorError::Internal(e.to_string()))?;
    // Absent: two applies racing for the same version cannot both win.
    let written = crate::writes::Writes::new(store, keys, leadership)
        .add_library_version(key, value)
        .await?;
    if !written {
        return Err(CoordinatorError::Conflict(format!(
            "{kind} {} version {} was written by another call at the same time; apply again",
            item.name, item.version
        )));
    }
    tracing::info!(kind = %kind, name = %item.name, version = item.version, "library item stored");
    Ok(item)
}

/// Ids of the campaigns that are not finished and use any version of an item.
pub fn used_by(campaigns: &BTreeMap<String, Campaign>, kind: ItemKind, name: &str) -> Vec<String> {
    campaigns
        .values()
        .filter(|c| !c.status.state.is_terminal())
        .filter(|c| {
            let document: Value = serde_json::from_str(&c.spec_json).unwrap_or_default();
            library::uses_of(&document)
                .iter()
                .any(|u| u.kind == kind && u.name == name)
        })
        .map(|c| c.id.clone())
        .collect()
}

/// The view of one item, or of each item of a kind.
pub fn views(
    items: &[LibraryItem],
    campaigns: &BTreeMap<String, Campaign>,
    kind: Option<ItemKind>,
    name: Option<&str>,
    version: Option<u32>,
) -> Vec<ItemView> {
    let mut names: Vec<(ItemKind, &str)> = items
        .iter()
        .filter(|i| kind.is_none_or(|k| k == i.kind) && name.is_none_or(|n| n == i.name))
        .map(|i| (i.kind, i.name.as_str()))
        .collect();
    names.dedup();
    names
        .into_iter()
        .filter_map(|(kind, name)| {
            let item = find(items, kind, name, version)?;
            Some(ItemView {
                item,
                versions: items.iter().filter(|i| i.kind == kind && i.name == name).count() as u32,
                used_by: used_by(campaigns, kind, name),
            })
        })
        .collect()
}

/// Removes every version of an item, unless campaigns still running (or
/// created, or paused) use it.
pub async fn delete(
    store: &dyn StateStore,
    keys: &Keys,
    campaigns: &BTreeMap<String, Campaign>,
    kind: ItemKind,
    name: &str,
) -> Result<u32> {
    let users = used_by(campaigns, kind, name);
    if !users.is_empty() {
        return Err(CoordinatorError::Conflict(format!(
            "{kind} {name} is used by campaign {} that has not finished; stop {} first",
            users.join(", "),
            if users.len() == 1 { "it" } else { "them" }
        )));
    }
    let removed = store
        .delete_prefix(&keys.library_item(kind.as_str(), name))
        .await?;
    if removed == 0 {
        return Err(CoordinatorError::NotFound(format!("{kind} {name}")));
    }
    tracing::info!(kind = %kind, name, versions = removed, "library item deleted");
    Ok(removed as u32)
}

pub fn to_wire(view: &ItemView) -> v1::LibraryItem {
    v1::LibraryItem {
        kind: view.item.kind.as_str().to_string(),
        name: view.item.name.clone(),
        version: view.item.version,
        document_json: view.item.document.to_string(),
        updated_ms: view.item.updated_ms,
        versions: view.versions,
        used_by: view.used_by.clone(),
    }
}
