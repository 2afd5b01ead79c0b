//! json-server compatibility: the list-query examples of json-server's README, answered by
//! json-server 0.17.4 itself (recorded in tests/fixtures/json-server/cases.json by record.mjs
//! beside it), replayed against mockrig serving the same data.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};

use crate::common::Mock;
use serde_json::Value;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(common::repo_path(&format!(
        "tests/fixtures/json-server/{name}"
    )))
    .unwrap()
}

/// `<url>; rel="x", …` as rel → the set of query pairs of its URL (order and host aside).
fn links(header: &str) -> BTreeMap<String, BTreeSet<(String, String)>> {
    header
        .split(", <")
        .map(|part| {
            let (url, rel) = part.trim_start_matches('<').split_once(">; rel=").unwrap();
            let query = url.split_once('?').map_or("", |q| q.1);
            let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
            (
                rel.trim_matches('"').to_owned(),
                pairs.into_iter().collect(),
            )
        })
        .collect()
}

#[tokio::test]
async fn list_queries_answer_like_json_server() {
    let db: Value = serde_json::from_str(&fixture("db.json")).unwrap();
    // JSON is YAML, so the data goes into the spec as it is.
    let spec = format!(
        "resources:\n  posts:\n    seed: {}\n  comments:\n    seed: {}\n  profile:\n    singleton: true\n    seed: {}\n",
        db["posts"], db["comments"], db["profile"]
    );
    let m = Mock::start(&spec, &[]);
    let cases: Vec<Value> = serde_json::from_str(&fixture("cases.json")).unwrap();
    assert!(cases.len() >= 15);
    for case in cases {
        let path = case["path"].as_str().unwrap();
        let r = m.get(path).await;
        assert_eq!(r.status().as_u16() as u64, case["status"], "{path}");
        if let Some(total) = case["total_count"].as_str() {
            assert_eq!(r.headers()["x-total-count"], total, "{path}: X-Total-Count");
        }
        // json-server sends an empty Link past the last page; mockrig still links first/last.
        if let Some(want) = case["link"].as_str().filter(|l| !l.is_empty()) {
            let got = r.headers()["link"].to_str().unwrap();
            assert_eq!(links(got), links(want), "{path}: Link");
        }
        let body: Value = r.json().await.unwrap();
        assert_eq!(body, case["body"], "{path}: body");
    }
}
