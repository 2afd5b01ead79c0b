//! The physical limit for mockrig's WebSocket channels: bare actix-ws with an echo at
//! `/ws/echo` and a broadcast (to everyone but the sender) at `/ws/fan`, and nothing else.
//! `bench/ws.py` runs the same load against this and against mockrig.
//!
//! Prints `reference listening on http://127.0.0.1:PORT` when ready, like mockrig.

use std::io::Write;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use actix_ws::AggregatedMessage;
use futures_util::StreamExt;

type Peers = Arc<Mutex<Vec<(u64, actix_ws::Session)>>>;

async fn ws(
    req: HttpRequest,
    body: web::Payload,
    peers: web::Data<Peers>,
) -> actix_web::Result<HttpResponse> {
    let (res, mut session, stream) = actix_ws::handle(&req, body)?;
    let mut stream = stream.aggregate_continuations();
    let fan = req.path() == "/ws/fan";
    let id = rand_id();
    if fan {
        peers.lock().unwrap().push((id, session.clone()));
    }
    let peers = peers.get_ref().clone();
    actix_web::rt::spawn(async move {
        while let Some(Ok(msg)) = stream.next().await {
            match msg {
                AggregatedMessage::Text(t) if fan => {
                    let others: Vec<_> = peers
                        .lock()
                        .unwrap()
                        .iter()
                        .filter(|(p, _)| *p != id)
                        .map(|(_, s)| s.clone())
                        .collect();
                    for mut s in others {
                        let _ = s.text(t.clone()).await;
                    }
                }
                AggregatedMessage::Text(t) => {
                    let sent = session.text(t).await;
                    if sent.is_err() {
                        break;
                    }
                }
                AggregatedMessage::Ping(b) => {
                    let _ = session.pong(&b).await;
                }
                AggregatedMessage::Close(reason) => {
                    let _ = session.clone().close(reason).await;
                    break;
                }
                _ => {}
            }
        }
        peers.lock().unwrap().retain(|(p, _)| *p != id);
    });
    Ok(res)
}

fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn main() -> std::io::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let peers = web::Data::new(Peers::default());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(peers.clone())
                .default_service(web::to(ws))
        })
        .max_connections(25_000)
        // As mockrig's sockets are: without it, Nagle's algorithm would merge the small frames
        // a broadcast writes to each client into fewer packets, which mockrig does not do (a
        // streamed answer must not wait for the client's delayed ACK of the part before).
        .tcp_nodelay(true)
        .bind(("127.0.0.1", 0))?;
        let addr = server.addrs()[0];
        let mut out = std::io::stdout();
        writeln!(out, "reference listening on http://{addr}")?;
        out.flush()?;
        server.run().await
    })
}
