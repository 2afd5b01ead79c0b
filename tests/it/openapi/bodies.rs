//! 2. Generated bodies validate against their response's schema.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use serde_json::{Map, Value, json};

use super::documents::{Doc, Files, normalise, read_doc, response_for};
use super::requests::{Answer, build, given_examples, send};
use super::schemas::{Checker, Direction, bundle};
use super::values::Gen;
use super::{CORES, GENERATED, PETSTORE, fixtures, report, serve};

// ---------------------------------------------------------------------------------------------
// 2. Generated bodies validate

/// The media type object the answer's Content-Type came from: exact, then `type/*`, `*/*`.
fn media_for(response: &Value, content_type: &str) -> Option<(String, Value)> {
    let content = response["content"].as_object()?;
    let bare = |k: &str| {
        k.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    };
    let main = content_type.split('/').next().unwrap_or("");
    content
        .iter()
        .find(|(k, _)| bare(k) == content_type)
        .or_else(|| content.iter().find(|(k, _)| bare(k) == format!("{main}/*")))
        .or_else(|| content.iter().find(|(k, _)| bare(k) == "*/*"))
        .map(|(k, v)| (k.clone(), v.clone()))
}

/// What one answer's body says against its schema.
enum Judged {
    Valid,
    /// Nothing to judge: no content declared, or not JSON, or no schema.
    Skipped,
    /// Only values the document wrote itself (examples, defaults) are wrong, or values
    /// under `oneOf` branches that overlap: noted, not mockrig's fault.
    Document(String),
}

/// The answer's body against the schema of the response and media type it was sent as;
/// `Err` says what is wrong.
fn judge_body(
    doc: &mut Doc,
    i: usize,
    a: &Answer,
    checkers: &mut HashMap<String, (Checker, Vec<Value>)>,
) -> Result<Judged, String> {
    let op = &doc.ops[i];
    let Some((rfile, response)) = response_for(&mut doc.files, op, a.status) else {
        return Err(format!("status {} is not declared", a.status));
    };
    if response
        .get("content")
        .is_none_or(|c| c.as_object().is_none_or(Map::is_empty))
    {
        return Ok(Judged::Skipped);
    }
    let ct = a.content_type();
    if ct.is_empty() && a.status != 204 {
        return Err(format!(
            "no Content-Type (body: {:?}), though the response declares content",
            a.excerpt()
        ));
    }
    if !(ct.ends_with("json") || ct.contains("+json")) {
        return Ok(Judged::Skipped);
    }
    let Some((media, media_obj)) = media_for(&response, &ct) else {
        return Err(format!(
            "Content-Type {ct} is none of the response's media types"
        ));
    };
    let Some(schema) = media_obj.get("schema") else {
        return Ok(Judged::Skipped);
    };
    let body: Value = match serde_json::from_slice(&a.body) {
        Ok(b) => b,
        Err(_) => return Err(format!("{ct} body is not JSON: {}", a.excerpt())),
    };
    let key = format!("{i} {} {media}", a.status);
    if !checkers.contains_key(&key) {
        let b = bundle(&mut doc.files, &rfile, schema, doc.v30, Direction::Response);
        let checker = Checker::new(&b).map_err(|e| format!("{key}: {e}"))?;
        checkers.insert(key.clone(), (checker, b.document_values()));
    }
    let (checker, written) = &checkers[&key];
    let errors = checker.errors(&body);
    if errors.is_empty() {
        return Ok(Judged::Valid);
    }
    let shown: Vec<&str> = errors.iter().take(4).map(|(_, e, _)| e.as_str()).collect();
    let more = if errors.len() > 4 {
        format!(" (+{} more)", errors.len() - 4)
    } else {
        String::new()
    };
    let text = format!("{} {media}: {}{more}", a.status, shown.join(" | "));
    // An error inside a value the document wrote (an example or default, whole, at the
    // error's place or above it) is the document's: mockrig only repeated it.
    let from_document = |at: &str| {
        let mut prefix = String::new();
        std::iter::once("")
            .chain(at.split('/').skip(1))
            .enumerate()
            .any(|(n, seg)| {
                if n > 0 {
                    prefix.push('/');
                    prefix.push_str(seg);
                }
                body.pointer(&prefix).is_some_and(|v| written.contains(v))
            })
    };
    // A `oneOf` whose branches overlap (DigitalOcean's `[string, boolean, string]`) rejects
    // values of the overlap whoever writes them: the document's to fix, noted.
    if errors
        .iter()
        .all(|(at, _, overlap)| *overlap || from_document(at))
    {
        Ok(Judged::Document(text))
    } else {
        Err(text)
    }
}

