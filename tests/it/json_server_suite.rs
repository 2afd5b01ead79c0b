//! json-server 0.17.4's own server tests, replayed against mockrig: every HTTP case those tests
//! take (60), each from a fresh mock serving the test's database, compared by the test's own
//! assertions (status, headers, body, and what a read-back finds after a write).
//!
//! The data lives outside the repository (`../shared/fixtures/json-server-0.17/cases.json`,
//! json-server's tests written down as data, MIT); a clone without it skips the test with a
//! message. The differences mockrig keeps on purpose are [`Kept`], each listed in README
//! ("Coming from json-server").

use serde_json::{Map, Value, json};

use crate::common::{self, Mock};

const SUITE: &str = "../shared/fixtures/json-server-0.17/cases.json";

/// What mockrig answers differently from json-server on purpose; README lists each.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kept {
    /// A 404 says what was not found (`{"error": …}`) instead of json-server's `{}`.
    ExplainedNotFound,
    /// DELETE answers 204 with no body instead of `200 {}`.
    NoContentOnDelete,
    /// A nested POST stores the parent's id as the parent has it (`postId: 1`), not as the URL
    /// text (`"1"`).
    ParentIdAsStored,
    /// Seed records without an id get one (so each can be read, replaced and deleted).
    SeedRecordsGetIds,
}

fn kept(case: &str) -> Option<Kept> {
    Some(match case {
        "plural-get-by-id-404" | "plural-put-404" | "plural-patch-404" | "plural-delete-404" => {
            Kept::ExplainedNotFound
        }
        "plural-delete" => Kept::NoContentOnDelete,
        "plural-nested-post" => Kept::ParentIdAsStored,
        "plural-filter-deep" | "plural-q-deep" | "plural-sort-nested-field" => {
            Kept::SeedRecordsGetIds
        }
        _ => return None,
    })
}

/// The spec a json-server user writes for `db` served with `--id ID`: each array a resource
/// with that id field.
fn spec_for(db: &Map<String, Value>, id_field: &str) -> String {
    let resources: Map<String, Value> = db
        .iter()
        .map(|(name, data)| (name.clone(), json!({"id": id_field, "seed": data})))
        .collect();
    // JSON is YAML.
    json!({"server": {"cors": true}, "resources": resources}).to_string()
}

/// The bodies to compare under a kept difference: what mockrig sent and what json-server's
/// test wants, each brought to what mockrig promises instead.
fn adjust(kept: Option<Kept>, mut got: Value, mut want: Value) -> (Value, Value) {
    match kept {
        Some(Kept::ParentIdAsStored) => want["postId"] = json!(1),
        Some(Kept::SeedRecordsGetIds) => {
            // Every record got an id; without them the records are json-server's.
            for item in got.as_array_mut().unwrap() {
                assert!(item["id"].is_u64(), "a generated id: {item}");
                item.as_object_mut().unwrap().remove("id");
            }
        }
        _ => {}
    }
    (got, want)
}

