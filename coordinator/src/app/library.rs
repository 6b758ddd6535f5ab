//! Personas, journeys and sites as named, versioned items that campaign
//! specs reference (`crate::library` holds their storage and resolution).

use super::App;
use crate::error::{CoordinatorError, Result};
use crate::library::ItemView;

pub struct Library<'a> {
    pub(crate) app: &'a App,
}

impl Library<'_> {
    /// Stores an item (a new version when it changed).
    pub async fn apply(&self, kind: &str, document: &str) -> Result<ItemView> {
        let app = self.app;
        app.require_leader().await?;
        let kind = crate::library::kind(kind)?;
        let item = crate::library::apply(&*app.store, &app.keys, &app.leadership, kind, document).await?;
        self.get(kind.as_str(), &item.name, Some(item.version)).await
    }

    /// One item: the version asked for, or its newest.
    pub async fn get(&self, kind: &str, name: &str, version: Option<u32>) -> Result<ItemView> {
        let app = self.app;
        let kind = crate::library::kind(kind)?;
        let items = crate::library::load(&*app.store, &app.keys).await?;
        let campaigns = app.cluster_view().await?.campaigns.clone();
        crate::library::views(&items, &campaigns, Some(kind), Some(name), version)
            .pop()
            .ok_or_else(|| {
                let which = version.map(|v| format!(" version {v}")).unwrap_or_default();
                CoordinatorError::NotFound(format!("{kind} {name}{which}"))
            })
    }

    /// The newest version of each item of a kind (every kind: `None`).
    pub async fn list(&self, kind: Option<&str>) -> Result<Vec<ItemView>> {
        let app = self.app;
        let kind = kind.map(crate::library::kind).transpose()?;
        let items = crate::library::load(&*app.store, &app.keys).await?;
        let campaigns = app.cluster_view().await?.campaigns.clone();
        Ok(crate::library::views(&items, &campaigns, kind, None, None))
    }

    /// Removes every version of an item no unfinished campaign uses;
    /// answers how many versions went.
    pub async fn delete(&self, kind: &str, name: &str) -> Result<u32> {
        let app = self.app;
        app.require_leader().await?;
        let kind = crate::library::kind(kind)?;
        let campaigns = app.cluster_view().await?.campaigns.clone();
        crate::library::delete(&*app.store, &app.keys, &campaigns, kind, name).await
    }
}
