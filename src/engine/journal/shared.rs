//! The journal every replica writes (`--state redis://`): each request answered outside a
//! session is appended to one Redis stream, trimmed to the journal's length, before its
//! answer goes out — so `/requests`, `/unmatched` and `/verify` on any replica see the
//! requests every replica answered, including the one a client made just before asking.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::http::Method;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::web::Bytes;
use redis::{Script, Value as Reply};
use serde_json::Value;

use super::{Head, Recorded};
use crate::engine::resources::redis::gather::{Gathering, Sending};
use crate::engine::resources::redis::{SESSION_TTL, Shared, session_prefix};
use crate::engine::upstream::forward::UpstreamCall;
use crate::error::ApiError;

const STREAM: &str = "mockrig:journal";

/// Sends the entries gathered on this thread, one call per batch, until none are left.
async fn send_batches(id: usize, shared: Arc<Shared>, script: Arc<Script>, capacity: usize) {
    let _sending = Sending {
        on: &WAITING,
        key: id,
    };
    // Those finishing at the same moment join the first call.
    tokio::task::yield_now().await;
    loop {
        let batch = WAITING.with(|w| w.take(id, usize::MAX));
        if batch.is_empty() {
            return;
        }
        let mut call = script.prepare_invoke();
        call.arg(capacity);
        for p in &batch {
            call.key(&p.keys.0)
                .key(&p.keys.1)
                .arg(&p.head)
                .arg(p.body.as_ref())
                .arg(p.keys.2);
        }
        let result = match shared.connection() {
            Ok(mut con) => {
                tokio::time::timeout(APPEND_TIMEOUT, call.invoke_async::<i64>(&mut con)).await
            }
            Err(_) => Ok(Ok(0)),
        };
        match result {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::debug!("requests were not added to the shared journal: {e}"),
            Err(_) => tracing::debug!("requests were not added to the shared journal in time"),
        }
        for p in batch {
            let _ = p.done.send(());
        }
    }
}

/// The journal's stream and counter (a session's own), and how long they outlive their last
/// append (0: for ever).
fn keys(session: Option<&str>) -> (String, String, u64) {
    match session {
        None => (STREAM.to_owned(), format!("{STREAM}:n"), 0),
        Some(s) => {
            let stream = format!("{}:journal", session_prefix(s));
            let counter = format!("{stream}:n");
            (stream, counter, SESSION_TTL.as_secs())
        }
    }
}

/// What an append may take before the answer goes out without it: a slow Redis must not
/// hold up the static routes.
const APPEND_TIMEOUT: Duration = Duration::from_millis(500);

/// The journal in Redis, for a server whose data is shared.
pub(crate) struct SharedJournal {
    shared: Arc<Shared>,
    capacity: usize,
    append: Arc<Script>,
}

/// One request for the journal: its keys and what is kept of it, and who waits for it.
struct Pending {
    keys: (String, String, u64),
    head: String,
    body: Bytes,
    done: tokio::sync::oneshot::Sender<()>,
}

thread_local! {
    /// Per worker thread (actix runs one runtime per thread), per journal.
    static WAITING: Gathering<usize, Pending> = Gathering::new();
}

impl SharedJournal {
    pub(crate) fn new(shared: Arc<Shared>, capacity: usize) -> SharedJournal {
        SharedJournal {
            shared,
            capacity,
            append: Arc::new(Script::new(include_str!("journal.lua"))),
        }
    }

    /// Appends `r` (to `session`'s), and returns once Redis holds it. The requests a worker
    /// finishes together go in one call: a task of the worker's sends what has gathered while
    /// the previous call was under way. A failure (Redis gone) is logged and the request
    /// answered as ever.
    pub(crate) async fn append(&self, r: &Recorded, session: Option<&str>) {
        if self.capacity == 0 {
            return;
        }
        let (done, sent) = tokio::sync::oneshot::channel();
        let pending = Pending {
            keys: keys(session),
            head: head(r),
            body: r.body.clone(),
            done,
        };
        let id = self as *const SharedJournal as usize;
        if WAITING.with(|w| w.add(id, pending)) {
            let (shared, script, capacity) =
                (self.shared.clone(), self.append.clone(), self.capacity);
            // A task of its own: a request that goes away must not take the others' call with
            // it.
            actix_web::rt::spawn(send_batches(id, shared, script, capacity));
        }
        if tokio::time::timeout(APPEND_TIMEOUT, sent).await.is_err() {
            tracing::debug!("a request was not added to the shared journal in time");
        }
    }

