//! `mockrig init`: the starter spec and the schema beside it.

use crate::common;

use std::process::{Command, Stdio};

fn mockrig() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mockrig"))
}

/// `init` writes the starter spec and the schema its modeline names; the spec passes `check`,
/// serves, and a second `init` refuses without touching either file.
#[test]
fn init_writes_a_starter_that_checks_and_serves_and_never_overwrites() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("todo-api");
    let out = mockrig().arg("init").arg(&dir).output().unwrap();
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{printed}");
    let spec = dir.join("api.yaml");
    let schema = dir.join("mockrig.schema.json");
    assert_eq!(
        printed,
        format!(
            "wrote {}\nwrote {}\nnext: cd {} && mockrig serve api.yaml\n",
            spec.display(),
            schema.display(),
            dir.display()
        )
    );
    let starter = std::fs::read_to_string(&spec).unwrap();
    assert_eq!(starter, include_str!("../../src/app/starter.yaml"));
    assert!(starter.starts_with("# yaml-language-server: $schema=./mockrig.schema.json\n"));
    assert_eq!(
        std::fs::read_to_string(&schema).unwrap(),
        mockrig::spec::json_schema_text()
    );

    let checked = mockrig().arg("check").arg(&spec).output().unwrap();
    let text = String::from_utf8_lossy(&checked.stdout).into_owned();
    assert!(checked.status.success(), "{text}");
    assert!(!text.contains("warning"), "{text}");

    let mut child = common::Proc(
        mockrig()
            .args(["serve", "api.yaml", "--port", "0", "--quiet", "--no-watch"])
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = common::listening_url(&mut child.0);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = common::client();
        let r = c.get(format!("{url}/hello/Ada")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body, serde_json::json!({"message": "Hello, Ada!"}));
        let todos: serde_json::Value = c
            .get(format!("{url}/todos"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(todos.as_array().map(Vec::len), Some(2), "{todos}");
    });
    drop(child);

    // Again, into the same folder: refused, exit code 1, both files named, nothing changed.
    std::fs::write(&spec, "routes: []\n").unwrap();
    let again = mockrig().arg("init").arg(&dir).output().unwrap();
    let err = String::from_utf8_lossy(&again.stderr).into_owned();
    assert_eq!(again.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("{} and {}", spec.display(), schema.display()))
            && err.contains("--force"),
        "{err}"
    );
    assert!(again.stdout.is_empty());
    assert_eq!(std::fs::read_to_string(&spec).unwrap(), "routes: []\n");

    // One file there is enough to refuse; `--force` replaces it.
    std::fs::remove_file(&schema).unwrap();
    let one = mockrig().arg("init").arg(&dir).output().unwrap();
    assert_eq!(one.status.code(), Some(1));
    assert!(!schema.exists(), "a refusal writes nothing");
    let forced = mockrig()
        .args(["init", "--force"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(forced.status.success());
    assert_eq!(std::fs::read_to_string(&spec).unwrap(), starter);
    assert!(schema.exists());
}
