//! `match:` operators over query, headers, cookies and body fields, a resource gated by a
//! `match:` with its `otherwise:`, and `check` on broken conditions.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{Mock, json_of};

const OPERATORS: &str = r#"
routes:
  - path: /present
    match: { query: { page: { present: true } } }
    response: { body: { hit: present } }
  - path: /absent
    match: { query: { draft: { present: false } } }
    response: { body: { hit: absent } }
  - path: /regex
    match: { headers: { authorization: { regex: "^Bearer .+" } } }
    response: { body: { hit: regex } }
  - path: /one-of
    match: { cookies: { plan: { one_of: [pro, team] } } }
    response: { body: { hit: one_of } }
  - path: /not
    match: { query: { status: { not: archived } } }
    response: { body: { hit: not } }
  - path: /range
    match: { query: { page: { gte: 1, lte: 10 } } }
    response: { body: { hit: range } }
  - path: /range
    response: { body: { hit: next } }
  - path: /compare
    match:
      headers: { x-count: { gt: 5 } }
      cookies: { age: { lt: 18 } }
    response: { body: { hit: compare } }
  - path: /exact
    match: { query: { page: 2, v: { equals: 3 } } }
    response: { body: { hit: exact } }
  - method: POST
    path: /body
    match:
      body:
        user: { role: { one_of: [admin, owner] }, age: { gt: 17 } }
        token: { regex: "^t-" }
        draft: { present: false }
        meta: { equals: { regex: x } }
        score: { lte: 100 }
        tier: { not: { one_of: [free] } }
    response: { body: { hit: body } }
"#;

