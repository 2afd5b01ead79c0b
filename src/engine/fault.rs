//! Failures on purpose: `fault: reset`, `empty` and `malformed`, and bodies sent slowly
//! (`throttle`).
//!
//! actix has no way to write raw bytes or reset a connection from a handler, so mockrig keeps
//! each connection's socket descriptor (taken once, when the connection is accepted) and acts
//! on the socket itself: `SO_LINGER` 0 turns the close into a TCP reset, and garbage is written
//! past actix's buffers. The handler then answers with a body that fails at once, which makes
//! actix drop the connection without writing a response. Over HTTP/2 a failing body resets
//! just that stream (RST_STREAM), the protocol's own way to fail one request.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::Extensions;
use actix_web::http::Version;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};

use crate::spec::Fault;

/// The socket under a connection, for faults. Only its descriptor: actix owns the socket, and
/// uses of it happen while a request on that connection is being answered, when it is open.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Socket(#[cfg(unix)] std::os::fd::RawFd);

/// Called by actix for each accepted connection (`HttpServer::on_connect`).
pub(crate) fn on_connect(conn: &dyn std::any::Any, ext: &mut Extensions) {
    #[cfg(unix)]
    {
        use actix_web::rt::net::TcpStream;
        use std::os::fd::AsRawFd;
        if let Some(tcp) = conn.downcast_ref::<TcpStream>() {
            ext.insert(Socket(tcp.as_raw_fd()));
        } else if let Some(tls) =
            conn.downcast_ref::<actix_tls::accept::rustls_0_23::TlsStream<TcpStream>>()
        {
            ext.insert(Socket(tls.get_ref().0.as_raw_fd()));
        }
    }
    #[cfg(not(unix))]
    let _ = (conn, ext);
}

/// Whether a connection's client has gone: set by the connection's reader when it reads the
/// end of the stream (the client's FIN) or fails, which actix goes on reading for while a
/// request is held. One per connection, in its `conn_data`.
#[derive(Debug, Default)]
pub(crate) struct Hangup {
    gone: std::sync::atomic::AtomicBool,
    notify: tokio::sync::Notify,
}

impl Hangup {
    /// The client has gone: every request held on the connection is told.
    pub(crate) fn signal(&self) {
        if !self.gone.swap(true, std::sync::atomic::Ordering::AcqRel) {
            self.notify.notify_waiters();
        }
    }

    async fn wait(&self) {
        loop {
            // Registered before the check, so a signal between the two is not missed.
            let notified = self.notify.notified();
            if self.gone.load(std::sync::atomic::Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

/// Resolves when the client of `req` has closed its connection (or it failed); never for a
/// client still there, nor for a connection without the signal. A held request (a long poll)
/// races its wait with this, so a client that goes away stops costing anything at once:
/// actix itself only notices when it next writes. The connection's own reader watches, so a
/// held request costs no descriptor or registration of its own.
pub(crate) async fn hangup(req: &HttpRequest) {
    match req.conn_data::<std::sync::Arc<Hangup>>() {
        Some(h) => h.clone().wait().await,
        None => std::future::pending().await,
    }
}

#[cfg(unix)]
fn with_socket(req: &HttpRequest, f: impl FnOnce(socket2::SockRef<'_>)) {
    if let Some(Socket(fd)) = req.conn_data::<Socket>().copied() {
        // SAFETY: the descriptor belongs to the connection this request arrived on, which
        // actix keeps open at least until this request's response is done; it is borrowed
        // only for this call and never closed here.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        f(socket2::SockRef::from(&fd));
    }
}

/// Bytes that no HTTP client can parse as a response.
const GARBAGE: &[u8] = b"\x00\xffMOCKRIG-MALFORMED\x00\r\n\x7f\x00garbage, not HTTP\r\n\r\n";

/// The fault's name, as the spec writes it and the log shows it.
pub(crate) fn name(f: Fault) -> &'static str {
    match f {
        Fault::Reset => "reset",
        Fault::Empty => "empty",
        Fault::Malformed => "malformed",
    }
}

/// Answers with `fault`: the connection prepared, and a body that fails. For `Empty`, `b`
/// carries the route's status and headers, and the body claims `length` bytes.
pub(crate) fn respond(
    req: &HttpRequest,
    mut b: actix_web::HttpResponseBuilder,
    fault: Fault,
    length: u64,
) -> HttpResponse {
    b.body(body(req, fault, length))
}

fn body(req: &HttpRequest, fault: Fault, length: u64) -> BoxBody {
    let h1 = req.version() < Version::HTTP_2;
    match fault {
        Fault::Reset => {
            #[cfg(unix)]
            if h1 {
                // Closed with SO_LINGER 0, the socket sends RST instead of FIN.
                with_socket(req, |s| {
                    let _ = s.set_linger(Some(Duration::ZERO));
                });
            }
            BoxBody::new(Failing {
                pending_once: false,
                length: 1,
            })
        }
        Fault::Malformed => {
            #[cfg(unix)]
            with_socket(req, |s| {
                let _ = s.send(GARBAGE);
            });
            BoxBody::new(Failing {
                pending_once: false,
                length: 1,
            })
        }
        // The head goes out (the body says it is `length` long), then the connection closes.
        Fault::Empty => BoxBody::new(Failing {
            pending_once: true,
            length: length.max(1),
        }),
    }
}

/// A body that fails. With `pending_once` it first yields once, so actix flushes the head
/// before the failure closes the connection; without, nothing is written at all.
struct Failing {
    pending_once: bool,
    length: u64,
}

#[derive(Debug)]
struct FaultInjected;

impl std::fmt::Display for FaultInjected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("fault injected by the spec")
    }
}

impl std::error::Error for FaultInjected {}

impl MessageBody for Failing {
    type Error = FaultInjected;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.length)
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        if self.pending_once {
            self.pending_once = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(Some(Err(FaultInjected)))
    }
}

/// A body passed on at `rate` bytes per second, in a chunk every tick.
pub(crate) struct Throttled {
    inner: BoxBody,
    buffered: Bytes,
    chunk: usize,
    tick: Duration,
    wait: Option<Pin<Box<actix_web::rt::time::Sleep>>>,
    done: bool,
}

impl Throttled {
    pub(crate) fn new(inner: BoxBody, rate: u64) -> Throttled {
        // Ten chunks a second, or one byte at a time below ten bytes a second.
        let (chunk, tick) = if rate >= 10 {
            (
                usize::try_from(rate / 10).unwrap_or(usize::MAX),
                Duration::from_millis(100),
            )
        } else {
            (1, Duration::from_secs(1) / rate.max(1) as u32)
        };
        Throttled {
            inner,
            buffered: Bytes::new(),
            chunk,
            tick,
            wait: None,
            done: false,
        }
    }
}

impl MessageBody for Throttled {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.inner.size()
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = &mut *self;
        if let Some(wait) = &mut this.wait {
            if wait.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.wait = None;
        }
        while this.buffered.is_empty() {
            if this.done {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => this.done = true,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(b))) => this.buffered = b,
            }
        }
        let n = this.chunk.min(this.buffered.len());
        let out = this.buffered.split_to(n);
        this.wait = Some(Box::pin(actix_web::rt::time::sleep(this.tick)));
        Poll::Ready(Some(Ok(out)))
    }
}
