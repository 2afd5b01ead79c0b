//! The physical limit for mockrig's stack: bare actix-web answering every request with fixed
//! bytes, the way mockrig's default service is reached, with no mock machinery at all.
//! `bench/run` serves the same bytes from this and from mockrig and compares them.
//!
//!     reference BODY_FILE [STATUS] [CONTENT_TYPE]
//!
//! With `REFERENCE_HOLD=1` it never answers: each request waits, as a long poll does, for
//! `bench/longpoll.py` to measure what a held request costs bare actix-web.
//!
//! Prints `reference listening on http://127.0.0.1:PORT` when ready, like mockrig.

use std::io::Write;

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpResponse, HttpServer};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let body = Bytes::from(std::fs::read(
        args.get(1)
            .expect("usage: reference BODY_FILE [STATUS] [CONTENT_TYPE]"),
    )?);
    let status = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let content_type = args
        .get(3)
        .cloned()
        .unwrap_or_else(|| "application/json".into());
    let hold = std::env::var_os("REFERENCE_HOLD").is_some_and(|v| v == "1");
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            let (body, content_type) = (body.clone(), content_type.clone());
            // Reads the request body, as any handler that accepts POST must.
            App::new().default_service(web::to(move |_request_body: Bytes| {
                let (body, content_type) = (body.clone(), content_type.clone());
                async move {
                    if hold {
                        std::future::pending::<()>().await;
                    }
                    HttpResponse::build(status)
                        .content_type(content_type)
                        .body(body)
                }
            }))
        })
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
