use super::*;

#[test]
fn the_recovering_pass_handles_every_top_level_key() {
    // A key added to `Spec` without a branch in `recover_spec` would be reported as
    // unknown in every broken file that has it.
    let handled = [
        "server",
        "static",
        "routes",
        "websockets",
        "sse",
        "resources",
        "openapi",
        "include",
    ];
    let mut fields = fields_of::<Spec>().to_vec();
    fields.sort();
    let mut handled = handled.to_vec();
    handled.sort();
    assert_eq!(fields, handled);
}

#[test]
fn a_key_written_one_level_too_shallow_is_told_where_it_belongs() {
    let text = "routes:\n  - path: /a\n    response:\n    status: 201\n";
    let parsed = parse(text);
    let messages: Vec<&str> = parsed.problems.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        ["unknown key 'status', it belongs under 'response:' (line 3), indented one level deeper"]
    );
    assert_eq!((parsed.problems[0].line, parsed.problems[0].column), (4, 5));
    // One level too deep: a key of the route written inside its response.
    let parsed =
        parse("routes:\n  - path: /a\n    response:\n      status: 201\n      match: {}\n");
    let messages: Vec<&str> = parsed.problems.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        ["unknown key 'match', it belongs beside 'response:' (line 3), indented one level less"]
    );
    assert_eq!((parsed.problems[0].line, parsed.problems[0].column), (5, 7));
    // A key the route already has is no such slip.
    let parsed = parse("routes:\n  - path: /a\n    response:\n      path: /b\n");
    assert!(
        !parsed.problems[0].message.contains("belongs"),
        "{:?}",
        parsed.problems
    );
    // Without such a sibling, the did-you-mean as before.
    let parsed = parse("routes:\n  - path: /a\n    mathc: {}\n");
    assert!(
        parsed.problems[0].message.contains("did you mean 'match'"),
        "{:?}",
        parsed.problems
    );
}

#[test]
fn an_item_with_only_unknown_keys_is_kept_and_a_broken_one_is_dropped() {
    let text = "\
routes:
  - path: /a
    stauts: 1
  - path: /b
    response: { status: nope }
  - pth: /c
websockets:
  - { path: /ws/x, mode: brodcast }
";
    let parsed = parse(text);
    let paths: Vec<&str> = parsed.spec.routes.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/a"],
        "only the route whose one problem is an unknown key"
    );
    assert_eq!(parsed.unread_channels, [("websockets", "/ws/x".to_owned())]);
    let lines: Vec<usize> = parsed.problems.iter().map(|d| d.line).collect();
    assert_eq!(lines, [3, 5, 6, 8], "{:?}", parsed.problems);
}

#[test]
fn a_broken_top_level_is_one_located_error() {
    let parsed = parse("- just\n- a list\n");
    assert_eq!(parsed.problems.len(), 1);
    assert!(
        parsed.problems[0]
            .message
            .starts_with("expected a mapping with keys")
    );
    let parsed = parse("rotes: []\n");
    assert_eq!(
        parsed.problems[0].message,
        "unknown key 'rotes', did you mean 'routes'?"
    );
}
