//! A server on its own thread, with its own actix runtime: what [`MockServer`](crate::MockServer)
//! runs inside a test process. Dropping it stops the server and joins the thread.

use std::net::SocketAddr;

use actix_web::dev::ServerHandle;
use actix_web::web;

use super::config::ServeConfig;
use super::server::{Server, StartError};
use super::state::AppState;

/// A server on a thread of its own, with its own actix system: what `MockServer` runs inside
/// a test. Dropping it stops the server and joins the thread.
pub(crate) struct BackgroundServer {
    addr: SocketAddr,
    url: String,
    app: web::Data<AppState>,
    handle: ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BackgroundServer {
    /// Starts a server and returns once it is listening.
    pub(crate) fn start(config: ServeConfig) -> Result<BackgroundServer, StartError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                match Server::start(&config) {
                    Ok(server) => {
                        let ready = (server.addr(), server.url(), server.app().clone());
                        let _ = tx.send(Ok((ready, server.handle())));
                        if let Err(e) = server.run().await {
                            tracing::error!("server stopped with an error: {e}");
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            })
        });
        match rx.recv() {
            Ok(Ok(((addr, url, app), handle))) => Ok(BackgroundServer {
                addr,
                url,
                app,
                handle,
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err(StartError::ThreadDied),
        }
    }

    /// The address it listens on (its port, when port 0 was asked for).
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR` (or `https://`).
    pub(crate) fn url(&self) -> String {
        self.url.clone()
    }

    /// The running server's state: its spec, resource data and journal.
    pub(crate) fn app(&self) -> &AppState {
        &self.app
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        // `stop` sends its command at once; the returned future only waits for completion,
        // which joining the thread does too.
        drop(self.handle.stop(false));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
