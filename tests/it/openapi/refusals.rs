//! 3. Invalid requests are refused at the right `location`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::documents::{Doc, Op, normalise, read_doc};
use super::requests::{Answer, Req, build, send, text_of};
use super::schemas::{Checker, Direction, bundle};
use super::values::valid_value;
use super::{CORES, DIGITALOCEAN, PETSTORE_EXPANDED, TWILIO, fixtures, report, serve};

// ---------------------------------------------------------------------------------------------
// 3. Invalid requests

/// A request broken in one place, and where mockrig must say it is broken.
struct Broken {
    /// What kind of defect, for sampling evenly: `path wrong`, `query missing`, …
    kind: &'static str,
    what: String,
    req: Req,
    location: String,
    /// The operation declares its own answer to a refusal (422, else 400), which mockrig sends
    /// instead of its own, naming the violations in `X-Mockrig-Violations`.
    status: u16,
    /// The wrong value sent, which the violation's `actual` must show; `None` when missing.
    actual: Option<Value>,
}

/// The status a refused invalid request gets: the operation's own 422 or 400 when it
/// declares one (the document's contract), else mockrig's 422.
fn refusal_status(op: &Op) -> u16 {
    let d = op.declared();
    if d.iter()
        .any(|k| k == "422" || k.eq_ignore_ascii_case("4XX"))
    {
        422
    } else if d.iter().any(|k| k == "400") {
        400
    } else {
        422
    }
}

/// Broken copies of the operation's valid request, one defect each: a path parameter of the
/// wrong type or pattern, a required query parameter missing, an integer query parameter
/// that is not one, a required body field missing or of the wrong type.
fn breakages(doc: &mut Doc, i: usize, req: &Req) -> Vec<Broken> {
    let mut out = Vec::new();
    let status = refusal_status(&doc.ops[i]);
    let label = doc.ops[i].label();
    let params = doc.ops[i].params.clone();
    for p in &params {
        let (name, location) = (p.name().to_owned(), p.location().to_owned());
        let Some(schema) = p.value.get("schema") else {
            continue;
        };
        let b = bundle(&mut doc.files, &p.file, schema, doc.v30, Direction::Request);
        let Ok(check) = Checker::new(&b) else {
            continue;
        };
        let (_, s) = doc.files.deref(&p.file, schema);
        let ty = s["type"].as_str().unwrap_or("");
        match location.as_str() {
            // "abc" where an integer or a patterned string belongs.
            "path"
                if !check.valid(&json!("abc"))
                    && (ty == "integer" || s.get("pattern").is_some()) =>
            {
                let mut r = req.clone();
                r.path_values.insert(name.clone(), "abc".into());
                out.push(Broken {
                    kind: "path wrong",
                    what: format!("{label}: path {name} = abc ({ty})"),
                    req: r,
                    location: format!("path/{name}"),
                    status,
                    actual: Some(json!("abc")),
                });
            }
            "query" if p.required() => {
                let mut r = req.clone();
                r.query.retain(|(k, _)| *k != name);
                out.push(Broken {
                    kind: "query missing",
                    what: format!("{label}: required query {name} missing"),
                    req: r,
                    location: format!("query/{name}"),
                    status,
                    actual: None,
                });
            }
            "query" if ty == "integer" => {
                let mut r = req.clone();
                r.query.push((name.clone(), "abc".into()));
                out.push(Broken {
                    kind: "query wrong",
                    what: format!("{label}: query {name}=abc (integer)"),
                    req: r,
                    location: format!("query/{name}"),
                    status,
                    actual: Some(json!("abc")),
                });
            }
            _ => {}
        }
    }
    // A required field of a body whose schema requires it at the top (not through allOf or
    // oneOf, where which field is missing depends on the branch).
    let op = &doc.ops[i];
    if let (Some((media, Value::Object(body))), Some(rb)) = (&req.body, op.op.get("requestBody")) {
        let (rb_file, rb) = doc.files.deref(&op.file, rb);
        let (sfile, schema) = doc.files.deref(&rb_file, &rb["content"][media]["schema"]);
        let plain = ["allOf", "oneOf", "anyOf"]
            .iter()
            .all(|k| schema.get(*k).is_none());
        let field = schema["required"].as_array().and_then(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .find(|f| body.contains_key(*f))
        });
        if let (true, Some(field)) = (plain, field) {
            let mut missing = body.clone();
            missing.remove(field);
            // An empty body is no body, which an optional one may be (Twilio's): keep the body
            // by giving it an optional field of its own, with a value checked valid.
            let (props_file, props) = doc.files.deref(&sfile, &schema["properties"]);
            if missing.is_empty() && rb["required"] != json!(true) {
                for (name, prop) in props.as_object().into_iter().flatten() {
                    if body.contains_key(name) {
                        continue;
                    }
                    let (v, ok) = valid_value(&mut doc.files, &props_file, prop, doc.v30, &[]);
                    if ok && text_of(&v).is_some() {
                        missing.insert(name.clone(), v);
                        break;
                    }
                }
            }
            if missing.is_empty() && rb["required"] != json!(true) {
                return out;
            }
            let mut r = req.clone();
            r.body = Some((media.clone(), Value::Object(missing)));
            out.push(Broken {
                kind: "body missing",
                what: format!("{label}: body ({media}) without required {field}"),
                req: r,
                location: format!("body/{field}"),
                status,
                actual: None,
            });
            // A number where a string belongs: JSON only (a form carries text either way).
            let (_, fs) = doc.files.deref(&props_file, &props[field]);
            if media.contains("json") && fs["type"] == "string" {
                let mut wrong = body.clone();
                wrong.insert(field.to_owned(), json!(5));
                let mut r = req.clone();
                r.body = Some((media.clone(), Value::Object(wrong)));
                out.push(Broken {
                    kind: "body wrong",
                    what: format!("{label}: body ({media}) {field} = 5 (string)"),
                    req: r,
                    location: format!("body/{field}"),
                    status,
                    actual: Some(json!(5)),
                });
            }
        }
    }
    out
}

