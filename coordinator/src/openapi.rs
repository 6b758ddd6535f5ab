//! The OpenAPI 3.1 document of the HTTP API, built with `utoipa` from the
//! route table (`crate::routes`), served at `/api/v1/openapi.json`.

use utoipa::openapi::path::{OperationBuilder, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, HttpMethod, InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Ref,
    Required, ResponseBuilder,
};

use crate::routes::{Access, Answer, Method, Route};

/// The problem document every error answers with (RFC 9457).
fn problem_schema() -> ObjectBuilder {
    let text = |description: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(description))
    };
    let field_error = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("path", text("the field's path, e.g. personas[0].use"))
        .property("message", text("what is wrong with it"))
        .required("path")
        .required("message");
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some("An error, as an RFC 9457 problem document"))
        .property("type", text("about:blank"))
        .property("title", text("the HTTP reason phrase"))
        .property("status", ObjectBuilder::new().schema_type(Type::Integer))
        .property("detail", text("what went wrong"))
        .property(
            "code",
            text("the gRPC code the same call gets, e.g. InvalidArgument"),
        )
        .property(
            "errors",
            utoipa::openapi::schema::ArrayBuilder::new().items(field_error),
        )
        .required("title")
        .required("status")
        .required("detail")
}

fn reason(status: u16) -> &'static str {
    axum::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error")
}

/// The `{name}` segments of a path.
pub fn path_parameters(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

fn operation_id(route: &Route) -> String {
    let method = match route.method {
        Method::Get => "get",
        Method::Post => "post",
        Method::Put => "put",
        Method::Delete => "delete",
    };
    let path: String = route
        .path
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{method}{}", path.trim_end_matches('_')).replace("__", "_")
}

fn operation(route: &Route) -> utoipa::openapi::path::Operation {
    let mut description = String::new();
    if let Some(rpc) = route.rpc {
        description.push_str(&format!("The HTTP door of gRPC `ControlService.{rpc}`. "));
    }
    description.push_str(match route.access {
        Access::Open => "Open: no token.",
        Access::Read => "Needs a read or admin token when the coordinator has tokens.",
        Access::Admin => "Needs an admin token when the coordinator has tokens.",
    });
    let tag = route
        .path
        .trim_start_matches("/api/v1/")
        .trim_start_matches('/')
        .split('/')
        .next()
        .filter(|t| !t.is_empty())
        .unwrap_or("dashboard");
    let mut op = OperationBuilder::new()
        .operation_id(Some(operation_id(route)))
        .summary(Some(route.summary))
        .description(Some(description))
        .tag(tag);
    for name in path_parameters(route.path) {
        op = op.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
        );
    }
    for (name, kind, about) in route.query {
        let kind = match *kind {
            "integer" => Type::Integer,
            "number" => Type::Number,
            "boolean" => Type::Boolean,
            _ => Type::String,
        };
        op = op.parameter(
            ParameterBuilder::new()
                .name(*name)
                .parameter_in(ParameterIn::Query)
                .required(if route.required.contains(name) {
                    Required::True
                } else {
                    Required::False
                })
                .description(Some(*about))
                .schema(Some(ObjectBuilder::new().schema_type(kind))),
        );
    }
    if let Some(body) = route.body {
        let any = || ContentBuilder::new().build();
        op = op.request_body(Some(
            RequestBodyBuilder::new()
                .description(Some(body))
                .required(Some(Required::True))
                .content("application/json", any())
                .content("application/yaml", any())
                .build(),
        ));
    }
    let (code, ok) = match route.answer {
        Answer::Json => (
            "200",
            ResponseBuilder::new()
                .description("OK")
                .content("application/json", ContentBuilder::new().build()),
        ),
        Answer::Html => (
            "200",
            ResponseBuilder::new()
                .description("The page")
                .content("text/html", ContentBuilder::new().build()),
        ),
        Answer::Text => (
            "200",
            ResponseBuilder::new()
                .description("OK")
                .content("text/plain", ContentBuilder::new().build()),
        ),
        Answer::Metrics => (
            "200",
            ResponseBuilder::new()
                .description("Prometheus text exposition")
                .content("text/plain", ContentBuilder::new().build()),
        ),
        Answer::EventStream => (
            "200",
            ResponseBuilder::new()
                .description("Server-sent events")
                .content("text/event-stream", ContentBuilder::new().build()),
        ),
        Answer::Asset => (
            "200",
            ResponseBuilder::new()
                .description("The file")
                .content("text/javascript", ContentBuilder::new().build())
                .content("text/css", ContentBuilder::new().build()),
        ),
        Answer::Png => (
            "200",
            ResponseBuilder::new()
                .description("The image")
                .content("image/png", ContentBuilder::new().build()),
        ),
        Answer::Redirect => ("303", ResponseBuilder::new().description("To /dashboard")),
        Answer::WebSocket => (
            "101",
            ResponseBuilder::new().description("Switches to a WebSocket of JSON messages"),
        ),
    };
    op = op.response(code, ok.build());
    let mut errors: Vec<u16> = route.errors.to_vec();
    if route.access != Access::Open {
        errors.extend([401, 403, 429]);
    }
    errors.sort_unstable();
    errors.dedup();
    for status in errors {
        let problem = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build();
        op = op.response(
            status.to_string(),
            ResponseBuilder::new()
                .description(reason(status))
                .content("application/problem+json", problem)
                .build(),
        );
    }
    if route.access != Access::Open {
        op = op.security(SecurityRequirement::new("bearer", Vec::<String>::new()));
    }
    op.build()
}

