//! Stateful resources over real sockets: CRUD, list queries, nesting, overrides, bad input,
//! concurrency, reset and reload.

use crate::common;

use std::collections::HashSet;

use std::time::Duration;

use crate::common::{Mock, json_of};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SPEC: &str = r#"
resources:
  users:
    seed:
      - { id: 1, name: Ada, role: admin, age: 36, address: { city: London } }
      - { id: 2, name: Linus, role: user, age: 28, address: { city: Helsinki } }
      - { id: 3, name: Grace, role: admin, age: 45, address: { city: New York } }
      - { id: 4, name: Alan, role: user, age: 41, address: { city: London } }
  posts:
    seed_file: data/posts.json
  tags:
    id: slug
    seed:
      - { slug: rust, label: Rust }
  profile:
    singleton: true
    seed: { theme: dark, lang: en }
"#;

const POSTS: &[u8] = br#"[
  {"id": 1, "title": "Hello", "userId": 1},
  {"id": 2, "title": "Notes on engines", "userId": 1},
  {"id": 3, "title": "Kernels", "userId": 2}
]"#;

fn mock() -> Mock {
    Mock::start(SPEC, &[("data/posts.json", POSTS)])
}

fn ids(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn crud_cycle() {
    let m = mock();
    assert_eq!(ids(&json_of(m.get("/users").await).await), [1, 2, 3, 4]);
    assert_eq!(json_of(m.get("/users/2").await).await["name"], "Linus");

    let r = m.post_json("/users", &json!({"name": "Barbara"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["location"], "/users/5");
    let created = json_of(r).await;
    assert_eq!(
        created,
        json!({"id": 5, "name": "Barbara"}),
        "next integer after the largest"
    );
    assert_eq!(json_of(m.get("/users/5").await).await["name"], "Barbara");

    let r = m
        .post_json("/users", &json!({"id": 2, "name": "dup"}))
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = m
        .post_json("/users", &json!({"id": 10, "name": "Ten"}))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = m.post_json("/users", &json!({"name": "Eleven"})).await;
    assert_eq!(json_of(r).await["id"], 11);

    let r = m
        .client
        .put(m.at("/users/2"))
        .json(&json!({"id": 99, "name": "L."}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        json_of(r).await,
        json!({"id": 2, "name": "L."}),
        "PUT replaces; the id stays"
    );
    let r = m
        .client
        .put(m.at("/users/404"))
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let r = m
        .client
        .patch(m.at("/users/1"))
        .json(&json!({"age": 37, "role": null, "address": {"zip": "NW1"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(r).await,
        json!({"id": 1, "name": "Ada", "age": 37, "address": {"city": "London", "zip": "NW1"}}),
        "merge patch: null removes, objects merge"
    );

    let r = m.client.delete(m.at("/users/3")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(m.get("/users/3").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        m.client
            .delete(m.at("/users/3"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn string_ids_custom_id_field_and_singletons() {
    let m = mock();
    assert_eq!(json_of(m.get("/tags/rust").await).await["label"], "Rust");
    let r = m.post_json("/tags", &json!({"label": "Go"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let slug = json_of(r).await["slug"].as_str().unwrap().to_owned();
    assert_eq!(
        uuid_version(&slug),
        Some(4),
        "string ids get a UUID v4: {slug}"
    );
    assert_eq!(
        json_of(m.get(&format!("/tags/{slug}")).await).await["label"],
        "Go"
    );

    assert_eq!(
        json_of(m.get("/profile").await).await,
        json!({"theme": "dark", "lang": "en"})
    );
    let r = m
        .client
        .patch(m.at("/profile"))
        .json(&json!({"theme": "light"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(r).await, json!({"theme": "light", "lang": "en"}));
    let r = m
        .client
        .put(m.at("/profile"))
        .json(&json!({"theme": "blue"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(r).await, json!({"theme": "blue"}));
    assert_eq!(
        json_of(m.get("/profile").await).await,
        json!({"theme": "blue"})
    );
    assert_eq!(
        m.client
            .delete(m.at("/profile"))
            .send()
            .await
            .unwrap()
            .status(),
        405
    );
}

fn uuid_version(s: &str) -> Option<u32> {
    let parts: Vec<&str> = s.split('-').collect();
    (parts.len() == 5 && s.len() == 36).then(|| parts[2].chars().next()?.to_digit(16))?
}

#[tokio::test]
async fn list_queries() {
    let m = mock();
    let m = &m;
    let get = |q: &str| {
        let url = format!("/users?{q}");
        async move { ids(&json_of(m.get(&url).await).await) }
    };
    assert_eq!(get("role=admin").await, [1, 3]);
    assert_eq!(get("id=1&id=4").await, [1, 4]);
    assert_eq!(get("address.city=London").await, [1, 4]);
    assert_eq!(get("age_gte=30&age_lte=41").await, [1, 4]);
    assert_eq!(get("role_ne=admin").await, [2, 4]);
    assert_eq!(get("name_like=^a").await, [1, 4]);
    assert_eq!(get("q=york").await, [3]);
    assert_eq!(get("_sort=age").await, [2, 1, 4, 3]);
    assert_eq!(get("_sort=-age").await, [3, 4, 1, 2]);
    assert_eq!(get("_sort=role,-age").await, [3, 1, 4, 2]);
    assert_eq!(get("_start=1&_end=3").await, [2, 3]);

    let r = m.get("/users?_page=2&_limit=1&role=user").await;
    assert_eq!(r.headers()["x-total-count"], "2");
    let link = r.headers()["link"].to_str().unwrap().to_owned();
    for (rel, page) in [("first", 1), ("prev", 1), ("last", 2)] {
        assert!(
            link.contains(&format!("role=user&_page={page}&_limit=1>; rel=\"{rel}\"")),
            "{rel} in {link}"
        );
    }
    assert!(
        !link.contains("rel=\"next\""),
        "page 2 of 2 has no next: {link}"
    );
    assert_eq!(ids(&json_of(r).await), [4]);

    let r = m.get("/users?name_like=(").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        json_of(r).await["error"]
            .as_str()
            .unwrap()
            .contains("regular expression")
    );
}

#[tokio::test]
async fn nested_children() {
    let m = mock();
    assert_eq!(ids(&json_of(m.get("/users/1/posts").await).await), [1, 2]);
    assert_eq!(
        ids(&json_of(m.get("/users/1/posts?q=engines").await).await),
        [2]
    );
    let r = m
        .post_json("/users/2/posts", &json!({"title": "New"}))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["location"], "/posts/4");
    assert_eq!(
        json_of(r).await,
        json!({"id": 4, "title": "New", "userId": 2})
    );
    assert_eq!(ids(&json_of(m.get("/users/2/posts").await).await), [3, 4]);
    assert_eq!(
        m.get("/users/99/posts").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn explicit_routes_override_one_endpoint() {
    let m = Mock::start(
        &format!(
            "{SPEC}routes:\n  - {{ method: DELETE, path: \"/users/{{id}}\", response: {{ status: 403, body: {{ error: forbidden }} }} }}\n"
        ),
        &[("data/posts.json", POSTS)],
    );
    let r = m.client.delete(m.at("/users/1")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        m.get("/users/1").await.status(),
        StatusCode::OK,
        "the record is still there"
    );
    let r = m
        .client
        .patch(m.at("/users/1"))
        .json(&json!({"age": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the other endpoints stay CRUD");
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let m = mock();
    let before = json_of(m.get("/__mockrig/state").await).await;
    let post = |body: &'static str, ct: &'static str| {
        m.client
            .post(m.at("/users"))
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let r = post("{not json", "application/json").await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        json_of(r).await["error"],
        "the request body is not valid JSON"
    );
    let r = post("[1, 2]", "application/json").await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        json_of(r).await["error"]
            .as_str()
            .unwrap()
            .contains("must be a JSON object")
    );
    let r = post("", "application/json").await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = post("<user/>", "application/xml").await.unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(r.headers()["content-type"], "application/json");
    let r = m
        .client
        .patch(m.at("/users/1"))
        .header("content-type", "application/json")
        .body("7")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let r = m
        .client
        .post(m.at("/users"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    // (The 413 comes as soon as the head declares too much; the connection lingers so the
    // client still sending reads it.)
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        json_of(m.get("/__mockrig/state").await).await,
        before,
        "nothing changed"
    );

    // curl -d sends JSON labelled as a form; a real form works too.
    let r = post(r#"{"name":"Curl"}"#, "application/x-www-form-urlencoded")
        .await
        .unwrap();
    assert_eq!(json_of(r).await["name"], "Curl");
    let r = post("name=Form&role=user", "application/x-www-form-urlencoded")
        .await
        .unwrap();
    assert_eq!(json_of(r).await["role"], "user");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_posts_create_distinct_records() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("api.yaml");
    std::fs::write(&spec, "resources:\n  items: {}\n").unwrap();
    let mut config = mockrig::ServeConfig::new(&spec);
    config.workers = Some(2);
    let server = mockrig::MockServer::with_config(config).unwrap();
    let client = common::client();
    let url = format!("{}/items", server.url());
    let tasks: Vec<_> = (0..50)
        .map(|t| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..40 {
                    let r = client
                        .post(&url)
                        .json(&json!({"task": t, "i": i}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), StatusCode::CREATED);
                    ids.push(r.json::<Value>().await.unwrap()["id"].as_u64().unwrap());
                }
                ids
            })
        })
        .collect();
    let mut all = HashSet::new();
    for t in tasks {
        for id in t.await.unwrap() {
            assert!(all.insert(id), "id {id} was given twice");
        }
    }
    assert_eq!(all.len(), 2000);
    let list: Value = client.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2000);
}

#[tokio::test]
async fn reset_and_state() {
    let m = mock();
    m.post_json("/users", &json!({"name": "New"})).await;
    m.client.delete(m.at("/posts/1")).send().await.unwrap();
    let state = json_of(m.get("/__mockrig/state").await).await;
    assert_eq!(state["users"].as_array().unwrap().len(), 5);
    assert_eq!(state["profile"], json!({"theme": "dark", "lang": "en"}));

    let r = m
        .client
        .post(m.at("/__mockrig/reset?resource=users"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let state = json_of(m.get("/__mockrig/state").await).await;
    assert_eq!(
        state["users"].as_array().unwrap().len(),
        4,
        "users back to the seed"
    );
    assert_eq!(
        state["posts"].as_array().unwrap().len(),
        2,
        "posts untouched"
    );
    let r = m
        .client
        .post(m.at("/__mockrig/reset?resource=nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    m.client
        .post(m.at("/__mockrig/reset"))
        .send()
        .await
        .unwrap();
    let state = json_of(m.get("/__mockrig/state").await).await;
    assert_eq!(state["posts"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn reload_keeps_unchanged_resources_and_reseeds_changed_ones() {
    let m = mock();
    m.post_json("/users", &json!({"name": "Kept"})).await;
    m.post_json("/posts", &json!({"title": "Lost"})).await;
    let changed = SPEC.replace("{ slug: rust, label: Rust }", "{ slug: go, label: Go }");
    std::fs::write(
        m.dir.path().join("api.yaml"),
        format!("{changed}routes:\n  - {{ path: /new }}\n"),
    )
    .unwrap();
    common::eventually("the reload comes", Duration::from_secs(2), || async {
        (m.get("/new").await.status() == StatusCode::OK).then_some(())
    })
    .await;
    let state = json_of(m.get("/__mockrig/state").await).await;
    assert_eq!(
        state["users"].as_array().unwrap().len(),
        5,
        "users unchanged: data kept"
    );
    assert_eq!(
        state["posts"].as_array().unwrap().len(),
        4,
        "posts unchanged: data kept"
    );
    assert_eq!(
        state["tags"],
        json!([{"slug": "go", "label": "Go"}]),
        "tags changed: re-seeded"
    );
}

#[tokio::test]
async fn a_changed_seed_file_reseeds_what_is_served() {
    let m = mock();
    m.client.delete(m.at("/posts/1")).send().await.unwrap();
    m.post_json("/users", &json!({"name": "Kept"})).await;
    std::fs::write(
        m.dir.path().join("data/posts.json"),
        r#"[{"id": 9, "title": "New seed"}]"#,
    )
    .unwrap();
    common::eventually("the new seed is served", Duration::from_secs(2), || async {
        let posts = json_of(m.get("/posts").await).await;
        (posts == json!([{"id": 9, "title": "New seed"}])).then_some(())
    })
    .await;
    assert_eq!(
        json_of(m.get("/users").await)
            .await
            .as_array()
            .unwrap()
            .len(),
        5,
        "users kept"
    );
}

#[tokio::test]
async fn a_write_in_flight_across_a_reseed_is_refused() {
    let m = Mock::start(
        "server: { delay: 400ms }\nresources:\n  users:\n    seed: [{ id: 1 }]\n",
        &[],
    );
    let post = m
        .client
        .post(m.at("/users"))
        .json(&json!({"name": "late"}))
        .send();
    let reseed = async {
        // The POST is now waiting out its delay with the old spec; change the seed under it.
        // (Nothing signals that a request is inside its delay: 50 ms of a 400 ms delay is the
        // margin.)
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        std::fs::write(
            m.dir.path().join("api.yaml"),
            "resources:\n  users:\n    seed: [{ id: 2 }]\n",
        )
        .unwrap();
    };
    let (r, ()) = tokio::join!(post, reseed);
    let r = r.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "not silently written into retired data"
    );
    assert_eq!(json_of(m.get("/users").await).await, json!([{"id": 2}]));
}

#[test]
fn seed_errors_are_located() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.json"), "{\"not\": \"a list\"}").unwrap();
    let spec = dir.path().join("api.yaml");
    std::fs::write(
        &spec,
        "resources:\n  users:\n    seed: [{ id: 1 }, { id: 1 }]\n  posts:\n    seed_file: bad.json\n  \"bad name\": {}\n  a: { path: /x }\n  b: { path: /x/ }\n",
    )
    .unwrap();
    let err = mockrig::check_file(&spec).unwrap_err().to_string();
    for want in [
        "api.yaml:3:11: resources.users.seed: seed item 1: id 1 appears twice",
        "api.yaml:5:16: resources.posts.seed_file: a seed is a list of objects, found an object",
        "api.yaml:6:3: resources.bad name: 'bad name' is not a resource name",
        "api.yaml:8:14: resources.b.path: '/x' is already the path of resource 'a'",
    ] {
        assert!(err.contains(want), "missing `{want}` in:\n{err}");
    }
}

#[tokio::test]
async fn state_snapshots_can_be_restored() {
    let m = mock();
    let saved = json_of(m.get("/__mockrig/state").await).await;
    m.post_json("/users", &json!({"name": "Temp"})).await;
    m.client.delete(m.at("/posts/1")).send().await.unwrap();
    let r = m
        .client
        .put(m.at("/__mockrig/state"))
        .json(&saved)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_of(m.get("/__mockrig/state").await).await, saved);
    // Ids continue after the largest imported one.
    let created = json_of(m.post_json("/users", &json!({"name": "Next"})).await).await;
    assert_eq!(created["id"], 5);

    let before = json_of(m.get("/__mockrig/state").await).await;
    for bad in [
        json!({"nope": []}),
        json!({"users": {"not": "a list"}}),
        json!({"profile": [1]}),
        json!({"users": [{"id": 1}, {"id": 1}]}),
        json!({"users": [], "posts": [7]}),
        json!([1]),
    ] {
        let r = m
            .client
            .put(m.at("/__mockrig/state"))
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(
        json_of(m.get("/__mockrig/state").await).await,
        before,
        "nothing imported"
    );
}

/// Generated integer ids stop at the largest integer with a clear answer, instead of wrapping
/// to 0 and overwriting a record.
#[tokio::test]
async fn generated_ids_do_not_wrap_past_the_largest_integer() {
    let m = Mock::start(
        "resources:\n  users: { seed: [ { id: 1, name: Ada } ] }\n",
        &[],
    );
    let r = m
        .post_json(
            "/users",
            &json!({"id": 18446744073709551615u64, "name": "last"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = m.post_json("/users", &json!({"name": "one more"})).await;
    assert_eq!(r.status(), StatusCode::INSUFFICIENT_STORAGE);
    let v = crate::common::json_of(r).await;
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("send the id yourself"),
        "{v}"
    );
    let all = crate::common::json_of(m.get("/users").await).await;
    assert_eq!(
        all.as_array().unwrap().len(),
        2,
        "nothing overwritten: {all}"
    );
    assert_eq!(all[0]["name"], "Ada");
}

/// A paginated list links to its pages at the request's own Host: a client's
/// `X-Forwarded-Host` is believed only with `--trust-forwarded`.
#[tokio::test]
async fn page_links_use_the_requests_own_host_unless_told_to_trust_proxies() {
    let spec = "resources:\n  users: { seed: [ { id: 1 }, { id: 2 }, { id: 3 } ] }\n";
    let link = |m: &Mock| {
        let c = m.client.clone();
        let url = m.at("/users?_page=1&_limit=1");
        async move {
            let r = c
                .get(url)
                .header("X-Forwarded-Host", "evil.example")
                .header("X-Forwarded-Proto", "https")
                .send()
                .await
                .unwrap();
            r.headers()["link"].to_str().unwrap().to_owned()
        }
    };
    let m = Mock::start(spec, &[]);
    let own = link(&m).await;
    let host = m.url.trim_start_matches("http://");
    assert!(own.starts_with(&format!("<http://{host}/users?")), "{own}");
    assert!(!own.contains("evil.example"), "{own}");
    let trusting = Mock::with(spec, &[], |c| c.trust_forwarded = true);
    let behind_proxy = link(&trusting).await;
    assert!(
        behind_proxy.starts_with("<https://evil.example/users?"),
        "{behind_proxy}"
    );
}

/// On a collection large enough to be indexed, equality filters answer exactly what a scan
/// answers: the index only narrows which records are tested. Each query is asked three times
/// (the second and third come from the index) and must answer the same; a write changes what
/// the next answers show at once.
#[tokio::test]
async fn filters_over_a_large_collection_answer_as_a_scan_and_follow_writes() {
    let users: Vec<Value> = (1..=5000)
        .map(|i| {
            json!({
                "id": i,
                "role": if i % 100 == 0 { "admin" } else { "user" },
                "age": if i == 7 { Value::Null } else { json!(20 + i % 50) },
                "tags": ["a", if i % 2 == 0 { "even" } else { "odd" }],
                "address": { "city": format!("city {}", i % 7) },
            })
        })
        .collect();
    let seed = serde_json::to_string(&users).unwrap();
    let m = Mock::start(
        "resources:\n  users:\n    seed_file: users.json\n",
        &[("users.json", seed.as_bytes())],
    );
    // What a scan answers: computed here from the seed, as json-server's rules have it.
    let expect = |keep: &dyn Fn(&Value) -> bool| -> Vec<i64> {
        users
            .iter()
            .filter(|u| keep(u))
            .map(|u| u["id"].as_i64().unwrap())
            .collect()
    };
    let cases: Vec<(&str, Vec<i64>)> = vec![
        ("role=admin", expect(&|u| u["role"] == "admin")),
        (
            "age=27&age=21",
            expect(&|u| u["age"] == 27 || u["age"] == 21),
        ),
        (
            "address.city=city 3&role=admin",
            expect(&|u| u["address"]["city"] == "city 3" && u["role"] == "admin"),
        ),
        (
            "tags.1=even&age_gte=60",
            expect(&|u| u["tags"][1] == "even" && u["age"].as_i64().is_some_and(|a| a >= 60)),
        ),
        ("role=nobody", vec![]),
        // A field no record has: the filter is dropped, as json-server does.
        ("colour=red&_limit=3", vec![1, 2, 3]),
    ];
    for (query, want) in &cases {
        for round in 0..3 {
            let r = m.get(&format!("/users?{query}")).await;
            let total = r.headers().get("x-total-count").cloned();
            let got = ids(&json_of(r).await);
            assert_eq!(&got, want, "{query}, round {round}");
            if !query.contains("_limit") {
                assert_eq!(total.unwrap(), want.len().to_string().as_str(), "{query}");
            }
        }
    }
    // A write: the indexes built for the old records answer nothing more.
    let r = m
        .client
        .patch(m.at("/users/5"))
        .json(&json!({"role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = m.client.delete(m.at("/users/100")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let mut want: Vec<i64> = cases[0].1.iter().copied().filter(|&i| i != 100).collect();
    want.insert(0, 5);
    for round in 0..3 {
        let got = ids(&json_of(m.get("/users?role=admin").await).await);
        assert_eq!(got, want, "after the writes, round {round}");
    }
}
