//! 1. Every operation of every document answers a status it declares, through its own route.

use std::time::Instant;

use serde_json::Value;

use super::documents::{Op, is_declared, read_doc};
use super::requests::{Req, build, route_sources, send};
use super::{CORES, DOCUMENTS, fixtures, report, serve};

// ---------------------------------------------------------------------------------------------
// 1. Every operation answers

/// Whether `status` is a fair answer to a plain request for `op`: one it declares; a success
/// when it declares one (the first 2xx is the answer asked for by nothing); never mockrig's
/// own 404/405/500 for an operation that exists.
fn judge_status(op: &Op, status: u16) -> Result<(), String> {
    let declared = op.declared();
    if declared.is_empty() {
        // 3.1 lets an operation declare no response; it still exists, so an answer it is.
        return match status {
            404 | 405 | 500 => Err(format!(
                "{status} for an operation that declares no response"
            )),
            _ => Ok(()),
        };
    }
    if !is_declared(&declared, status) {
        return Err(format!(
            "{status} is not declared ({})",
            declared.join(", ")
        ));
    }
    let has_success = declared.iter().any(|k| k.starts_with('2') && k.len() == 3);
    if has_success && !(200..300).contains(&status) {
        return Err(format!(
            "{status}, yet the operation declares a success ({})",
            declared.join(", ")
        ));
    }
    if [404, 405, 500].contains(&status) && !declared.contains(&status.to_string()) {
        return Err(format!("{status} reached only through `default`"));
    }
    Ok(())
}

/// Every operation of every document answers a status it declares, through its own route
/// (the journal says which answered), served as users serve it: validating. Each request is
/// one the test vouches for, so a refusal (422, 400, 415, 401, or the document's own answer
/// with `X-Mockrig-Violations`) is mockrig refusing a valid request, as wrong as an invalid one
/// let through. The few operations the test cannot make a valid request for may be refused.
#[tokio::test]
async fn every_operation_of_every_document_answers() {
    let Some(dir) = fixtures() else { return };
    let _cores = CORES.read().await;
    let mut failures = Vec::new();
    let mut total = 0;
    for &(name, expected_ops) in DOCUMENTS {
        let started = Instant::now();
        let mut doc = read_doc(&dir, name);
        assert_eq!(
            doc.ops.len(),
            expected_ops,
            "{name}: the test's own enumeration found {} operations",
            doc.ops.len()
        );
        total += doc.ops.len();
        let reqs: Vec<Req> = (0..doc.ops.len()).map(|i| build(&mut doc, i)).collect();
        let m = match serve(&doc.top, true) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let sources = route_sources(&m).await;
        if sources.len() != doc.ops.len() {
            failures.push(format!(
                "{name}: mockrig serves {} operations, the document has {}",
                sources.len(),
                doc.ops.len()
            ));
        }
        let mut unsure = 0;
        for (op, req) in doc.ops.iter().zip(&reqs) {
            let a = send(&m, req, None).await;
            // A refusal status where the operation has a success (or `default`) to give.
            let answers = op
                .declared()
                .iter()
                .any(|k| k.starts_with('2') || k == "default");
            let refused = a.headers.contains_key("x-mockrig-violations")
                || (answers && [400, 401, 415, 422].contains(&a.status));
            if !req.unsure.is_empty() {
                unsure += 1;
                println!(
                    "  not vouched for: {} ({})",
                    op.label(),
                    req.unsure.join("; ")
                );
                if refused {
                    continue;
                }
            }
            let verdict = if refused && req.unsure.is_empty() {
                Err(format!("{}: a valid request refused", a.status))
            } else {
                judge_status(op, a.status)
            };
            if let Err(why) = verdict {
                failures.push(format!("{name} {}: {why}: {}", op.label(), a.excerpt()));
            }
        }
        // The journal (1,000 entries, more than any document has operations) says which
        // route answered each request, in order.
        let journal: Value = m.get("/__mockrig/requests").await.json().await.unwrap();
        let entries = journal["requests"].as_array().cloned().unwrap_or_default();
        if entries.len() != doc.ops.len() {
            failures.push(format!(
                "{name}: {} journal entries for {} requests",
                entries.len(),
                doc.ops.len()
            ));
        }
        for (op, entry) in doc.ops.iter().zip(&entries) {
            let want = sources.get(&(op.method.to_uppercase(), op.path.clone()));
            if want.is_none() || entry["matched"].as_str() != want.map(String::as_str) {
                failures.push(format!(
                    "{name} {}: answered by {} (its own route: {want:?})",
                    op.label(),
                    entry["matched"]
                ));
            }
        }
        println!(
            "{name}: {} operations, {} with a request the test vouches for; {:.1?}",
            doc.ops.len(),
            doc.ops.len() - unsure,
            started.elapsed()
        );
    }
    println!("{total} operations in all");
    report("operations that do not answer as declared", &failures);
}