/// Sends a GET with these headers and returns the status and JSON body.
async fn get(m: &Mock, path: &str, headers: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut req = m.client.get(m.at(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    (r.status(), json_of(r).await)
}

/// The first failed condition of the first near miss of a 404.
#[track_caller]
fn failed(status: StatusCode, body: &Value) -> &Value {
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    &body["near_misses"][0]["failed"][0]
}

#[tokio::test]
async fn every_operator_takes_a_request_that_meets_it_and_explains_one_that_does_not() {
    let m = Mock::start(OPERATORS, &[]);
    let hit = |b: &Value| b["hit"].as_str().unwrap_or_default().to_owned();

    // present
    let (s, b) = get(&m, "/present?page=", &[]).await;
    assert_eq!((s, hit(&b)), (StatusCode::OK, "present".into()));
    let (s, b) = get(&m, "/present", &[]).await;
    assert_eq!(
        failed(s, &b),
        &json!({"criterion": "query.page", "expected": {"present": true}, "actual": null})
    );
    // present: false
    let (s, b) = get(&m, "/absent?x=1", &[]).await;
    assert_eq!((s, hit(&b)), (StatusCode::OK, "absent".into()));
    let (s, b) = get(&m, "/absent?draft=1", &[]).await;
    assert_eq!(
        failed(s, &b),
        &json!({"criterion": "query.draft", "expected": {"present": false}, "actual": "1"})
    );
    // regex, searched in the header
    let (s, b) = get(&m, "/regex", &[("Authorization", "Bearer abc")]).await;
    assert_eq!((s, hit(&b)), (StatusCode::OK, "regex".into()));
    let (s, b) = get(&m, "/regex", &[("Authorization", "Basic abc")]).await;
    assert_eq!(
        failed(s, &b),
        &json!({"criterion": "headers.authorization", "expected": {"regex": "^Bearer .+"}, "actual": "Basic abc"})
    );
    let (s, b) = get(&m, "/regex", &[]).await;
    assert_eq!(failed(s, &b)["actual"], Value::Null, "no header: null");
    // one_of, on a cookie
    let (s, b) = get(&m, "/one-of", &[("Cookie", "a=1; plan=team")]).await;
    assert_eq!((s, hit(&b)), (StatusCode::OK, "one_of".into()));
    let (s, b) = get(&m, "/one-of", &[("Cookie", "plan=free")]).await;
    assert_eq!(
        failed(s, &b),
        &json!({"criterion": "cookies.plan", "expected": {"one_of": ["pro", "team"]}, "actual": "free"})
    );
    // not: absent meets it; a repeated key fails it when any value is the one excluded
    for ok in ["/not", "/not?status=open", "/not?status=open&status=closed"] {
        let (s, b) = get(&m, ok, &[]).await;
        assert_eq!((s, hit(&b)), (StatusCode::OK, "not".into()), "{ok}");
    }
    let (s, b) = get(&m, "/not?status=open&status=archived", &[]).await;
    assert_eq!(
        failed(s, &b),
        &json!({"criterion": "query.status", "expected": {"not": "archived"}, "actual": "open"})
    );
    // gte + lte: one value within both; otherwise the next route of the path answers
    let (s, b) = get(&m, "/range?page=10", &[]).await;
    assert_eq!((s, hit(&b)), (StatusCode::OK, "range".into()));
    for next in ["/range?page=11", "/range?page=0", "/range?page=x", "/range"] {
        let (s, b) = get(&m, next, &[]).await;
        assert_eq!((s, hit(&b)), (StatusCode::OK, "next".into()), "{next}");
    }
    // gt on a header, lt on a cookie, both numbers in text
    let (s, b) = get(&m, "/compare", &[("X-Count", "6"), ("Cookie", "age=17.5")]).await;
    assert_eq!((s, hit(&b)), (StatusCode::OK, "compare".into()));
    let (s, b) = get(&m, "/compare", &[("X-Count", "5"), ("Cookie", "age=17")]).await;
    assert_eq!(
        failed(s, &b),
        &json!({"criterion": "headers.x-count", "expected": {"gt": 5}, "actual": "5"})
    );
    let (s, b) = get(&m, "/compare", &[("X-Count", "9"), ("Cookie", "age=old")]).await;
    assert_eq!(
        failed(s, &b),
        &json!({"criterion": "cookies.age", "expected": {"lt": 18}, "actual": "old"})
    );
    // a YAML number as the exact value, and equals
    let (s, b) = get(&m, "/exact?page=2&v=3", &[]).await;
    assert_eq!((s, hit(&b)), (StatusCode::OK, "exact".into()));
    let (s, b) = get(&m, "/exact?page=2&v=4", &[]).await;
    assert_eq!(
        failed(s, &b),
        &json!({"criterion": "query.v", "expected": {"equals": "3"}, "actual": "4"})
    );
}

#[tokio::test]
async fn body_fields_take_operators_at_any_depth() {
    let m = &Mock::start(OPERATORS, &[]);
    let good = json!({
        "user": {"role": "owner", "age": 30, "name": "Ada"},
        "token": "t-1",
        "meta": {"regex": "x", "more": 1},
        "score": 100,
        "tier": "pro",
    });
    let post = |body: Value| async move {
        let r = m.post_json("/body", &body).await;
        (r.status(), json_of(r).await)
    };
    let (s, b) = post(good.clone()).await;
    assert_eq!(
        (s, b["hit"].clone()),
        (StatusCode::OK, json!("body")),
        "{b}"
    );
    let cases = [
        (
            "/user/role",
            json!("guest"),
            "body.user.role",
            json!({"one_of": ["admin", "owner"]}),
        ),
        ("/user/age", json!(17), "body.user.age", json!({"gt": 17})),
        (
            "/token",
            json!("x-1"),
            "body.token",
            json!({"regex": "^t-"}),
        ),
        ("/score", json!(100.5), "body.score", json!({"lte": 100})),
        (
            "/tier",
            json!("free"),
            "body.tier",
            json!({"not": {"one_of": ["free"]}}),
        ),
        (
            "/meta",
            json!({"regex": "y"}),
            "body.meta",
            json!({"equals": {"regex": "x"}}),
        ),
    ];
    for (pointer, bad, criterion, expected) in cases {
        let mut body = good.clone();
        *body.pointer_mut(pointer).unwrap() = bad.clone();
        let (s, b) = post(body).await;
        assert_eq!(
            failed(s, &b),
            &json!({"criterion": criterion, "expected": expected, "actual": bad}),
            "{pointer}"
        );
    }
    let mut drafted = good.clone();
    drafted["draft"] = json!(true);
    let (s, b) = post(drafted).await;
    assert_eq!(
        failed(s, &b),
        &json!({"criterion": "body.draft", "expected": {"present": false}, "actual": true})
    );
}

#[tokio::test]
async fn verify_takes_operators_too() {
    let m = &Mock::start(OPERATORS, &[]);
    get(m, "/present?page=4", &[]).await;
    let verify = |pattern: Value| async move {
        let r = m.post_json("/__mockrig/verify", &pattern).await;
        (r.status(), json_of(r).await)
    };
    let (s, _) =
        verify(json!({"path": "/present", "query": {"page": {"gte": 3}}, "count": 1})).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) =
        verify(json!({"path": "/present", "query": {"page": {"gt": 4}}, "count": 1})).await;
    assert_eq!(s, StatusCode::EXPECTATION_FAILED);
    assert_eq!(
        v["closest"][0]["failed"],
        json!([{"criterion": "query.page", "expected": {"gt": 4}, "actual": "4"}])
    );
    let (s, v) = verify(json!({"query": {"page": {"regex": "("}}})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v.to_string().contains("query.page.regex"), "{v}");
}

const GATED: &str = r#"
resources:
  users:
    match: { cookies: { session: { present: true } } }
    seed:
      - { id: 1, name: Ada }
  posts:
    seed:
      - { id: 1, title: Hello, userId: 1 }
  notes:
    match: { headers: { authorization: { regex: "^Bearer .+" } } }
    otherwise:
      status: 403
      headers: { x-why: gate }
      body: { message: "no token for {{ request.path }}" }
  profile:
    singleton: true
    match: { query: { key: { one_of: [k1, k2] } } }
    seed: { theme: dark }
"#;

#[tokio::test]
async fn a_gated_resource_answers_401_to_every_operation_without_the_cookie() {
    let m = Mock::start(GATED, &[]);
    let denied = json!({
        "error": "the request does not meet the conditions of this resource (its match:)",
        "resource": "users",
        "failed": [{"criterion": "cookies.session", "expected": {"present": true}, "actual": null}],
    });
    let (s, b) = get(&m, "/users", &[]).await;
    assert_eq!((s, &b), (StatusCode::UNAUTHORIZED, &denied), "list");
    let (s, b) = get(&m, "/users/1", &[]).await;
    assert_eq!((s, &b), (StatusCode::UNAUTHORIZED, &denied), "get");
    let r = m.post_json("/users", &json!({"name": "Eve"})).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "create");
    assert_eq!(json_of(r).await, denied);
    // The nested endpoint is the gated parent's path: gated too, and stores nothing.
    let (s, b) = get(&m, "/users/1/posts", &[]).await;
    assert_eq!((s, &b), (StatusCode::UNAUTHORIZED, &denied), "nested list");
    let r = m.post_json("/users/1/posts", &json!({"title": "x"})).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "nested create");
    let (_, posts) = get(&m, "/posts", &[]).await;
    assert_eq!(
        posts.as_array().unwrap().len(),
        1,
        "nothing stored: {posts}"
    );

    // With the cookie: plain CRUD, and the refused create stored nothing.
    let cookie = [("Cookie", "session=s-1")];
    let (s, list) = get(&m, "/users", &cookie).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        list,
        json!([{"id": 1, "name": "Ada"}]),
        "the refused create stored nothing"
    );
    let r = m
        .client
        .post(m.at("/users"))
        .header("Cookie", "session=s-1")
        .json(&json!({"name": "Eve"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = json_of(r).await["id"].clone();
    let (s, eve) = get(&m, &format!("/users/{id}"), &cookie).await;
    assert_eq!((s, eve["name"].clone()), (StatusCode::OK, json!("Eve")));
    let (s, nested) = get(&m, "/users/1/posts", &cookie).await;
    assert_eq!(
        (s, nested[0]["title"].clone()),
        (StatusCode::OK, json!("Hello"))
    );
    let r = m
        .client
        .delete(m.at(&format!("/users/{id}")))
        .header("Cookie", "session=s-1")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    // A resource without a gate is open.
    assert_eq!(get(&m, "/posts/1", &[]).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_custom_otherwise_and_a_gated_singleton() {
    let m = Mock::start(GATED, &[]);
    let r = m.client.get(m.at("/notes")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(r.headers()["x-why"], "gate");
    assert_eq!(json_of(r).await, json!({"message": "no token for /notes"}));
    let (s, b) = get(&m, "/notes", &[("Authorization", "Bearer t")]).await;
    assert_eq!((s, b), (StatusCode::OK, json!([])));

    let (s, b) = get(&m, "/profile?key=k3", &[]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(b["resource"], "profile");
    assert_eq!(b["failed"][0]["actual"], "k3");
    let r = m
        .client
        .patch(m.at("/profile?key=k2"))
        .json(&json!({"theme": "light"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_of(r).await["theme"], "light");
}

#[test]
fn check_reports_a_bad_regex_an_unknown_operator_and_otherwise_without_match_at_once() {
    let yaml = r#"resources:
  notes:
    otherwise: { status: 403 }
routes:
  - path: /a
    match:
      headers:
        authorization: { regex: "^Bearer (" }
  - path: /b
    match:
      query:
        page: { gte: 1, regx: "x" }
"#;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("api.yaml"), yaml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mockrig"))
        .arg("check")
        .arg("api.yaml")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for located in [
        "api.yaml:3:5: resources.notes.otherwise: otherwise answers the requests that fail",
        "api.yaml:8:33: routes[0].match.headers.authorization.regex: not a valid regular expression: unclosed group",
        "api.yaml:12:25: routes[1].match.query.page.regx: unknown operator 'regx': did you mean 'regex'? the operators are present, regex, one_of, not, gt, gte, lt, lte, equals",
    ] {
        assert!(text.contains(located), "missing `{located}` in:\n{text}");
    }
    assert!(text.trim_end().ends_with("3 errors"), "{text}");
}