/// Whether the refusal is the one expected: the status, and `location` among the
/// violations; mockrig's own refusal is a problem document with each violation's fields.
fn judge_refusal(b: &Broken, a: &Answer) -> Result<(), String> {
    if a.status != b.status {
        return Err(format!(
            "{} instead of {}: {}",
            a.status,
            b.status,
            a.excerpt()
        ));
    }
    let locations = a.violation_locations();
    if !locations.contains(&b.location) {
        return Err(format!(
            "no violation at {} (found {locations:?}): {}",
            b.location,
            a.excerpt()
        ));
    }
    if !a.headers.contains_key("x-mockrig-violations") {
        if a.content_type() != "application/problem+json" {
            return Err(format!("Content-Type {}", a.content_type()));
        }
        let body: Value = serde_json::from_slice(&a.body).unwrap_or_default();
        let v = body["violations"]
            .as_array()
            .and_then(|vs| vs.iter().find(|v| v["location"] == json!(b.location)))
            .cloned()
            .unwrap_or_default();
        // What was expected is said of a wrong value, and what came; of a missing one, the
        // message says it.
        let wrong = b.actual.is_some();
        if !body["error"].is_string()
            || !v["message"].is_string()
            || (wrong && v.get("expected").is_none())
            || (wrong && v.get("actual") != b.actual.as_ref())
        {
            return Err(format!(
                "a violation without error, message, expected or actual ({:?}): {}",
                b.actual,
                a.excerpt()
            ));
        }
    }
    Ok(())
}

