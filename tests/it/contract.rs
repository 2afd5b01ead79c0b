//! OpenAPI contracts as a user meets them: a document served directly, beneath a spec whose
//! routes override single operations, resources from its collections, hot reload of the
//! document and the files it refers to, and `mockrig import` round-tripping. The documents are
//! written here so that what is asserted is visible next to it; the real public documents
//! are tested in `openapi/` and `prism.rs`.

use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{self, Mock, json_of};

/// A small contract with what the features need: examples, a generated body, a validated
/// body, typed query and header parameters, security on one operation, two media types.
const PETS: &str = r##"openapi: 3.0.3
info: { title: pets, version: "1" }
paths:
  /pets:
    get:
      operationId: listPets
      parameters:
        - { name: limit, in: query, schema: { type: integer, minimum: 1, maximum: 100 } }
        - { name: X-Trace, in: header, schema: { type: string, pattern: '^[a-f0-9]{4}$' } }
      responses:
        "200":
          description: the pets
          headers:
            X-Total: { schema: { type: integer }, example: 2 }
          content:
            application/json:
              examples:
                two: { value: [{ id: 1, name: Rex }, { id: 2, name: Tom }] }
                none: { value: [] }
            application/xml:
              example: "<pets><pet>Rex</pet></pets>"
        "404":
          description: none
          content:
            application/json:
              example: { error: no pets }
    post:
      operationId: createPet
      security: [{ key: [] }]
      requestBody:
        required: true
        content:
          application/json:
            schema: { $ref: "#/components/schemas/NewPet" }
      responses:
        "201":
          description: created
          content:
            application/json:
              schema: { $ref: "#/components/schemas/Pet" }
  /pets/{id}:
    get:
      parameters:
        - { name: id, in: path, required: true, schema: { type: integer } }
      responses:
        "200":
          description: one pet
          content:
            application/json:
              schema: { $ref: "#/components/schemas/Pet" }
components:
  securitySchemes:
    key: { type: apiKey, in: header, name: X-Api-Key }
  schemas:
    NewPet:
      type: object
      required: [name]
      properties:
        name: { type: string, minLength: 1 }
        tag: { type: string, enum: [dog, cat] }
    Pet:
      allOf:
        - $ref: "#/components/schemas/NewPet"
        - type: object
          required: [id]
          properties:
            id: { type: integer, readOnly: true, minimum: 1 }
            born: { type: string, format: date-time }
"##;

/// [`PETS`] with `DELETE /pets/{id}`: then `/pets` is a REST collection.
fn with_delete() -> String {
    PETS.replace(
        "  /pets/{id}:\n    get:",
        "  /pets/{id}:\n    delete:\n      responses: { \"204\": { description: gone } }\n    get:",
    )
}

async fn send(m: &Mock, req: reqwest::RequestBuilder) -> (StatusCode, String, String) {
    let _ = m;
    let r = req.send().await.expect("request");
    let status = r.status();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, r.text().await.unwrap())
}

