//! The OpenAPI document of the admin API, served at `/api/openapi.json`.

/// The document, in JSON.
pub const DOCUMENT: &str = include_str!("openapi.json");

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::DOCUMENT;

    fn document() -> Value {
        serde_json::from_str(DOCUMENT).expect("the document is JSON")
    }

    /// Every `.route("PATH", METHOD(...))` in the router's sources, as (method, path).
    fn routes_in_code() -> BTreeSet<(String, String)> {
        let mut routes = BTreeSet::new();
        for source in [
            include_str!("api.rs"),
            include_str!("hooks.rs"),
            include_str!("login.rs"),
            include_str!("tasks.rs"),
        ] {
            for piece in source.split(".route(").skip(1) {
                let piece = piece.trim_start().trim_start_matches('"');
                let (path, rest) = piece.split_once('"').expect("a quoted path");
                // The method router: `get(a)`, or a chain such as `get(a).post(b)`, up to
                // the closing parenthesis of `.route(`.
                let mut depth = 0;
                let mut methods = String::new();
                for c in rest.trim_start_matches(',').chars() {
                    match c {
                        '(' => depth += 1,
                        ')' if depth == 0 => break,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    methods.push(c);
                }
                for call in methods.split('.') {
                    let call = call.trim();
                    if let Some((name, _)) = call.split_once('(')
                        && ["get", "post", "patch", "delete", "put"].contains(&name.trim())
                    {
                        routes.insert((name.trim().to_owned(), path.to_owned()));
                    }
                }
            }
        }
        routes
    }

    #[test]
    fn the_document_is_valid_openapi_3() {
        let doc = document();
        assert!(
            doc["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.0."))
        );
        assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
        let text = DOCUMENT;
        // Every reference resolves.
        for piece in text.split("\"$ref\": \"#/").skip(1) {
            let pointer = piece.split('"').next().expect("a reference");
            assert!(
                doc.pointer(&format!("/{pointer}")).is_some(),
                "unresolved $ref #/{pointer}"
            );
        }
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("a path item") {
                assert!(
                    ["get", "post", "put", "patch", "delete"].contains(&method.as_str()),
                    "{method} {path}"
                );
                assert!(
                    operation["responses"]
                        .as_object()
                        .is_some_and(|r| !r.is_empty()),
                    "{method} {path} has no responses"
                );
                // Every path parameter is declared.
                let declared: BTreeSet<&str> = operation["parameters"]
                    .as_array()
                    .map(|ps| {
                        ps.iter()
                            .filter(|p| p["in"] == "path")
                            .filter_map(|p| p["name"].as_str())
                            .collect()
                    })
                    .unwrap_or_default();
                let used: BTreeSet<&str> = path
                    .split('/')
                    .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                    .collect();
                assert_eq!(declared, used, "{method} {path}");
                let public = operation["security"].as_array().is_some_and(Vec::is_empty);
                assert_eq!(
                    public,
                    [
                        "/healthz",
                        "/readyz",
                        "/login",
                        "/logout",
                        "/hooks/{source}"
                    ]
                    .contains(&path.as_str()),
                    "{method} {path}: only health checks, logging in and out, and webhooks (with their own secret) are public"
                );
                if !["/healthz", "/readyz", "/logout"].contains(&path.as_str()) {
                    assert!(
                        operation["responses"]["401"].is_object(),
                        "{method} {path} does not document 401"
                    );
                }
            }
        }
    }

    #[test]
    fn the_document_matches_the_routes() {
        let documented: BTreeSet<(String, String)> = document()["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .expect("a path item")
                    .keys()
                    .map(|method| (method.clone(), path.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(documented, routes_in_code());
    }
}