/// The test's own schema handling rejects what it must and accepts what it must: without
/// this, a resolver that lost a `$ref` (a schema of `true`) would pass every body.
fn check_the_checker(dir: &Path) {
    let mut files = Files::default();
    let pets = normalise(&dir.join(PETSTORE));
    let b = bundle(
        &mut files,
        &pets,
        &json!({ "$ref": "#/components/schemas/Pets" }),
        true,
        Direction::Response,
    );
    let c = Checker::new(&b).unwrap();
    assert!(c.valid(&json!([{ "id": 1, "name": "rex" }])));
    assert!(
        !c.valid(&json!([{ "id": "1", "name": "rex" }])),
        "Pet.id is an integer"
    );
    assert!(!c.valid(&json!([{ "name": "rex" }])), "Pet requires id");
    // DigitalOcean: `properties: { $ref: attributes.yml#/… }` across files, `allOf`, formats.
    let lb = normalise(
        &dir.join("digitalocean/specification/resources/load_balancers/models/load_balancer.yml"),
    );
    let b = bundle(
        &mut files,
        &lb,
        &json!({ "$ref": "load_balancer.yml" }),
        true,
        Direction::Response,
    );
    let c = Checker::new(&b).unwrap();
    let base = [true, false]
        .into_iter()
        .map(|examples| {
            Gen {
                defs: &b.defs,
                examples,
            }
            .value(&b.root, 0)
        })
        .find(|v| c.valid(v))
        .expect("the test's generator makes a valid load balancer");
    for (key, wrong, why) in [
        ("droplet_ids", json!(["x"]), "droplet_ids are integers"),
        ("id", json!("not-a-uuid"), "formats are checked"),
        (
            "forwarding_rules",
            json!([]),
            "minItems of a property of a `$ref`'d file",
        ),
    ] {
        let mut v = base.clone();
        v[key] = wrong;
        assert!(!c.valid(&v), "{why}: {v}");
    }
}

/// Every operation's generated answer is valid against the schema of the response and media
/// type it was sent as: with `Prefer: dynamic=true` (fake data), and without it for media
/// types with no example (static values from the schema). Served with `validate: false`,
/// so every request reaches its answer; the schema the body is checked against is the one
/// the answer's own status and Content-Type name.
#[tokio::test]
async fn generated_bodies_validate_against_their_response_schema() {
    let Some(dir) = fixtures() else { return };
    let _cores = CORES.read().await;
    check_the_checker(&dir);
    let mut failures = Vec::new();
    let mut document_faults = Vec::new();
    for &name in GENERATED {
        let started = Instant::now();
        let mut doc = read_doc(&dir, name);
        let m = match serve(&doc.top, false) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let mut checkers = HashMap::new();
        // [dynamic, static]: bodies validated, answers with nothing to judge.
        let (mut valid, mut skipped) = ([0; 2], [0; 2]);
        // Dynamic answers of media types with examples, and how many were an example.
        let (mut with_example, mut was_example) = (0, 0);
        for i in 0..doc.ops.len() {
            let req = build(&mut doc, i);
            let label = doc.ops[i].label();
            for (n, mode) in ["dynamic", "static"].into_iter().enumerate() {
                let prefer = (mode == "dynamic").then_some("dynamic=true");
                let a = send(&m, &req, prefer).await;
                let examples = match response_for(&mut doc.files, &doc.ops[i], a.status) {
                    Some((rfile, r)) => match media_for(&r, &a.content_type()) {
                        Some((_, mo)) => given_examples(&mut doc.files, &rfile, &mo),
                        None => Vec::new(),
                    },
                    None => Vec::new(),
                };
                if mode == "dynamic" && !examples.is_empty() {
                    with_example += 1;
                    let body = serde_json::from_slice::<Value>(&a.body).ok();
                    if body.is_some_and(|b| examples.contains(&b)) {
                        was_example += 1;
                    }
                }
                // Static answers only where the media type gives no example: what is sent is
                // then mockrig's own value from the schema, not the document's example.
                if mode == "static" && !examples.is_empty() {
                    continue;
                }
                match judge_body(&mut doc, i, &a, &mut checkers) {
                    Ok(Judged::Valid) => valid[n] += 1,
                    Ok(Judged::Skipped) => skipped[n] += 1,
                    Ok(Judged::Document(why)) => {
                        document_faults.push(format!("{name} {label} {mode}: {why}"))
                    }
                    Err(why) => failures.push(format!("{name} {label} {mode}: {why}")),
                }
            }
        }
        println!(
            "{name}: {} operations; valid bodies: {} dynamic, {} static (no example); nothing \
             to judge: {} dynamic, {} static; {:.1?}",
            doc.ops.len(),
            valid[0],
            valid[1],
            skipped[0],
            skipped[1],
            started.elapsed()
        );
        // Guards against a vacuous pass: `Prefer: dynamic=true` must generate, not repeat
        // the document's examples, and most operations of these documents answer JSON.
        if was_example * 2 > with_example {
            failures.push(format!(
                "{name}: Prefer: dynamic=true answered the document's example for {was_example} \
                 of {with_example} operations that have one"
            ));
        }
        if valid[0] * 2 < doc.ops.len() {
            failures.push(format!(
                "{name}: only {} of {} dynamic answers had a JSON body to validate",
                valid[0],
                doc.ops.len()
            ));
        }
    }
    if !document_faults.is_empty() {
        println!(
            "not counted: the documents' own examples or defaults are invalid, or their `oneOf` \
             branches overlap:\n  {}",
            document_faults.join("\n  ")
        );
    }
    report("generated bodies that do not validate", &failures);
}