#[tokio::test]
async fn a_document_served_directly_answers_and_validates_like_prism() {
    let m = Mock::start(PETS, &[]);
    let c = &m.client;
    // The lowest 2xx, its first named example, the document's headers.
    let r = c.get(m.at("/pets")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-total"], "2");
    assert_eq!(
        json_of(r).await,
        json!([{"id": 1, "name": "Rex"}, {"id": 2, "name": "Tom"}])
    );
    // Prefer picks the example and the code; Prism's query form does the same.
    let r = c
        .get(m.at("/pets"))
        .header("Prefer", "example=none")
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(r).await, json!([]));
    let (s, _, body) = send(&m, c.get(m.at("/pets?__code=404"))).await;
    assert_eq!(
        (s, body.as_str()),
        (StatusCode::NOT_FOUND, r#"{"error":"no pets"}"#)
    );
    let (s, ct, _) = send(&m, c.get(m.at("/pets")).header("Prefer", "code=418")).await;
    assert_eq!(s, 404, "a code the operation does not declare");
    assert_eq!(ct, "application/problem+json");
    // Accept negotiation across the operation's media types, 406 past them.
    let (s, ct, body) = send(&m, c.get(m.at("/pets")).header("Accept", "application/xml")).await;
    assert_eq!((s.as_u16(), ct.as_str()), (200, "application/xml"));
    assert_eq!(body, "<pets><pet>Rex</pet></pets>");
    let (s, _, _) = send(&m, c.get(m.at("/pets")).header("Accept", "image/png")).await;
    assert_eq!(s, 406);
    // A value generated from the schema when there is no example: it fits the schema.
    let pet = json_of(c.get(m.at("/pets/7")).send().await.unwrap()).await;
    assert!(pet["id"].as_i64().unwrap() >= 1, "{pet}");
    assert!(pet["name"].as_str().is_some_and(|n| !n.is_empty()), "{pet}");
    // Parameters are validated in their types.
    let r = c
        .get(m.at("/pets?limit=0"))
        .header("X-Trace", "zz")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let body = json_of(r).await;
    let locations: Vec<&str> = body["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["location"].as_str().unwrap())
        .collect();
    assert_eq!(locations, ["query/limit", "header/X-Trace"], "{body}");
    assert_eq!(body["violations"][0]["actual"], 0);
    assert_eq!(body["violations"][0]["expected"], json!({"minimum": 1}));
    let (s, _, _) = send(&m, c.get(m.at("/pets/abc"))).await;
    assert_eq!(s, 422, "an integer path parameter");
    // HEAD is not implied by GET in a contract (Prism answers 405 too).
    let (s, _, _) = send(&m, c.head(m.at("/pets"))).await;
    assert_eq!(s, 405);
}

#[tokio::test]
async fn bodies_and_credentials_are_checked_before_anything_answers() {
    let m = Mock::start(PETS, &[]);
    let c = &m.client;
    let post = |body: &'static str, ct: &'static str, key: bool| {
        let mut r = c.post(m.at("/pets")).header("content-type", ct).body(body);
        if key {
            r = r.header("X-Api-Key", "k");
        }
        r
    };
    // No credential: 401 with mockrig's problem body, before the body is looked at.
    let (s, ct, _) = send(&m, post("{}", "application/json", false)).await;
    assert_eq!((s.as_u16(), ct.as_str()), (401, "application/problem+json"));
    // Every violation of the body, each where it is; readOnly `id` is not asked of a request.
    let r = post(r#"{"tag": "fish"}"#, "application/json", true)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let body = json_of(r).await;
    let v = body["violations"].as_array().unwrap();
    assert_eq!(v.len(), 2, "{body}");
    assert_eq!(v[0]["location"], "body/name");
    assert_eq!(v[1]["location"], "body/tag");
    assert_eq!(v[1]["actual"], "fish");
    assert_eq!(v[1]["expected"], json!({"enum": ["dog", "cat"]}));
    let (s, _, _) = send(&m, post("{not json", "application/json", true)).await;
    assert_eq!(s, 400);
    let (s, _, body) = send(
        &m,
        post("name=Rex", "application/x-www-form-urlencoded", true),
    )
    .await;
    assert_eq!(s, 415, "{body}");
    assert!(
        body.contains("application/json"),
        "names what it takes: {body}"
    );
    let (s, _, _) = send(&m, post("", "application/json", true)).await;
    assert_eq!(s, 422, "the body is required");
    // A valid request: 201 with a body generated from the response schema.
    let r = post(r#"{"name": "Rex"}"#, "application/json", true)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let pet = json_of(r).await;
    assert!(pet["id"].is_i64() && pet["name"].is_string(), "{pet}");
}

#[tokio::test]
async fn a_spec_route_overrides_exactly_its_operation() {
    let spec = "openapi:\n  file: pets.yaml\nroutes:\n  - path: /pets/{id}\n    response:\n      body: { id: 99, name: Mine }\n";
    let m = Mock::start(spec, &[("pets.yaml", PETS.as_bytes())]);
    let one = json_of(m.get("/pets/1").await).await;
    assert_eq!(
        one,
        json!({"id": 99, "name": "Mine"}),
        "the spec's route answers"
    );
    let list = json_of(m.get("/pets").await).await;
    assert_eq!(
        list[0]["name"], "Rex",
        "the other operations are the document's"
    );
    let r = m.post_json("/pets", &json!({})).await;
    assert_eq!(r.status(), 401, "and still checked");
    let routes = json_of(m.get("/__mockrig/routes").await).await;
    let kinds: Vec<&str> = routes
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["kind"].as_str())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "openapi").count(),
        3,
        "{routes}"
    );
}

#[tokio::test]
async fn collections_become_resources_whose_writes_are_validated() {
    let spec = "openapi:\n  file: pets.yaml\n  resources: true\n";
    let doc = with_delete();
    let m = Mock::start(spec, &[("pets.yaml", doc.as_bytes())]);
    let c = &m.client;
    // Seeded from the list's first example.
    assert_eq!(
        json_of(m.get("/pets").await)
            .await
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let r = c
        .post(m.at("/pets"))
        .header("X-Api-Key", "k")
        .json(&json!({"name": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "validated before it is stored");
    let r = c
        .post(m.at("/pets"))
        .header("X-Api-Key", "k")
        .json(&json!({"name": "Kit", "tag": "cat"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created = json_of(r).await;
    assert_eq!(created["id"], 3);
    assert_eq!(json_of(m.get("/pets/3").await).await["name"], "Kit");
    assert_eq!(
        json_of(m.get("/pets").await)
            .await
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let r = c.delete(m.at("/pets/1")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(m.get("/pets/1").await.status(), 404);
}

#[tokio::test]
async fn saving_the_document_or_a_file_it_refers_to_reloads() {
    let doc = "openapi: 3.1.0\ninfo: { title: t, version: '1' }\npaths:\n  /hello:\n    get:\n      responses:\n        '200':\n          $ref: 'parts.yaml#/hello'\n";
    let parts = |word: &str| {
        format!(
            "hello:\n  description: hi\n  content:\n    application/json:\n      example: {{ word: {word} }}\n"
        )
    };
    let spec = "openapi:\n  file: doc.yaml\n";
    let m = Mock::start(
        spec,
        &[
            ("doc.yaml", doc.as_bytes()),
            ("parts.yaml", parts("one").as_bytes()),
        ],
    );
    assert_eq!(json_of(m.get("/hello").await).await["word"], "one");
    std::fs::write(m.dir.path().join("parts.yaml"), parts("two")).unwrap();
    common::eventually(
        "a referenced file's save is served",
        Duration::from_secs(2),
        || async { (json_of(m.get("/hello").await).await["word"] == "two").then_some(()) },
    )
    .await;
    // A broken save keeps the last good version serving and says where it is broken.
    std::fs::write(m.dir.path().join("parts.yaml"), "hello:\n  content: [\n").unwrap();
    let status = common::eventually(
        "the failed reload is reported",
        Duration::from_secs(2),
        || async {
            let s = json_of(m.get("/__mockrig/status").await).await;
            (s["last_reload"]["result"] == "error").then_some(s)
        },
    )
    .await;
    assert!(status.to_string().contains("parts.yaml"), "{status}");
    assert_eq!(json_of(m.get("/hello").await).await["word"], "two");
}

#[tokio::test]
async fn dynamic_answers_are_fresh_and_reproducible_with_a_seed() {
    let spec = "openapi:\n  file: pets.yaml\n";
    let seeded = || {
        Mock::with(spec, &[("pets.yaml", PETS.as_bytes())], |c| {
            c.seed = Some(7)
        })
    };
    let (a, b) = (seeded(), seeded());
    let dynamic = |m: &Mock| {
        m.client
            .get(m.at("/pets/1"))
            .header("Prefer", "dynamic=true")
            .send()
    };
    let (a1, b1) = (
        json_of(dynamic(&a).await.unwrap()).await,
        json_of(dynamic(&b).await.unwrap()).await,
    );
    assert_eq!(a1, b1, "the same seed, the same answers");
    let a2 = json_of(dynamic(&a).await.unwrap()).await;
    assert_ne!(a1, a2, "each answer draws afresh");
    let fixed = json_of(a.get("/pets/1").await).await;
    assert_eq!(
        fixed,
        json_of(a.get("/pets/1").await).await,
        "static stays static"
    );
}

/// `mockrig import` writes a spec that `check` accepts and that answers each operation's
/// first response as serving the document does.
#[tokio::test]
async fn import_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("pets.yaml");
    std::fs::write(&doc, PETS).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mockrig"))
        .arg("import")
        .arg(&doc)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let spec = String::from_utf8(out.stdout).unwrap();
    let imported = Mock::start(&spec, &[]);
    let served = Mock::start(PETS, &[]);
    for path in ["/pets", "/pets/1"] {
        let a = imported.get(path).await;
        let b = served.get(path).await;
        assert_eq!(a.status(), b.status(), "{path}");
        assert_eq!(json_of(a).await, json_of(b).await, "{path}");
    }
    let a = imported
        .client
        .get(imported.at("/pets"))
        .header("Accept", "application/xml")
        .send()
        .await
        .unwrap();
    assert_eq!(a.text().await.unwrap(), "<pets><pet>Rex</pet></pets>");
    let a = imported
        .client
        .post(imported.at("/pets"))
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), 201);
    // With --resources, the collection is a resource seeded from the examples.
    std::fs::write(&doc, with_delete()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mockrig"))
        .args(["import", "--resources"])
        .arg(&doc)
        .output()
        .unwrap();
    let spec = String::from_utf8(out.stdout).unwrap();
    assert!(spec.contains("resources:"), "{spec}");
    let m = Mock::start(&spec, &[]);
    assert_eq!(json_of(m.get("/pets/2").await).await["name"], "Tom");
}

#[tokio::test]
async fn a_broken_document_is_reported_at_its_lines_and_swagger_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("bad.yaml");
    std::fs::write(
        &doc,
        "openapi: 3.0.0\ninfo: { title: t, version: '1' }\npaths:\n  /a:\n    get:\n      parameters:\n        - { name: q, in: querry }\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: { $ref: '#/components/schemas/Pett' }\n  /b:\n    get:\n      responses:\n        '200': { $ref: 'https://example.com/r.yaml' }\n  /c:\n    post:\n      requestBody:\n        content:\n          application/json:\n            schema:\n              type: object\n              properties: { code: { type: string, pattern: '([a-z' } }\n      responses: { '200': { description: ok } }\ncomponents:\n  schemas:\n    Pet: { type: object }\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mockrig"))
        .arg("check")
        .arg(&doc)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(text.contains("bad.yaml:7:22: #/paths/~1a/get/parameters/0/in: 'querry' is no parameter location; did you mean 'query'?"), "{text}");
    assert!(
        text.contains("bad.yaml:13:25:") && text.contains("did you mean 'Pet'?"),
        "{text}"
    );
    assert!(text.contains("remote reference"), "{text}");
    assert!(
        text.contains("bad.yaml:25:51: #/paths/~1c/post/requestBody/content/application~1json/schema/properties/code/pattern: the schema cannot be compiled"),
        "{text}"
    );
    assert!(
        text.contains("4 errors"),
        "every problem in one run: {text}"
    );
    let swagger = common::repo_path("../shared/fixtures/openapi/examples/v2.0/petstore.yaml");
    if swagger.exists() {
        let out = Command::new(env!("CARGO_BIN_EXE_mockrig"))
            .arg("check")
            .arg(&swagger)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("Swagger 2.0") && text.contains("swagger2openapi"),
            "{text}"
        );
    }
}
