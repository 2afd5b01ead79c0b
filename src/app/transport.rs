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
use std::sync::Arc;
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

use super::head_watch::{HeadLimits, HeadWatch, Verdict};
use crate::engine::fault::Hangup;
use crate::error::ApiError;

/// A connection whose HTTP/1 request heads are watched as they arrive ([`HeadWatch`]).
pub(crate) struct HeadGuard<T> {
    io: T,
    watch: HeadWatch,
    /// The deadline of the head arriving, made once per connection and reset per head.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// An answer to write before the connection reads as closed: the 414 or the 408.
    refusal: Option<(Vec<u8>, usize)>,
    /// Told when the client's end of the stream (or an error) is read.
    hangup: Arc<Hangup>,
}

impl<T> HeadGuard<T> {
    pub(crate) fn new(io: T, limits: HeadLimits, http1: bool) -> HeadGuard<T> {
        HeadGuard {
            io,
            watch: HeadWatch::new(limits, http1),
            deadline: None,
            refusal: None,
            hangup: Arc::default(),
        }
    }

    pub(crate) fn get_ref(&self) -> &T {
        &self.io
    }

    /// What held requests on this connection await to learn that the client has gone.
    pub(crate) fn hangup(&self) -> Arc<Hangup> {
        self.hangup.clone()
    }

    /// Refuses the head in progress: with `error` written back when nothing else is being
    /// answered on the connection, else by closing it (bytes of a refusal in the middle of
    /// another answer would garble both). Err: close now.
    fn refuse(&mut self, error: ApiError) -> io::Result<()> {
        tracing::debug!("refusing a request head: {error}");
        let answerable = self.watch.answerable();
        self.watch.stop();
        if answerable {
            self.refusal = Some((raw_response(&error), 0));
            Ok(())
        } else {
            Err(io::Error::new(io::ErrorKind::TimedOut, error.to_string()))
        }
    }

    fn arm(&mut self) {
        if self.watch.arm_timer() {
            let at = tokio::time::Instant::now() + self.watch.limits().timeout;
            match &mut self.deadline {
                Some(d) => d.as_mut().reset(at),
                None => self.deadline = Some(Box::pin(tokio::time::sleep_until(at))),
            }
        }
    }
}

/// A connection that ends without its reader seeing the end (an HTTP/2 keep-alive timeout)
/// still tells the requests held on it, which over HTTP/2 run as tasks of their own.
impl<T> Drop for HeadGuard<T> {
    fn drop(&mut self) {
        self.hangup.signal();
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
        if this.watch.timing()
            && let Some(deadline) = &mut this.deadline
            && deadline.as_mut().poll(cx).is_ready()
        {
            let timeout_ms = this.watch.limits().timeout.as_millis() as u64;
            this.refuse(ApiError::HeadTimeout { timeout_ms })?;
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
        let room = buf.remaining() > 0;
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        match &polled {
            // Nothing read into room for something: the end of the stream.
            Poll::Ready(Ok(())) if room && buf.filled().len() == before => this.hangup.signal(),
            // actix takes these two as "try again", not as the end.
            Poll::Ready(Err(e))
                if !matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                this.hangup.signal()
            }
            _ => {}
        }
        if let Poll::Ready(Ok(())) = polled {
            if let Verdict::Refuse(error) = this.watch.read(&buf.filled()[before..]) {
                // What was read is dropped: actix never sees this head.
                buf.set_filled(before);
                this.refuse(error)?;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            this.arm();
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
            this.watch.wrote(&buf[..n]);
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
            this.watch.wrote(&first[..n.min(first.len())]);
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
                // As actix-web's HttpServer: a connection closed with a request body unread
                // lingers a second, so the client reads the answer (a 413) rather than a reset.
                .client_disconnect_timeout(std::time::Duration::from_secs(1))
                .local_addr(addr)
                // The socket under the guard, as actix-web would pass it.
                .on_connect_ext(move |io: &HeadGuard<_>, ext: &mut Extensions| {
                    ext.insert(io.hangup());
                    on_connect(io.get_ref() as &dyn std::any::Any, ext)
                })
                .finish(map_config(app, move |_| AppConfig::default()))
        }};
    }
    match tls {
        None => builder.listen(name, listener, move || {
            let head = transport.head;
            fn_service(move |io: TcpStream| async move {
                // An answer streamed in parts (a proxied body, a throttled one) must not wait
                // for the client's delayed ACK of the part before: no Nagle.
                let _ = io.set_nodelay(true);
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
                        let _ = io.get_ref().0.set_nodelay(true);
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