/// Requests broken in one known place are refused with the status the contract gives and a
/// violation at that place: petstore-expanded's `POST /pets` by hand, then every kind of
/// defect over Twilio and DigitalOcean, each starting from a request the test vouches for
/// (so the defect is the only one). Also the other refusals: 415, 400 and 401.
#[tokio::test]
async fn invalid_requests_get_422_at_the_right_location() {
    let Some(dir) = fixtures() else { return };
    let _cores = CORES.read().await;
    let mut failures = Vec::new();

    let pets = normalise(&dir.join(PETSTORE_EXPANDED));
    let m = serve(&pets, true).unwrap_or_else(|e| panic!("{PETSTORE_EXPANDED}: {e}"));
    let post = |kind, body: Value, actual| Broken {
        kind,
        what: format!("POST /pets {body}"),
        req: Req {
            method: "post".into(),
            template: "/pets".into(),
            path_values: BTreeMap::new(),
            query: Vec::new(),
            headers: Vec::new(),
            body: Some(("application/json".into(), body)),
            unsure: Vec::new(),
        },
        location: "body/name".into(),
        status: 422,
        actual,
    };
    for b in [
        post("body missing", json!({ "tag": "dog" }), None),
        post(
            "body wrong",
            json!({ "name": 5, "tag": "dog" }),
            Some(json!(5)),
        ),
    ] {
        let a = send(&m, &b.req, None).await;
        if let Err(why) = judge_refusal(&b, &a) {
            failures.push(format!("{PETSTORE_EXPANDED} {}: {why}", b.what));
        }
    }
    // The body's own media type, undeclared: 415; JSON that does not parse: 400.
    for (content_type, body, status) in [
        ("text/plain", "name=rex", 415),
        ("application/json", "{\"name\": ", 400),
    ] {
        let r = m
            .client
            .post(m.at("/pets"))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        if r.status() != status {
            failures.push(format!(
                "{PETSTORE_EXPANDED} POST /pets ({content_type}) {body}: {} instead of {status}: {}",
                r.status(),
                r.text().await.unwrap()
            ));
        }
    }
    drop(m);

    // Twilio and DigitalOcean: up to `PER_KIND` defects of each kind per document, spread
    // over the document (every operation's defects are computed, the kinds sampled evenly).
    const PER_KIND: usize = 8;
    let mut checked = 0;
    for name in [TWILIO, DIGITALOCEAN] {
        let mut doc = read_doc(&dir, name);
        let m = match serve(&doc.top, true) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let mut by_kind: BTreeMap<&str, Vec<Broken>> = BTreeMap::new();
        let mut first_vouched = None;
        for i in 0..doc.ops.len() {
            let req = build(&mut doc, i);
            if !req.unsure.is_empty() {
                continue;
            }
            first_vouched.get_or_insert((i, req.clone()));
            for b in breakages(&mut doc, i, &req) {
                by_kind.entry(b.kind).or_default().push(b);
            }
        }
        for (kind, list) in &by_kind {
            let step = list.len().div_ceil(PER_KIND).max(1);
            let sample: Vec<&Broken> = list.iter().step_by(step).collect();
            println!(
                "{name}: {kind}: {} candidates, {} sent",
                list.len(),
                sample.len()
            );
            for b in sample {
                checked += 1;
                let a = send(&m, &b.req, None).await;
                if let Err(why) = judge_refusal(b, &a) {
                    failures.push(format!("{name} {}: {why}", b.what));
                }
            }
        }
        // Without its credentials, a valid request is refused with 401.
        if let Some((i, mut req)) = first_vouched
            && !doc.ops[i].security.is_empty()
        {
            req.headers
                .retain(|(k, _)| !k.eq_ignore_ascii_case("authorization"));
            let a = send(&m, &req, None).await;
            if a.status != 401 {
                failures.push(format!(
                    "{name} {} without credentials: {} instead of 401: {}",
                    doc.ops[i].label(),
                    a.status,
                    a.excerpt()
                ));
            }
        }
    }
    assert!(
        checked >= 20,
        "only {checked} broken requests could be made from the documents"
    );
    println!("{checked} broken requests sent to Twilio and DigitalOcean");
    report("invalid requests not refused as expected", &failures);
}
