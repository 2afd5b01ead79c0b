//! The connections under actix-http: each accepted socket (after TLS, when there is TLS) is
//! wrapped in a [`HeadGuard`] that watches the bytes of every HTTP/1 request head as they
//! arrive. actix times only a connection's *first* head, and answers a request line longer
//! than it can parse with a bare 400 or 431; the guard gives every head on a keep-alive
//! connection the request timeout (408), and any request line over `--max-url-bytes` the
//! 414 JSON the pipeline gives below that. It only reads what passes; HTTP/2 and upgraded
//! (WebSocket) connections pass untouched.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_http::error::DispatchError;
use actix_http::{HttpService, Protocol, Request, Response};
use actix_service::{
    IntoServiceFactory, Service, ServiceFactory, ServiceFactoryExt, fn_service, map_config,
};
use actix_web::body::MessageBody;
use actix_web::dev::{AppConfig, Extensions};
use actix_web::rt::net::TcpStream;
use actix_web::{Error, ResponseError};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::ApiError;

/// What the guard enforces on each request head.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeadLimits {
    /// The longest request line: the URL limit and room for the method and the version.
    pub(crate) max_line: usize,
    /// `--max-url-bytes`, for the 414's body.
    pub(crate) max_url: usize,
    /// How long one head may take to arrive, from its first byte.
    pub(crate) timeout: Duration,
}

impl HeadLimits {
    pub(crate) fn new(max_url: usize, timeout: Duration) -> HeadLimits {
        HeadLimits {
            // "OPTIONS " and " HTTP/1.1" and a little slack.
            max_line: max_url.saturating_add(32),
            max_url,
            timeout,
        }
    }
}

/// Where a connection is between requests.
enum Watch {
    /// Waiting for the first byte of the next head.
    Idle,
    /// Inside a head: its request line so far, the last bytes seen, and whether the deadline
    /// runs (only for a head that did not arrive in one read: most do).
    Head {
        line: usize,
        line_done: bool,
        tail: [u8; 3],
        timed: bool,
    },
    /// A head is complete: its body and its answer follow, under the pipeline's limits.
    Request,
    /// Not watched: HTTP/2, an upgraded connection, or bytes that do not look like a head.
    Off,
}

/// A connection whose HTTP/1 request heads are watched as they arrive.
pub(crate) struct HeadGuard<T> {
    io: T,
    limits: HeadLimits,
    watch: Watch,
    /// The deadline of the head arriving, made once per connection and reset per head.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// An answer to write before the connection reads as closed: the 414 or the 408.
    refusal: Option<(Vec<u8>, usize)>,
}

impl<T> HeadGuard<T> {
    pub(crate) fn new(io: T, limits: HeadLimits, http1: bool) -> HeadGuard<T> {
        HeadGuard {
            io,
            limits,
            watch: if http1 { Watch::Idle } else { Watch::Off },
            deadline: None,
            refusal: None,
        }
    }

    pub(crate) fn get_ref(&self) -> &T {
        &self.io
    }

    /// Follows `bytes` read from the client; an answer to give instead when a limit is passed.
    fn read(&mut self, bytes: &[u8]) -> Option<ApiError> {
        // Line ends are found with `position`, not byte by byte: this runs on every request.
        let mut i = 0;
        while i < bytes.len() {
            match &mut self.watch {
                Watch::Off | Watch::Request => return None,
                Watch::Idle => {
                    let b = bytes[i];
                    i += 1;
                    // Blank lines between requests are allowed (RFC 9112 §2.2); anything but
                    // a method's first letter is not a head this guard understands.
                    if b == b'\r' || b == b'\n' {
                        continue;
                    }
                    if !b.is_ascii_uppercase() {
                        self.watch = Watch::Off;
                        return None;
                    }
                    self.watch = Watch::Head {
                        line: 1,
                        line_done: false,
                        tail: [0, 0, b],
                        timed: false,
                    };
                }
                Watch::Head {
                    line,
                    line_done,
                    tail,
                    ..
                } => {
                    let rest = &bytes[i..];
                    if !*line_done {
                        let until = rest.iter().position(|&b| b == b'\n');
                        *line += until.unwrap_or(rest.len());
                        if *line > self.limits.max_line {
                            return Some(ApiError::UriTooLong {
                                limit: self.limits.max_url,
                            });
                        }
                        *line_done = until.is_some();
                    }
                    // `\n\n` or `\n\r\n` (so `\r\n\r\n`) ends a head; the bytes before this
                    // read are in `tail`.
                    let before = |k: usize, back: usize| -> u8 {
                        if k >= back {
                            rest[k - back]
                        } else {
                            tail[3 + k - back]
                        }
                    };
                    let mut from = 0;
                    let mut end = None;
                    while let Some(p) = rest[from..].iter().position(|&b| b == b'\n') {
                        let k = from + p;
                        let one = before(k, 1);
                        if one == b'\n' || (one == b'\r' && before(k, 2) == b'\n') {
                            end = Some(k);
                            break;
                        }
                        from = k + 1;
                    }
                    match end {
                        Some(k) => {
                            i += k + 1;
                            self.watch = Watch::Request;
                        }
                        None => {
                            let keep = rest.len().min(3);
                            let mut next = *tail;
                            next.rotate_left(keep);
                            next[3 - keep..].copy_from_slice(&rest[rest.len() - keep..]);
                            *tail = next;
                            i = bytes.len();
                        }
                    }
                }
            }
        }
        // A head still incomplete after this read gets its deadline.
        if let Watch::Head { timed, .. } = &mut self.watch
            && !*timed
        {
            *timed = true;
            let at = tokio::time::Instant::now() + self.limits.timeout;
            match &mut self.deadline {
                Some(d) => d.as_mut().reset(at),
                None => self.deadline = Some(Box::pin(tokio::time::sleep_until(at))),
            }
        }
        None
    }

