//! One request passed to a backend and its answer streamed back: what is sent (method, path,
//! query, headers, body), what comes back (status, headers, body as it arrives), and the 502 or
//! 504 when the backend fails.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::HttpRequest;
use actix_web::body::{BodySize, MessageBody};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::web::{Bytes, BytesMut};
use actix_web::{HttpResponse, HttpResponseBuilder};
use futures_util::Stream;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::{Map, Value};

use super::client::Upstream;
use crate::engine::recording::{Exchange, Recorder};
use crate::error::ApiError;
use crate::model::proxy::{HOP_BY_HOP, ProxyTarget};
use crate::model::router::Segment;

/// What the log and the journal say about a proxied request.
#[derive(Debug, Clone)]
pub(crate) struct UpstreamCall {
    /// The URL asked for.
    pub(crate) url: String,
    /// The backend's status; none when it did not answer.
    pub(crate) status: Option<u16>,
    /// Until the backend's answer began (its head), or until it failed.
    pub(crate) elapsed: Duration,
}

/// The request to pass on.
pub(crate) struct Forward<'a> {
    pub(crate) req: &'a HttpRequest,
    pub(crate) body: Bytes,
    pub(crate) target: &'a ProxyTarget,
    /// The route's captures, which a `path:` rewrite fills in.
    pub(crate) params: &'a Map<String, Value>,
    /// Which route proxies (or `server.fallback`), for errors.
    pub(crate) route: &'a Arc<str>,
    /// Whether the client came over TLS (`X-Forwarded-Proto`).
    pub(crate) secure: bool,
}

/// Characters a path segment filled from a capture must not carry as they are.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'\\')
    .add(b'{')
    .add(b'}');

/// The backend's URL for `req`: scheme, host and base path from the target, then the path
/// (rewritten, or the request's after `strip_prefix`), then the request's query as it came.
/// Err (a 400) for a path that could climb out of the base path: a `.` or `..` segment,
/// written plainly or percent-encoded, or a path that is not one (`OPTIONS *`).
pub(crate) fn upstream_url(
    target: &ProxyTarget,
    req: &HttpRequest,
    params: &Map<String, Value>,
    websocket: bool,
) -> Result<String, ApiError> {
    let scheme = match (target.https, websocket) {
        (false, false) => "http",
        (true, false) => "https",
        (false, true) => "ws",
        (true, true) => "wss",
    };
    let path = req.uri().path();
    let refuse = |why: &str| ApiError::BadRequest(format!("not passed to the backend: {why}"));
    if !path.starts_with('/') {
        return Err(refuse("the request's target is not a path"));
    }
    let dots = |segment: &str| matches!(segment, "." | "..");
    if path
        .split('/')
        .any(|s| dots(&percent_encoding::percent_decode_str(s).decode_utf8_lossy()))
    {
        return Err(refuse("the path has a '.' or '..' segment"));
    }
    let mut url = format!("{scheme}://{}{}", target.authority, target.base_path);
    let before = url.len();
    match &target.rewrite {
        Some(pattern) => {
            for s in &pattern.segments {
                url.push('/');
                match s {
                    Segment::Static(text) => url.extend(utf8_percent_encode(text, SEGMENT)),
                    Segment::Param(name) => {
                        let value = params.get(name).and_then(Value::as_str).unwrap_or("");
                        url.extend(utf8_percent_encode(value, SEGMENT));
                    }
                    Segment::CatchAll(name) => {
                        let value = params.get(name).and_then(Value::as_str).unwrap_or("");
                        for (i, part) in value.split('/').enumerate() {
                            if dots(part) {
                                return Err(refuse("the path has a '.' or '..' segment"));
                            }
                            if i > 0 {
                                url.push('/');
                            }
                            url.extend(utf8_percent_encode(part, SEGMENT));
                        }
                    }
                }
            }
        }
        // The path as the client sent it (still percent-encoded), so the backend sees the
        // same bytes; a prefix is taken off by decoded segments, as routes compare them.
        None => url.push_str(match &target.strip_prefix {
            Some(prefix) => strip_segments(path, prefix),
            None => path,
        }),
    }
    if url.len() == before {
        url.push('/');
    }
    if let Some(q) = req.uri().query() {
        url.push('?');
        url.push_str(q);
    }
    Ok(url)
}

/// `path` without the segments of `prefix` (compared decoded), or `path` when it does not
/// start with them.
fn strip_segments<'p>(path: &'p str, prefix: &str) -> &'p str {
    let mut rest = path;
    for want in prefix.split('/').filter(|s| !s.is_empty()) {
        let Some(after) = rest.strip_prefix('/') else {
            return path;
        };
        let (segment, tail) = after.split_at(after.find('/').unwrap_or(after.len()));
        if percent_encoding::percent_decode_str(segment).decode_utf8_lossy() != want {
            return path;
        }
        rest = tail;
    }
    rest
}

