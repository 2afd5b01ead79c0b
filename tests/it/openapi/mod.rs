//! OpenAPI 3.x over real public documents (`../shared/fixtures/openapi/`): the OAI's own
//! examples, Spotify's Web API, Twilio's 1.5 MB API and DigitalOcean's API split over ~2,900
//! files joined by relative `$ref`s. Documents nobody on this project wrote are what users
//! bring, and they exercise what hand-made ones do not: `$ref`s into other files, form
//! bodies, patterns on every path parameter, `nullable`, `allOf` chains, hundreds of
//! operations.
//!
//! The test reads each document itself (serde_yaml, its own `$ref` resolver) to know what
//! mockrig should serve, builds for every operation a request it can vouch for (each value
//! checked against its schema with the `jsonschema` crate), and judges mockrig's answers
//! against the document: the status is one the operation declares, the request reached that
//! operation (the journal), a generated body validates against the response's schema, a
//! broken request is refused at the right `location`. Failures are collected per operation
//! and reported together, so one run shows every operation that fails and why.
//!
//! When the fixtures folder is absent (a user's own clone has no `../shared`), each test
//! prints why and returns.

mod answers;
mod bodies;
mod documents;
mod load;
mod refusals;
mod requests;
mod schemas;
mod values;

use std::path::{Path, PathBuf};

use crate::common::{self, Mock};

// ---------------------------------------------------------------------------------------------
// Where the documents are

/// The fixtures folder, or `None` (after saying so) when this checkout has none.
fn fixtures() -> Option<PathBuf> {
    let dir = common::repo_path("../shared/fixtures/openapi");
    match std::fs::canonicalize(&dir) {
        Ok(d) if d.is_dir() => Some(d),
        _ => {
            eprintln!(
                "skipped: {} is absent (the shared fixtures are not part of a user's clone)",
                dir.display()
            );
            None
        }
    }
}

/// The load test times mockrig loading the large documents, which the other tests load and
/// query on the same cores: they hold this for reading, the load test for writing, so its
/// times are its own.
static CORES: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

const PETSTORE: &str = "examples/v3.0/petstore.yaml";
const PETSTORE_EXPANDED: &str = "examples/v3.0/petstore-expanded.yaml";
const SPOTIFY: &str = "examples/spotify-web-api.yaml";
const TWILIO: &str = "twilio_api_v2010.yaml";
const DIGITALOCEAN: &str = "digitalocean/specification/DigitalOcean-public.v2.yaml";

/// An operation of each large document that needs credentials and nothing else.
const TWILIO_ACCOUNTS: &str = "/2010-04-01/Accounts.json";
const DIGITALOCEAN_ACCOUNT: &str = "/v2/account";

/// Every document of the fixtures, with the number of operations each has: counted here from
/// the text as a check on the test's own enumeration (a resolver that lost operations would
/// make every other assertion vacuous).
const DOCUMENTS: &[(&str, usize)] = &[
    (PETSTORE, 3),
    (PETSTORE_EXPANDED, 4),
    ("examples/v3.0/api-with-examples.yaml", 2),
    ("examples/v3.0/uspto.yaml", 3),
    ("examples/v3.0/link-example.yaml", 6),
    ("examples/v3.0/callback-example.yaml", 1),
    // Webhooks only: nothing to serve under `paths`.
    ("examples/v3.1/webhook-example.yaml", 0),
    ("examples/v3.1/non-oauth-scopes.yaml", 1),
    (SPOTIFY, 97),
    (TWILIO, 197),
    (DIGITALOCEAN, 659),
];

/// The documents whose generated answers test 2 validates.
const GENERATED: &[&str] = &[PETSTORE, PETSTORE_EXPANDED, SPOTIFY, TWILIO, DIGITALOCEAN];

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The seed of mockrig's fake data here (`--seed`).
const SEED: u64 = 7;

/// Serves the document at `doc` (absolute) through a spec's `openapi:` key, watched as a
/// user's would be. mockrig reads a document outside the spec's folder, so the fixtures are
/// used where they are. mockrig refusing a document is a finding like any other, so it is
/// returned, not a panic: the other documents are still tested.
fn serve(doc: &Path, validate: bool) -> Result<Mock, String> {
    serve_with(doc, validate, false, true)
}

fn serve_with(doc: &Path, validate: bool, dynamic: bool, watch: bool) -> Result<Mock, String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = dir.path().join("api.yaml");
    std::fs::write(&spec, spec_for(doc, validate, dynamic)).unwrap();
    let mut config = common::config(&spec);
    config.watch = watch;
    // Fake data drawn the same way in every run: a failure seen once is seen again.
    config.seed = Some(SEED);
    let server = mockrig::MockServer::with_config(config).map_err(|e| {
        let text = e.to_string();
        let lines: Vec<&str> = text.lines().take(3).collect();
        format!("mockrig did not start: {}", lines.join(" / "))
    })?;
    let mut m = Mock::attach(server);
    m.dir = dir;
    Ok(m)
}

fn spec_for(doc: &Path, validate: bool, dynamic: bool) -> String {
    format!(
        "openapi:\n  file: '{}'\n  validate: {validate}\n  dynamic: {dynamic}\n",
        doc.display()
    )
}

/// Panics with every failure, one a line, when there is any.
fn report(what: &str, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{what}: {} failure(s):\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}
