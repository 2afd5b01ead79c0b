//! Load for `bench/ws.py`: holds, echoes and fans out WebSocket messages, and prints what it
//! measured as one JSON line.
//!
//!     wsbench hold URL N                 # N idle connections; prints `held`, closes on stdin EOF
//!     wsbench echo URL MESSAGES          # one connection, one message at a time: round trips
//!     wsbench fanout URL SUBSCRIBERS MESSAGES   # one publisher, many subscribers: deliveries/s

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> Ws {
    assert!(url.starts_with("ws://127.0.0.1:"), "loopback only: {url}");
    tokio_tungstenite::connect_async(url)
        .await
        .expect("handshake")
        .0
}

async fn next_text(ws: &mut Ws) -> String {
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return t.to_string(),
            Ok(Some(Ok(_))) => continue,
            other => panic!("connection ended: {other:?}"),
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = &args[2];
    let num = |i: usize| args[i].parse::<usize>().expect("a number");
    match args[1].as_str() {
        "hold" => {
            let mut conns = Vec::with_capacity(num(3));
            // In batches, so the listen backlog is not overrun.
            for chunk in 0..num(3).div_ceil(200) {
                let n = (num(3) - chunk * 200).min(200);
                let batch = futures_util::future::join_all((0..n).map(|_| connect(url))).await;
                conns.extend(batch);
            }
            println!("{{\"held\": {}}}", conns.len());
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            for mut c in conns {
                let _ = c.close(None).await;
            }
        }
        "echo" => {
            let mut ws = connect(url).await;
            let payload = "x".repeat(32);
            let mut rtts = Vec::with_capacity(num(3));
            let started = Instant::now();
            for _ in 0..num(3) {
                let t = Instant::now();
                ws.send(Message::text(payload.clone())).await.unwrap();
                assert_eq!(next_text(&mut ws).await.len(), payload.len());
                rtts.push(t.elapsed());
            }
            let secs = started.elapsed().as_secs_f64();
            rtts.sort();
            println!(
                "{{\"p50_us\": {:.1}, \"p99_us\": {:.1}, \"per_sec\": {:.0}}}",
                percentile(&rtts, 0.5),
                percentile(&rtts, 0.99),
                rtts.len() as f64 / secs
            );
            let _ = ws.close(None).await;
        }
        "fanout" => {
            let (subs, messages) = (num(3), num(4));
            let mut subscribers = Vec::with_capacity(subs);
            for _ in 0..subs {
                subscribers.push(connect(url).await);
            }
            let mut publisher = connect(url).await;
            // Every subscriber is registered once it has received a message: send warm-ups
            // until all have one (bounded).
            let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
            let mut ready_rx = Vec::new();
            for mut s in subscribers {
                let (ready_tx, ready) = tokio::sync::oneshot::channel::<()>();
                ready_rx.push(ready);
                let done_tx = done_tx.clone();
                tokio::spawn(async move {
                    let mut ready_tx = Some(ready_tx);
                    let mut counted = 0;
                    loop {
                        let t = next_text(&mut s).await;
                        if t == "warmup" {
                            if let Some(r) = ready_tx.take() {
                                let _ = r.send(());
                            }
                            continue;
                        }
                        counted += 1;
                        if counted == messages {
                            let _ = done_tx.send(Instant::now());
                            let _ = s.close(None).await;
                            return;
                        }
                    }
                });
            }
            publisher.send(Message::text("warmup")).await.unwrap();
            for r in ready_rx {
                tokio::time::timeout(Duration::from_secs(30), r)
                    .await
                    .expect("every subscriber receives the warm-up")
                    .unwrap();
            }
            let payload = "y".repeat(32);
            let started = Instant::now();
            for _ in 0..messages {
                publisher
                    .send(Message::text(payload.clone()))
                    .await
                    .unwrap();
            }
            let mut last = started;
            for _ in 0..subs {
                last = last.max(done_rx.recv().await.unwrap());
            }
            let secs = (last - started).as_secs_f64();
            println!(
                "{{\"deliveries\": {}, \"seconds\": {:.3}, \"per_sec\": {:.0}}}",
                subs * messages,
                secs,
                (subs * messages) as f64 / secs
            );
        }
        other => panic!("unknown mode {other}"),
    }
}