/// What the journal will say of the call, and the backend's URL (or the refusal of a path
/// that cannot be passed on).
pub(crate) fn begin(
    target: &ProxyTarget,
    req: &HttpRequest,
    params: &Map<String, Value>,
    websocket: bool,
) -> (UpstreamCall, Result<String, ApiError>) {
    let url = upstream_url(target, req, params, websocket);
    let call = UpstreamCall {
        url: url.as_ref().map_or_else(|_| String::new(), String::clone),
        status: None,
        elapsed: Duration::ZERO,
    };
    (call, url)
}

/// Whether a header is the connection's own, not to be passed on by a proxy (the fixed list,
/// and whatever `Connection` names).
pub(crate) fn hop_by_hop(name: &HeaderName, headers: &HeaderMap) -> bool {
    HOP_BY_HOP.contains(&name.as_str())
        || headers
            .get_all(header::CONNECTION)
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case(name.as_str()))
}

/// The request headers the backend gets: the client's, minus hop-by-hop ones and those the
/// target removes, with the target's own set, `Host` for the backend (unless `keep_host`) and
/// `X-Forwarded-For/-Proto/-Host` added.
pub(crate) fn request_headers(
    req: &HttpRequest,
    target: &ProxyTarget,
    skip: &[HeaderName],
    via: &str,
    secure: bool,
) -> Vec<(HeaderName, HeaderValue)> {
    let incoming = req.headers();
    let mut out: Vec<(HeaderName, HeaderValue)> = incoming
        .iter()
        .filter(|(name, _)| {
            !hop_by_hop(name, incoming)
                && *name != header::HOST
                && *name != header::CONTENT_LENGTH
                && *name != header::EXPECT
                && *name != header::VIA
                && *name != header::FORWARDED
                && !target.remove_headers.contains(name)
                && !target.set_headers.iter().any(|(n, _)| n == *name)
                && !skip.contains(name)
                && !name.as_str().starts_with("x-forwarded-")
        })
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    // HTTP/2 clients name the host in the URI (`:authority`), not in a header.
    let client_host = incoming.get(header::HOST).cloned().or_else(|| {
        req.uri()
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    let host = match (&client_host, target.keep_host) {
        (Some(h), true) => h.clone(),
        _ => target.host_header.clone(),
    };
    out.push((header::HOST, host));
    out.extend(target.set_headers.iter().cloned());
    // Every line of a header given several times, as one list.
    let forwarded = |name: &str| {
        let lines: Vec<&str> = incoming
            .get_all(name)
            .filter_map(|v| v.to_str().ok())
            .collect();
        (!lines.is_empty()).then(|| lines.join(", "))
    };
    if let Some(peer) = req.peer_addr() {
        let chain = match forwarded("x-forwarded-for") {
            Some(before) => format!("{before}, {}", peer.ip()),
            None => peer.ip().to_string(),
        };
        if let Ok(v) = HeaderValue::from_str(&chain) {
            out.push((HeaderName::from_static("x-forwarded-for"), v));
        }
    }
    let proto = if secure { "https" } else { "http" };
    out.push((
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static(proto),
    ));
    // RFC 7239: a client's `Forwarded` is kept as the start of the chain, this hop added.
    if let Some(before) = forwarded("forwarded") {
        let mut hop = format!("{before}, proto={proto}");
        if let Some(peer) = req.peer_addr() {
            hop.push_str(&match peer.ip() {
                std::net::IpAddr::V4(ip) => format!(";for={ip}"),
                std::net::IpAddr::V6(ip) => format!(";for=\"[{ip}]\""),
            });
        }
        if let Ok(v) = HeaderValue::from_str(&hop) {
            out.push((header::FORWARDED, v));
        }
    }
    if let Some(h) = client_host {
        out.push((HeaderName::from_static("x-forwarded-host"), h));
    }
    // RFC 9110 §7.6.3: each proxy appends itself; it is also how a loop is noticed.
    let via = match forwarded("via") {
        Some(before) => format!("{before}, {via}"),
        None => via.to_owned(),
    };
    if let Ok(v) = HeaderValue::from_str(&via) {
        out.push((header::VIA, v));
    }
    out
}

/// The 508 for a request that has already been through this server.
pub(crate) fn loop_detected(target: &ProxyTarget, route: &Arc<str>) -> ApiError {
    ApiError::ProxyLoop {
        backend: target.url.clone(),
        route: route.clone(),
    }
}

/// Passes the request on and answers with what the backend answers, its body streamed as it
/// arrives. With `recorder`, the exchange is also handed to it once the body has been sent
/// whole.
pub(crate) async fn forward(
    upstream: &Upstream,
    f: Forward<'_>,
    recorder: Option<&Arc<Recorder>>,
) -> (Result<HttpResponse, ApiError>, UpstreamCall) {
    let started = Instant::now();
    let (mut call, url) = begin(f.target, f.req, f.params, false);
    let url = match url {
        Ok(url) => url,
        Err(e) => return (Err(e), call),
    };
    if upstream.looped(f.req) {
        return (Err(loop_detected(f.target, f.route)), call);
    }
    let mut request = upstream
        .client()
        .request(f.req.method().clone(), url.as_str());
    for (name, value) in request_headers(f.req, f.target, &[], &upstream.via, f.secure) {
        request = request.append_header((name, value));
    }
    // One timer for the whole exchange: until the head arrives, then between two parts of
    // the body (awc's own timeout would be a second timer per request).
    let mut deadline = Box::pin(tokio::time::sleep(f.target.timeout));
    let send = if f.body.is_empty() && !has_body(f.req) {
        request.send()
    } else {
        request.send_body(f.body)
    };
    let sent = tokio::select! {
        sent = send => sent,
        () = deadline.as_mut() => Err(awc::error::SendRequestError::Timeout),
    };
    call.elapsed = started.elapsed();
    let response = match sent {
        Ok(r) => r,
        Err(e) => return (Err(failure(&e, f.target, f.route)), call),
    };
    let status = response.status();
    call.status = Some(status.as_u16());
    if let Err(reason) = passable(&response, f.req.method()) {
        // awc reads one head per request and may have put the connection back in its pool
        // with the rest of this answer unread: this worker's pool is dropped with it.
        upstream.forget_client();
        return (
            Err(ApiError::Upstream {
                backend: f.target.url.clone(),
                route: f.route.clone(),
                reason,
            }),
            call,
        );
    }
    let mut b = HttpResponseBuilder::new(status);
    let mut kept = Vec::new();
    for (name, value) in response.headers() {
        if hop_by_hop(name, response.headers()) || *name == header::CONTENT_LENGTH {
            continue;
        }
        b.append_header((name.clone(), value.clone()));
        kept.push((name.clone(), value.clone()));
    }
    let size = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let no_body = status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    let bodiless = f.req.method() == Method::HEAD || no_body;
    // A 304 answers a conditional request; recorded, it would be the answer to every GET.
    let tee = recorder
        .filter(|_| status != StatusCode::NOT_MODIFIED)
        .map(|r| Tee {
            recorder: r.clone(),
            exchange: Some(Exchange {
                method: f.req.method().clone(),
                path: f.req.uri().path().to_owned(),
                query: f.req.uri().query().unwrap_or("").to_owned(),
                status: status.as_u16(),
                headers: kept,
                body: Bytes::new(),
            }),
            buf: BytesMut::new(),
        });
    let mut body = UpstreamBody {
        stream: Box::pin(response),
        size: match size {
            Some(n) => BodySize::Sized(n),
            None => BodySize::Stream,
        },
        idle: f.target.timeout,
        deadline,
        // The head counts as the first part: the body has `idle` from now.
        last_part: Some(tokio::time::Instant::now()),
        tee,
        backend: f.target.url.clone(),
    };
    if bodiless || size == Some(0) {
        // actix may never ask for a body it will not send: the exchange is complete now.
        body.finish();
        if bodiless {
            // A 204 or 304 has no body whatever length it states; a HEAD keeps its length.
            let length = if no_body { None } else { size };
            return (Ok(b.body(BodyHead(length))), call);
        }
    }
    (Ok(b.body(body)), call)
}

/// Whether the client sent a body (even an empty one, with `Content-Length: 0`), which the
/// backend should see as sent.
fn has_body(req: &HttpRequest) -> bool {
    req.headers().contains_key(header::CONTENT_LENGTH)
        || req.headers().contains_key(header::TRANSFER_ENCODING)
}

/// Err with the reason when the backend's answer cannot be passed on as it is: an interim
/// 1xx (awc takes it for the answer and would leave the real one unread), a 101 to a request
/// that asked for no upgrade, or an HTTP/1.1 body that ends only when the connection closes
/// (which awc does not read, so the client would get an empty body for the real one).
fn passable(response: &awc::ClientResponse, method: &Method) -> Result<(), String> {
    let status = response.status();
    if status.is_informational() {
        return Err(format!(
            "the backend answered {status} (an interim answer), which mockrig's proxy cannot \
             pass on: it would need the final answer that follows"
        ));
    }
    let h = response.headers();
    let delimited =
        h.contains_key(header::CONTENT_LENGTH) || h.contains_key(header::TRANSFER_ENCODING);
    if response.version() == actix_web::http::Version::HTTP_11
        && !delimited
        && method != Method::HEAD
        && status != StatusCode::NO_CONTENT
        && status != StatusCode::NOT_MODIFIED
    {
        return Err(
            "the backend's HTTP/1.1 answer has neither Content-Length nor chunked \
                    encoding (its body ends when the connection closes), which mockrig's \
                    proxy cannot read"
                .into(),
        );
    }
    Ok(())
}

/// The 502 or 504 for a backend that did not answer.
fn failure(e: &awc::error::SendRequestError, target: &ProxyTarget, route: &Arc<str>) -> ApiError {
    use awc::error::{ConnectError, SendRequestError};
    match e {
        SendRequestError::Timeout | SendRequestError::Connect(ConnectError::Timeout) => {
            ApiError::UpstreamTimeout {
                backend: target.url.clone(),
                route: route.clone(),
                timeout_ms: target.timeout.as_millis() as u64,
            }
        }
        other => ApiError::Upstream {
            backend: target.url.clone(),
            route: route.clone(),
            reason: other.to_string(),
        },
    }
}

/// The body of a HEAD (or 204, 304) answer: none, with the length the backend gave.
struct BodyHead(Option<u64>);

impl MessageBody for BodyHead {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        match self.0 {
            Some(n) => BodySize::Sized(n),
            None => BodySize::None,
        }
    }

    fn poll_next(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Poll::Ready(None)
    }
}

/// Copies what is streamed for the recorder, up to its size limit.
struct Tee {
    recorder: Arc<Recorder>,
    exchange: Option<Exchange>,
    buf: BytesMut,
}

type UpstreamStream = Pin<Box<dyn Stream<Item = Result<Bytes, awc::error::PayloadError>>>>;

/// The backend's body as it arrives, cut off (an error, so the client sees a broken answer,
/// not a short one) when the backend stalls longer than the route's timeout.
struct UpstreamBody {
    stream: UpstreamStream,
    size: BodySize,
    idle: Duration,
    /// Armed when the head was asked for; moved on lazily (see `poll_next`).
    deadline: Pin<Box<tokio::time::Sleep>>,
    /// When the last part arrived: the deadline is only moved when it fires, not per part.
    last_part: Option<tokio::time::Instant>,
    tee: Option<Tee>,
    backend: String,
}

impl UpstreamBody {
    /// The whole body went through: the recorder gets the exchange.
    fn finish(&mut self) {
        if let Some(mut tee) = self.tee.take()
            && let Some(mut exchange) = tee.exchange.take()
        {
            exchange.body = tee.buf.freeze();
            tee.recorder.submit(exchange);
        }
    }
}

impl MessageBody for UpstreamBody {
    type Error = std::io::Error;

    fn size(&self) -> BodySize {
        self.size
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        match this.stream.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.last_part = Some(tokio::time::Instant::now());
                if let Some(tee) = &mut this.tee {
                    if tee.buf.len() + chunk.len() <= tee.recorder.max_body() {
                        tee.buf.extend_from_slice(&chunk);
                    } else {
                        tracing::warn!(
                            "not recording {} {}: its body is over the recording limit",
                            tee.exchange.as_ref().map_or("", |e| e.method.as_str()),
                            tee.exchange.as_ref().map_or("", |e| e.path.as_str()),
                        );
                        this.tee = None;
                    }
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.tee = None;
                tracing::warn!("the backend {} broke off its answer: {e}", this.backend);
                Poll::Ready(Some(Err(std::io::Error::other(e.to_string()))))
            }
            Poll::Ready(None) => {
                this.finish();
                Poll::Ready(None)
            }
            Poll::Pending => loop {
                if this.deadline.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                // Fired: if a part came since it was set, it moves to `idle` after that part.
                if let Some(at) = this.last_part.take()
                    && at + this.idle > tokio::time::Instant::now()
                {
                    this.deadline.as_mut().reset(at + this.idle);
                    continue;
                }
                this.tee = None;
                tracing::warn!(
                    "the backend {} stalled for {:?} in the middle of its answer",
                    this.backend,
                    this.idle
                );
                return Poll::Ready(Some(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the backend stalled",
                ))));
            },
        }
    }
}