    /// Every request the replicas recorded (in `session`), oldest first.
    pub(crate) async fn all(&self, session: Option<&str>) -> Result<Vec<Arc<Recorded>>, ApiError> {
        if self.capacity == 0 {
            return Ok(Vec::new());
        }
        let mut con = self
            .shared
            .connection()
            .map_err(|e| self.shared.refusal(e))?;
        let reply: Reply = redis::cmd("XREVRANGE")
            .arg(keys(session).0)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(self.capacity)
            .query_async(&mut con)
            .await
            .map_err(self.shared.refused())?;
        let Reply::Array(entries) = reply else {
            return Ok(Vec::new());
        };
        let mut out: Vec<Arc<Recorded>> = entries
            .into_iter()
            .filter_map(|e| entry(e).map(Arc::new))
            .collect();
        out.reverse();
        Ok(out)
    }

    /// Empties it (`session`'s) for every replica.
    pub(crate) async fn clear(&self, session: Option<&str>) -> Result<(), ApiError> {
        let mut con = self
            .shared
            .connection()
            .map_err(|e| self.shared.refusal(e))?;
        redis::cmd("DEL")
            .arg(keys(session).0)
            .query_async::<i64>(&mut con)
            .await
            .map_err(self.shared.refused())?;
        Ok(())
    }
}

/// What a replica keeps of a request besides its body (the answer it sent is its own
/// dashboard's). Header values that are not UTF-8 are kept as their lossy text. Written
/// straight from the request, as `entry` reads it back: no JSON tree is built per request.
#[derive(serde::Serialize)]
struct Kept<'a> {
    at_us: u64,
    method: &'a str,
    target: Cow<'a, str>,
    headers: Vec<(&'a str, Cow<'a, str>)>,
    route: Option<&'a str>,
    status: u16,
    fault: Option<&'static str>,
    duration_us: u64,
    nearest: Option<&'a Value>,
    upstream: Option<Upstream<'a>>,
}

#[derive(serde::Serialize)]
struct Upstream<'a> {
    url: &'a str,
    status: Option<u16>,
    elapsed_us: u64,
}

fn head(r: &Recorded) -> String {
    let head = Kept {
        at_us: r
            .at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64),
        method: r.method.as_str(),
        target: Cow::Borrowed(r.head.target()),
        headers: r
            .head
            .headers()
            .map(|(n, v)| (n, String::from_utf8_lossy(v)))
            .collect(),
        route: r.route.as_deref(),
        status: r.status,
        fault: r.fault.map(crate::engine::fault::name),
        duration_us: r.duration.as_micros() as u64,
        nearest: r.nearest.as_deref(),
        upstream: r.upstream.as_ref().map(|u| Upstream {
            url: &u.url,
            status: u.status,
            elapsed_us: u.elapsed.as_micros() as u64,
        }),
    };
    serde_json::to_string(&head).unwrap_or_default()
}