/// The document of these routes.
pub fn document(routes: &[Route]) -> OpenApi {
    let mut paths = PathsBuilder::new();
    for route in routes {
        let method = match route.method {
            Method::Get => HttpMethod::Get,
            Method::Post => HttpMethod::Post,
            Method::Put => HttpMethod::Put,
            Method::Delete => HttpMethod::Delete,
        };
        paths = paths.path(route.path, PathItem::new(method, operation(route)));
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Throng coordinator HTTP API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Campaigns, sessions, stream runs, the library and the cluster, as JSON. \
                     The same calls over gRPC: throng.v1.ControlService (docs/api.md).",
                )),
        )
        .paths(paths)
        .components(Some(
            ComponentsBuilder::new()
                .schema("Problem", problem_schema())
                .security_scheme(
                    "bearer",
                    SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
                )
                .build(),
        ))
        .build()
}

/// The document of `table` as JSON, as `GET /api/v1/openapi.json` answers it.
pub fn json(table: &[Route]) -> String {
    document(table)
        .to_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_in_the_document_once_with_its_method() {
        let routes = crate::routes::table();
        let doc: serde_json::Value =
            serde_json::from_str(&document(&routes).to_json().expect("json")).expect("a JSON document");
        assert_eq!(doc["openapi"], "3.1.0");
        let mut seen = std::collections::BTreeSet::new();
        for route in &routes {
            let method = format!("{:?}", route.method).to_lowercase();
            assert!(
                seen.insert((route.path, method.clone())),
                "{} {} twice",
                method,
                route.path
            );
            let op = &doc["paths"][route.path][&method];
            assert!(op.is_object(), "{method} {} missing", route.path);
            assert_eq!(op["summary"], route.summary);
            for name in path_parameters(route.path) {
                assert!(
                    op["parameters"]
                        .as_array()
                        .is_some_and(|ps| ps.iter().any(|p| p["name"] == name && p["in"] == "path")),
                    "{} lacks its path parameter {name}",
                    route.path
                );
            }
        }
        let operations: usize = doc["paths"]
            .as_object()
            .expect("paths")
            .values()
            .map(|item| item.as_object().map_or(0, |m| m.len()))
            .sum();
        assert_eq!(operations, routes.len(), "nothing beyond the table");
    }

    #[test]
    fn every_control_service_call_has_a_route() {
        let routes = crate::routes::table();
        let proto = include_str!("../../proto/throng/v1/control.proto");
        let service = &proto[proto.find("service ControlService").expect("service")..];
        let service = &service[..service.find("\n}").expect("end")];
        for line in service.lines() {
            let Some(rest) = line.trim().strip_prefix("rpc ") else {
                continue;
            };
            let rpc = rest.split('(').next().expect("name").trim();
            assert!(
                routes.iter().any(|r| r.rpc == Some(rpc)),
                "ControlService.{rpc} has no HTTP route"
            );
        }
    }
}
