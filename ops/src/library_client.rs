//! `throng persona|journey|site apply|list|get|delete`: the library of
//! items campaigns reuse by name.

use serde_json::Value;
use throng_proto::v1;

use crate::cli::{LibraryCommand, Output};
use crate::client::{CliError, connect, read_spec};

fn clock(ms: u64) -> String {
    jiff::Timestamp::from_millisecond(ms as i64).map_or_else(
        |_| ms.to_string(),
        |t| t.strftime("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

fn used_by(item: &v1::LibraryItem) -> String {
    if item.used_by.is_empty() {
        "-".to_string()
    } else {
        item.used_by.join(", ")
    }
}

/// The items of a file: one item, or a list of them.
fn documents(text: &str, path: &std::path::Path) -> Result<Vec<String>, CliError> {
    let value: Value = serde_yaml::from_str(text)
        .map_err(|e| CliError::Other(format!("{}: not YAML or JSON: {e}", path.display())))?;
    Ok(match value {
        Value::Array(items) => items.iter().map(Value::to_string).collect(),
        _ => vec![text.to_string()],
    })
}

pub async fn library(
    endpoint: &str,
    output: Output,
    kind: &str,
    command: LibraryCommand,
) -> Result<(), CliError> {
    let mut client = connect(endpoint).await?;
    match command {
        LibraryCommand::Apply { file } => {
            let text = read_spec(&file)?;
            let mut stored = Vec::new();
            for document in documents(&text, &file)? {
                let request = v1::ApplyLibraryItemRequest {
                    kind: kind.to_string(),
                    document,
                };
                stored.push(client.apply_library_item(request).await?.into_inner());
            }
            match output {
                Output::Json => {
                    let items: Vec<Value> = stored
                        .iter()
                        .map(throng_coordinator::json::library_item)
                        .collect();
                    println!("{}", serde_json::to_string(&items).unwrap_or_default());
                }
                Output::Table => {
                    for item in &stored {
                        println!("{kind} {} version {}", item.name, item.version);
                    }
                }
            }
        }
        LibraryCommand::List => {
            let request = v1::ListLibraryItemsRequest {
                kind: kind.to_string(),
            };
            let items = client.list_library_items(request).await?.into_inner().items;
            match output {
                // The shape `GET /api/v1/library/{kind}` answers with.
                Output::Json => {
                    let items: Vec<Value> =
                        items.iter().map(throng_coordinator::json::library_item).collect();
                    println!("{}", serde_json::json!({ "items": items }));
                }
                Output::Table if items.is_empty() => {
                    println!("no {kind} in the library yet: throng {kind} apply -f FILE");
                }
                Output::Table => {
                    println!(
                        "{:<24} {:>7} {:>8}  {:<19}  USED BY",
                        "NAME", "VERSION", "VERSIONS", "UPDATED (UTC)"
                    );
                    for item in &items {
                        println!(
                            "{:<24} {:>7} {:>8}  {:<19}  {}",
                            item.name,
                            item.version,
                            item.versions,
                            clock(item.updated_ms),
                            used_by(item)
                        );
                    }
                }
            }
        }
        LibraryCommand::Get { name, version } => {
            let request = v1::LibraryItemRef {
                kind: kind.to_string(),
                name,
                version: version.unwrap_or(0),
            };
            let item = client.get_library_item(request).await?.into_inner();
            match output {
                Output::Json => println!("{}", throng_coordinator::json::library_item(&item)),
                Output::Table => {
                    println!(
                        "# {kind} {} version {} of {}, updated {} UTC; used by {}",
                        item.name,
                        item.version,
                        item.versions,
                        clock(item.updated_ms),
                        used_by(&item)
                    );
                    let document: Value = serde_json::from_str(&item.document_json).unwrap_or_default();
                    print!("{}", serde_yaml::to_string(&document).unwrap_or_default());
                }
            }
        }
        LibraryCommand::Delete { name } => {
            let request = v1::LibraryItemRef {
                kind: kind.to_string(),
                name: name.clone(),
                version: 0,
            };
            let removed = client
                .delete_library_item(request)
                .await?
                .into_inner()
                .versions_removed;
            match output {
                Output::Json => println!(
                    "{}",
                    serde_json::json!({"kind": kind, "name": name, "versions_removed": removed})
                ),
                Output::Table => println!("{kind} {name} deleted ({removed} version(s))"),
            }
        }
    }
    Ok(())
}
