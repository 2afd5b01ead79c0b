use crate::model::testing::compile_yaml;
use crate::spec::locate::display_path;

fn errors(yaml: &str) -> Vec<(String, String)> {
    let (compiled, problems) = compile_yaml(yaml);
    assert!(compiled.is_none(), "errors stop the spec");
    problems
        .into_iter()
        .map(|p| (display_path(&p.path), p.message))
        .collect()
}

#[test]
fn every_problem_of_every_item_in_one_pass_at_its_key() {
    let found = errors(
        r#"
server: { delay: soon }
routes:
  - path: users
  - path: /ok
    response:
      status: 700
      headers: { "bad name": x, X-Id: "{{ reqest.id }}" }
      body: { a: "{{ request.bdy }}", b: ["{{ fake.nmae() }}"] }
      delay: 1..
  - { path: /x, when: paid }
websockets:
  - { path: /ws, replies: [ { regex: "(", send: { text: hi } } ] }
resources:
  "bad name": {}
static:
  - { path: "/files/{x}", dir: nowhere }
"#,
    );
    let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
    for expected in [
        "server.delay",
        "routes[0].path",
        "routes[1].response.status",
        "routes[1].response.headers.bad name",
        "routes[1].response.headers.X-Id",
        "routes[1].response.body.a",
        "routes[1].response.body.b[0]",
        "routes[1].response.delay",
        "routes[2].when",
        "websockets[0].replies[0].regex",
        "resources.bad name",
        "static[0].path",
        "static[0].dir",
    ] {
        assert!(
            paths.contains(&expected),
            "no problem at {expected}: {found:?}"
        );
    }
    let message = |at: &str| &found.iter().find(|(p, _)| p == at).unwrap().1;
    assert!(message("routes[1].response.headers.X-Id").contains("did you mean 'request'?"));
    assert!(message("routes[1].response.body.a").contains("did you mean 'body'?"));
    assert!(message("routes[1].response.body.b[0]").contains("did you mean 'name'?"));
}

#[test]
fn a_clean_spec_compiles_each_part_once_into_the_model() {
    let (compiled, problems) = compile_yaml(
        r#"
routes:
  - { path: "/users/{id}", response: { body: { id: "{{ params.id }}" } }, scenario: s, then: done }
websockets:
  - { path: /ws }
resources:
  users: { seed: [ { id: 1 } ] }
"#,
    );
    assert!(problems.is_empty(), "{problems:?}");
    let spec = compiled.unwrap();
    let sources: Vec<&str> = spec.routes.iter().map(|r| &*r.source).collect();
    assert_eq!(sources[..2], ["routes[0]", "websockets[0]"]);
    assert!(sources[2..].iter().all(|s| *s == "resources.users"));
    assert_eq!(
        spec.scenarios,
        [(
            "s".to_owned(),
            vec!["started".to_owned(), "done".to_owned()]
        )]
    );
    assert_eq!(spec.counts.routes, 1);
    assert_eq!(spec.counts.channels, 1);
}