/// One stream entry (`[id, [field, value, …]]`) as a recorded request; none for what this
/// journal did not write.
fn entry(e: Reply) -> Option<Recorded> {
    let Reply::Array(mut parts) = e else {
        return None;
    };
    let Some(Reply::Array(fields)) = parts.pop() else {
        return None;
    };
    let (mut n, mut head, mut body) = (None, None, Bytes::new());
    for pair in fields.chunks(2) {
        let (Some(Reply::BulkString(k)), Some(Reply::BulkString(v))) = (pair.first(), pair.get(1))
        else {
            continue;
        };
        match k.as_slice() {
            b"n" => n = std::str::from_utf8(v).ok()?.parse::<u64>().ok(),
            b"h" => head = serde_json::from_slice::<Value>(v).ok(),
            b"b" => body = Bytes::copy_from_slice(v),
            _ => {}
        }
    }
    let h = head?;
    let micros = |v: &Value| Duration::from_micros(v.as_u64().unwrap_or(0));
    // What another replica wrote is checked as a request's head would be.
    let headers: Vec<(&str, &str)> = h["headers"]
        .as_array()?
        .iter()
        .filter_map(|p| {
            let (name, value) = (p.get(0)?.as_str()?, p.get(1)?.as_str()?);
            HeaderName::from_bytes(name.as_bytes()).ok()?;
            HeaderValue::from_str(value).ok()?;
            Some((name, value))
        })
        .collect();
    let head = Head::new(h["target"].as_str()?, || {
        headers.iter().map(|(n, v)| (*n, v.as_bytes()))
    });
    Some(Recorded {
        id: n?,
        at: SystemTime::UNIX_EPOCH + micros(&h["at_us"]),
        method: Method::from_bytes(h["method"].as_str()?.as_bytes()).ok()?,
        head,
        body,
        route: h["route"].as_str().map(Arc::from),
        status: u16::try_from(h["status"].as_u64()?).ok()?,
        fault: serde_json::from_value(h["fault"].clone()).ok().flatten(),
        duration: micros(&h["duration_us"]),
        nearest: Some(h["nearest"].clone())
            .filter(|v| !v.is_null())
            .map(Box::new),
        upstream: h["upstream"].as_object().map(|u| {
            Box::new(UpstreamCall {
                url: u["url"].as_str().unwrap_or_default().to_owned(),
                status: u["status"].as_u64().and_then(|s| u16::try_from(s).ok()),
                elapsed: micros(&u["elapsed_us"]),
            })
        }),
        response: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a replica appends is what every replica reads back: each field of the head, a
    /// header value that is not UTF-8 as its lossy text, and the body.
    #[test]
    fn a_request_appended_is_read_back_whole() {
        let mut r = super::super::tests::request("/users/1?x=\"é\"", 3);
        r.route = Some(Arc::from("/users/{id}"));
        r.status = 201;
        r.fault = Some(crate::spec::Fault::Empty);
        r.duration = Duration::from_micros(1234);
        r.nearest = Some(Box::new(
            serde_json::json!({"route": "/users", "why": "method"}),
        ));
        let sent: [(&str, &[u8]); 2] = [("content-type", b"text/plain"), ("x-odd", b"a\xffb")];
        r.head = Head::new(r.head.target(), || sent.into_iter());
        r.upstream = Some(Box::new(UpstreamCall {
            url: "http://127.0.0.1:9/users".into(),
            status: Some(502),
            elapsed: Duration::from_micros(77),
        }));
        let bulk = |b: &[u8]| Reply::BulkString(b.to_vec());
        let stored = Reply::Array(vec![
            bulk(b"1-0"),
            Reply::Array(vec![
                bulk(b"n"),
                bulk(b"42"),
                bulk(b"h"),
                bulk(head(&r).as_bytes()),
                bulk(b"b"),
                bulk(&r.body),
            ]),
        ]);
        let back = entry(stored).expect("read back");
        assert_eq!(back.id, 42);
        let micros = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_micros();
        assert_eq!(micros(back.at), micros(r.at));
        assert_eq!(back.method, r.method);
        assert_eq!(back.head.target(), r.head.target());
        let odd = "a\u{fffd}b".as_bytes();
        assert_eq!(
            back.head.headers().collect::<Vec<_>>(),
            [("content-type", &b"text/plain"[..]), ("x-odd", odd)]
        );
        assert_eq!(back.body, r.body);
        assert_eq!(back.route, r.route);
        assert_eq!(back.status, 201);
        assert_eq!(back.fault, r.fault);
        assert_eq!(back.duration, r.duration);
        assert_eq!(back.nearest, r.nearest);
        let (up, want) = (back.upstream.unwrap(), r.upstream.unwrap());
        assert_eq!(
            (up.url, up.status, up.elapsed),
            (want.url, want.status, want.elapsed)
        );
    }
}