    /// Follows a write to the client: an answer starting ends the request it answers.
    fn wrote(&mut self, bytes: &[u8]) {
        if !matches!(self.watch, Watch::Request) || bytes.is_empty() {
            return;
        }
        if bytes.starts_with(b"HTTP/1.1 101") {
            // Upgraded: what follows is WebSocket frames.
            self.watch = Watch::Off;
        } else if !bytes.starts_with(b"HTTP/1.1 100") {
            // (A 100 Continue comes before the body, which is no head.)
            self.watch = Watch::Idle;
        }
    }

    fn refuse(&mut self, error: ApiError) {
        self.watch = Watch::Off;
        self.refusal = Some((raw_response(&error), 0));
    }
}

/// `error` as the bytes of a whole HTTP/1.1 response that closes the connection.
fn raw_response(error: &ApiError) -> Vec<u8> {
    let response = error.error_response();
    let status = response.status();
    let body = match response.into_body().try_into_bytes() {
        Ok(b) => b.to_vec(),
        Err(_) => Vec::new(),
    };
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for HeadGuard<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let (Watch::Head { timed: true, .. }, Some(deadline)) = (&this.watch, &mut this.deadline)
            && deadline.as_mut().poll(cx).is_ready()
        {
            let timeout_ms = this.limits.timeout.as_millis() as u64;
            this.refuse(ApiError::HeadTimeout { timeout_ms });
        }
        // A refusal is written whole, then the connection reads as closed: actix ends it.
        if let Some((bytes, sent)) = &mut this.refusal {
            while *sent < bytes.len() {
                match Pin::new(&mut this.io).poll_write(cx, &bytes[*sent..]) {
                    Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                    Poll::Ready(Ok(n)) => *sent += n,
                    Poll::Pending => return Poll::Pending,
                }
            }
            return match Pin::new(&mut this.io).poll_flush(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(_) => Poll::Ready(Ok(())),
            };
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled
            && let Some(error) = this.read(&buf.filled()[before..])
        {
            // What was read is dropped: actix never sees this head.
            buf.set_filled(before);
            tracing::debug!("refusing a request head: {error}");
            this.refuse(error);
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        polled
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for HeadGuard<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            this.wrote(&buf[..n]);
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = polled
            && n > 0
            && let Some(first) = bufs.iter().find(|b| !b.is_empty())
        {
            this.wrote(&first[..n.min(first.len())]);
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// How the HTTP service runs on each connection.
#[derive(Clone)]
pub(crate) struct Transport {
    pub(crate) head: HeadLimits,
    pub(crate) keep_alive: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) on_connect: fn(&dyn std::any::Any, &mut Extensions),
}

type TlsStream = actix_tls::accept::rustls_0_23::TlsStream<TcpStream>;

/// Listens on `listener` with `builder`, serving what `factory` makes, over TLS when `tls`
/// is given (HTTP/2 by ALPN then); each connection guarded.
pub(crate) fn listen<F, I, S, B>(
    builder: actix_server::ServerBuilder,
    listener: TcpListener,
    tls: Option<rustls::ServerConfig>,
    transport: Transport,
    factory: F,
) -> io::Result<actix_server::ServerBuilder>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<Error> + 'static,
    S::InitError: std::fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    let addr: SocketAddr = listener.local_addr()?;
    let name = format!("mockrig-{addr}");
    // The service actix-web would build for this app, with the same settings: a macro, as
    // each branch below makes it for another type of connection.
    macro_rules! http {
        ($transport:expr, $factory:expr) => {{
            let on_connect = $transport.on_connect;
            let app = ($factory)()
                .into_factory()
                .map_err(|e: S::Error| e.into().error_response());
            HttpService::build()
                .keep_alive($transport.keep_alive)
                .client_request_timeout($transport.request_timeout)
                .local_addr(addr)
                // The socket under the guard, as actix-web would pass it.
                .on_connect_ext(move |io: &HeadGuard<_>, ext: &mut Extensions| {
                    on_connect(io.get_ref() as &dyn std::any::Any, ext)
                })
                .finish(map_config(app, move |_| AppConfig::default()))
        }};
    }
    match tls {
        None => builder.listen(name, listener, move || {
            let head = transport.head;
            fn_service(move |io: TcpStream| async move {
                let peer = io.peer_addr().ok();
                Ok::<_, DispatchError>((HeadGuard::new(io, head, true), Protocol::Http1, peer))
            })
            .and_then(http!(transport, factory))
        }),
        Some(mut config) => {
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            builder.listen(name, listener, move || {
                let head = transport.head;
                actix_tls::accept::rustls_0_23::Acceptor::new(config.clone())
                    .map_init_err(|_| ())
                    .map_err(|e| DispatchError::Io(io::Error::other(format!("TLS: {e:?}"))))
                    .and_then(move |io: TlsStream| async move {
                        let h2 = io.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
                        let peer = io.get_ref().0.peer_addr().ok();
                        let protocol = if h2 { Protocol::Http2 } else { Protocol::Http1 };
                        Ok::<_, DispatchError>((HeadGuard::new(io, head, !h2), protocol, peer))
                    })
                    .and_then(http!(transport, factory))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> HeadGuard<()> {
        HeadGuard::new((), HeadLimits::new(100, Duration::from_secs(5)), true)
    }

    #[tokio::test]
    async fn heads_are_followed_through_keep_alive_requests() {
        let mut g = guard();
        assert!(g.read(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n").is_none());
        assert!(matches!(g.watch, Watch::Request));
        g.wrote(b"HTTP/1.1 200 OK\r\n");
        assert!(matches!(g.watch, Watch::Idle));
        // Split anywhere, with a blank line before it.
        for chunk in [
            &b"\r\nPO"[..],
            b"ST /b HTTP/1.1\r",
            b"\nHost: x\r\n",
            b"\r",
            b"\n",
        ] {
            assert!(g.read(chunk).is_none());
        }
        assert!(matches!(g.watch, Watch::Request));
        // A 100 Continue is not the answer: the body that follows is no head.
        g.wrote(b"HTTP/1.1 100 Continue\r\n\r\n");
        assert!(matches!(g.watch, Watch::Request));
        g.wrote(b"HTTP/1.1 101 Switching Protocols\r\n");
        assert!(matches!(g.watch, Watch::Off));
        assert!(g.read(&[0x81, 0x85, 0, 0, 0, 0]).is_none());
    }

    #[tokio::test]
    async fn a_head_split_anywhere_ends_where_it_ends() {
        for head in [
            &b"GET /a HTTP/1.1\r\nHost: x\r\nA: b\r\n\r\n"[..],
            b"GET / HTTP/1.0\n\n",
        ] {
            for cut in 0..=head.len() {
                for second in [cut, head.len()] {
                    let mut g = guard();
                    assert!(g.read(&head[..cut]).is_none());
                    assert!(g.read(&head[cut..second]).is_none());
                    assert!(g.read(&head[second..]).is_none());
                    assert!(matches!(g.watch, Watch::Request), "cut at {cut}, {second}");
                }
                // One byte short of the end is still a head.
                let mut g = guard();
                g.read(&head[..cut.clamp(1, head.len() - 1)]);
                assert!(matches!(g.watch, Watch::Head { .. }), "cut at {cut}");
            }
        }
    }

    #[tokio::test]
    async fn a_request_line_over_the_limit_is_a_414() {
        let mut g = guard();
        let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(200));
        assert!(matches!(
            g.read(long.as_bytes()),
            Some(ApiError::UriTooLong { limit: 100 })
        ));
        // A long header line is not the request line: the head limits are actix's and the
        // pipeline's.
        let mut g = guard();
        let long_header = format!("GET / HTTP/1.1\r\nX-Long: {}\r\n\r\n", "b".repeat(500));
        assert!(g.read(long_header.as_bytes()).is_none());
    }

    #[tokio::test]
    async fn what_does_not_look_like_a_head_is_left_alone() {
        let mut g = guard();
        assert!(g.read(b"{\"not\": \"a head\"").is_none());
        assert!(matches!(g.watch, Watch::Off));
    }

    #[test]
    fn a_refusal_is_a_whole_json_response_that_closes() {
        let raw = String::from_utf8(raw_response(&ApiError::UriTooLong { limit: 8192 })).unwrap();
        assert!(raw.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{raw}");
        assert!(raw.contains("connection: close\r\n"));
        let body = raw.split("\r\n\r\n").nth(1).unwrap();
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(v["error"].as_str().is_some(), "{v}");
    }
}