#[tokio::test]
async fn json_server_own_tests_pass() {
    let path = common::repo_path(SUITE);
    if !path.exists() {
        println!(
            "json-server suite skipped: {} is absent (it lives next to the repository in the \
             development workspace, not in a clone)",
            path.display()
        );
        return;
    }
    let suite: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let cases: Vec<&Value> = suite["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["skip"].is_null())
        .collect();
    assert_eq!(cases.len(), 60, "the suite takes 60 cases");
    let mut failures = Vec::new();
    for case in &cases {
        if let Err(why) = run(&suite, case).await {
            failures.push(format!("{}: {why}", case["id"].as_str().unwrap()));
        }
    }
    println!(
        "json-server 0.17.4's tests: {} of {} pass ({} by a kept difference)",
        cases.len() - failures.len(),
        cases.len(),
        cases
            .iter()
            .filter(|c| kept(c["id"].as_str().unwrap()).is_some())
            .count()
    );
    assert!(
        failures.is_empty(),
        "failing cases:\n{}",
        failures.join("\n")
    );
}

async fn run(suite: &Value, case: &Value) -> Result<(), String> {
    let id = case["id"].as_str().unwrap();
    let kept = kept(id);
    let fixture = &suite["fixtures"][case["fixture"].as_str().unwrap()];
    let mut db = fixture["db"].as_object().unwrap().clone();
    if let Some(append) = case["setup"]["append"].as_object() {
        for (name, records) in append {
            let list = db[name].as_array_mut().unwrap();
            list.extend(records.as_array().unwrap().iter().cloned());
        }
    }
    // As a json-server user starts: `mockrig serve db.json`; a custom id field (json-server's
    // `--id _id`) takes a spec.
    let (m, _dir) = match fixture["options"]["id"].as_str() {
        Some(id_field) => (Mock::start(&spec_for(&db, id_field), &[]), None),
        None => {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("db.json");
            std::fs::write(&file, Value::Object(db).to_string()).unwrap();
            let server = common::serve(&file).map_err(|e| e.to_string())?;
            (Mock::attach(server), Some(dir))
        }
    };

    let req = &case["request"];
    let method = reqwest::Method::from_bytes(req["method"].as_str().unwrap().as_bytes()).unwrap();
    let mut r = m
        .client
        .request(method.clone(), m.at(req["path"].as_str().unwrap()));
    for (name, value) in req["headers"].as_object().into_iter().flatten() {
        r = r.header(name.as_str(), value.as_str().unwrap());
    }
    if let Some(body) = req.get("json").filter(|b| !b.is_null()) {
        r = r.json(body);
    } else if let Some(form) = req["form"].as_str() {
        r = r
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned());
    }
    let res = r.send().await.map_err(|e| e.to_string())?;

    let expect = &case["expect"];
    let status = res.status().as_u16();
    let want_status = match kept {
        Some(Kept::NoContentOnDelete) => 204,
        _ => expect["status"].as_u64().unwrap() as u16,
    };
    if status != want_status {
        let text = res.text().await.unwrap_or_default();
        return Err(format!("status {status}, want {want_status}: {text}"));
    }
    for check in expect["headers"].as_array().into_iter().flatten() {
        let name = check["name"].as_str().unwrap();
        if kept == Some(Kept::NoContentOnDelete) && name.eq_ignore_ascii_case("content-type") {
            continue;
        }
        let got = res
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .ok_or_else(|| format!("no {name} header"))?;
        if let Some(want) = check["equals"].as_str()
            && got != want
        {
            return Err(format!("{name}: {got:?}, want {want:?}"));
        }
        if let Some(re) = check["regex"].as_str()
            && !regex::Regex::new(re).unwrap().is_match(&got)
        {
            return Err(format!("{name}: {got:?} does not match /{re}/"));
        }
    }
    let text = res.text().await.map_err(|e| e.to_string())?;
    if let Some(want) = expect.get("body") {
        match kept {
            Some(Kept::ExplainedNotFound) => {
                let got: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
                if !got["error"].is_string() {
                    return Err(format!("a 404 that does not explain itself: {text}"));
                }
            }
            Some(Kept::NoContentOnDelete) => {
                if !text.is_empty() {
                    return Err(format!("a 204 with a body: {text}"));
                }
            }
            _ => {
                let got: Value =
                    serde_json::from_str(&text).map_err(|e| format!("not JSON ({e}): {text}"))?;
                let (got, want) = adjust(kept, got, want.clone());
                if got != want {
                    return Err(format!("body {got}, want {want}"));
                }
            }
        }
    }

    for after in case["after"].as_array().into_iter().flatten() {
        if !after["skip"].is_null() {
            continue;
        }
        let got = common::json_of(m.get(after["request"]["path"].as_str().unwrap()).await).await;
        if let Some(n) = after["expect_length"].as_u64()
            && got.as_array().map(Vec::len) != Some(n as usize)
        {
            return Err(format!("after ({}): {got}", after["what"]));
        }
        if let Some(item) = after.get("expect_item") {
            let i = item["index"].as_u64().unwrap() as usize;
            if got[i] != item["equals"] {
                return Err(format!("after ({}): {}", after["what"], got[i]));
            }
        }
        if let Some(want) = after.get("expect_body")
            && &got != want
        {
            return Err(format!("after ({}): {got}", after["what"]));
        }
    }
    Ok(())
}
