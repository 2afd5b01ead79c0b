//! The checked-in JSON Schema matches the Rust types, and every example loads and serves.

use crate::common;

use mockrig::spec::{self, Spec};
use reqwest::StatusCode;

#[test]
fn checked_in_schema_is_current() {
    let generated = spec::json_schema_text();
    let path = common::repo_path("schemas/mockrig.schema.json");
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "schemas/mockrig.schema.json is stale; run `UPDATE_SCHEMAS=1 cargo test --test it schema`"
    );
}

fn examples() -> Vec<std::path::PathBuf> {
    let mut list: Vec<_> = std::fs::read_dir(common::repo_path("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    list.sort();
    assert!(!list.is_empty(), "examples/ has specs");
    list
}

#[test]
fn examples_point_editors_at_the_schema() {
    for path in examples() {
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# yaml-language-server: $schema=../schemas/mockrig.schema.json"),
            "{} must start with the schema comment",
            path.display()
        );
    }
}

/// A concrete request path for a pattern: `1` for each parameter, `a/b` for a catch-all.
fn concrete(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|seg| {
            if seg.starts_with("{*") {
                "a/b"
            } else if seg.starts_with('{') {
                "1"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_example_serves_every_unconditional_route() {
    for path in examples() {
        mockrig::check_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let text = std::fs::read_to_string(&path).unwrap();
        let parsed: Spec = serde_yaml::from_str(&text).unwrap();
        let server = common::serve(&path).unwrap();
        let client = common::client();
        let Spec {
            routes,
            statics,
            resources,
            ..
        } = &parsed;
        for (i, route) in routes.iter().enumerate() {
            // Conditions, and scenario steps past the start, need a request or a state of
            // their own.
            if route.matcher.is_some() || route.when.as_deref().is_some_and(|w| w != "started") {
                continue;
            }
            // A proxied route answers what its backend answers (`proxy.rs` tests those against
            // real backends); a long poll waits for an event (`long_poll.rs`, the browser test).
            if route.proxy.is_some() || route.wait.is_some() {
                continue;
            }
            // Only the first route of a method and path is reachable without conditions.
            let shadowed = routes[..i]
                .iter()
                .any(|r| r.path == route.path && r.method == route.method && r.matcher.is_none());
            if shadowed {
                continue;
            }
            let method = match route.method {
                spec::Method::Any => "GET",
                m => m.as_str(),
            };
            let url = format!("{}{}", server.url(), concrete(&route.path));
            // What the first request gets: the response, the first of a sequence (a random
            // one may be any), or the first alternative.
            let first = route.all_responses().next().cloned().unwrap_or_default();
            let sent = client.request(method.parse().unwrap(), &url).send().await;
            let what = format!("{}: routes[{i}] {method} {url}", path.display());
            if first.fault.is_some() && route.sequence != spec::Sequence::Random {
                // The client sees the connection fail, not a response.
                let failed = match sent {
                    Err(_) => true,
                    Ok(r) => r.bytes().await.is_err(),
                };
                assert!(failed, "{what}: a fault, yet a whole response");
                continue;
            }
            if route.sequence == spec::Sequence::Random {
                // Any of them, a fault included.
                match sent {
                    Ok(r) => {
                        let statuses: Vec<u16> = route.responses.iter().map(|r| r.status).collect();
                        assert!(statuses.contains(&r.status().as_u16()), "{what}");
                    }
                    Err(e) => {
                        assert!(
                            route.responses.iter().any(|r| r.fault.is_some()),
                            "{what}: {e}"
                        )
                    }
                }
                continue;
            }
            let r = sent.unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(r.status().as_u16(), first.status, "{what}");
        }
        for (name, r_def) in resources {
            let path = r_def.path.clone().unwrap_or_else(|| format!("/{name}"));
            let r = client
                .get(format!("{}{path}", server.url()))
                .send()
                .await
                .unwrap();
            // A gated resource refuses a request that carries nothing: its `otherwise`, or 401.
            if r_def.matcher.is_some() {
                let refused = r_def.otherwise.as_ref().map_or(401, |o| o.status);
                assert_eq!(
                    r.status().as_u16(),
                    refused,
                    "{path}: gated resource {name}"
                );
                continue;
            }
            assert_eq!(r.status(), StatusCode::OK, "{}: resource {name}", path);
            let body: serde_json::Value = r.json().await.unwrap();
            assert!(body.is_array() || body.is_object(), "{name}: {body}");
        }
        for s in statics {
            let r = client
                .get(format!("{}{}/", server.url(), s.path))
                .send()
                .await
                .unwrap();
            assert_eq!(
                r.status(),
                StatusCode::OK,
                "{}: static {}",
                path.display(),
                s.path
            );
        }
    }
}

/// Every YAML example of the README is a spec `check` accepts without an error or a warning
/// (a lone `response:` is checked as a route's), with the files it names beside it.
#[test]
fn every_readme_example_checks_clean() {
    let readme = std::fs::read_to_string(common::repo_path("README.md")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The files the examples name: a seed file, a static folder, a certificate and its key
    // (`check` looks only for files).
    for (file, text) in [
        ("data/posts.json", "[]"),
        ("public/index.html", "<p>hi</p>"),
        ("certs/localhost.pem", "-"),
        ("certs/localhost-key.pem", "-"),
        // What the `include:` section's main spec joins.
        (
            "resources.yaml",
            "resources:\n  todos:\n    seed:\n      - { id: 1, title: Write the spec, done: true }\n",
        ),
        (
            "routes/users.yaml",
            "routes:\n  - path: /users/me\n    response:\n      body: { id: 1, name: Ada }\n",
        ),
        // What "Growing it" includes.
        (
            "todos.yaml",
            &std::fs::read_to_string(common::repo_path("examples/todo/todos.yaml")).unwrap(),
        ),
        (
            "contracts/petstore.yaml",
            "openapi: 3.1.0\ninfo: { title: t, version: '1' }\npaths:\n  /pets/{petId}:\n    get:\n      responses: { '200': { description: one } }\n",
        ),
    ] {
        let path = dir.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let blocks: Vec<&str> = readme
        .split("```yaml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    assert!(blocks.len() >= 15, "found {} examples", blocks.len());
    let mut failed = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        let text = if block.starts_with("response:") {
            let indented: String = block.lines().map(|l| format!("    {l}\n")).collect();
            format!("routes:\n  - path: /x\n{indented}")
        } else {
            block.to_string()
        };
        let spec = dir.path().join(format!("example-{i}.yaml"));
        // On disk too: a block that is an OpenAPI document is read from its file.
        std::fs::write(&spec, &text).unwrap();
        match mockrig::check_text(&text, &spec) {
            Ok(checked) if checked.warnings.warnings() == 0 => {}
            Ok(checked) => failed.push(format!("example {i}:\n{}", checked.warnings)),
            Err(e) => failed.push(format!("example {i}:\n{e}")),
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}
