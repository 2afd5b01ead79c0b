//! The hub's side of `--state redis://`: what it tells the other replicas of its deliveries,
//! and how it makes theirs here (the relay's tasks are `relay`).

use std::sync::atomic::Ordering;

use serde_json::Value;

use super::hub::{Frame, Hub, Target, Who};
use super::relayed::{Reach, Relayed, StubsChanged, WsBody};

/// The bytes of deliveries waiting to be published at most (Redis gone a while).
const RELAY_BYTES: usize = 64 * 1024 * 1024;

impl Hub {
    /// Runs `hook` when the replicas' stubs change (and when this replica starts hearing the
    /// others, as it may have missed a change).
    pub(crate) fn on_stubs_changed(&self, hook: StubsChanged) {
        let _ = self.stubs_changed.set(hook);
    }

    /// Reads the stubs again (see [`Hub::on_stubs_changed`]).
    pub(crate) async fn stubs_changed(&self, version: Option<u64>) {
        if let Some(hook) = self.stubs_changed.get() {
            hook(version).await;
        }
    }

    /// Sends the other replicas' deliveries through `tx` from now on.
    pub(crate) fn relay_through(&self, tx: tokio::sync::mpsc::Sender<Relayed>) {
        let _ = self.relay.set(tx);
    }

    /// Tells the other replicas of a delivery (a no-op without `--state redis://`). A full
    /// queue (Redis gone a while) drops it: the clients here got theirs.
    pub(super) fn relay(&self, message: impl FnOnce() -> Relayed) {
        let Some(tx) = self.relay.get() else {
            return;
        };
        let message = message();
        let weight = message.weight();
        // Bounded in bytes as well as in messages: pushes can be as large as a request body.
        let queued = self.relay_bytes.fetch_add(weight, Ordering::AcqRel);
        if queued + weight > RELAY_BYTES || tx.try_send(message).is_err() {
            self.relay_bytes.fetch_sub(weight, Ordering::AcqRel);
            tracing::debug!("the relay to other replicas is full: a delivery stays here");
        }
    }

    /// A queued delivery was published (or given up): its bytes leave the queue.
    pub(crate) fn relayed(&self, message: &Relayed) {
        self.relay_bytes
            .fetch_sub(message.weight(), Ordering::AcqRel);
    }

    /// Makes here a delivery another replica made.
    pub(crate) async fn deliver_relayed(&self, message: Relayed) {
        match message {
            Relayed::Ws { path, frame } => {
                let frame = match frame {
                    WsBody::Text(t) => Frame::Text(t.into()),
                    WsBody::Binary(b) => Frame::Binary(b),
                };
                self.deliver(&path, frame, Who::All).await;
            }
            Relayed::PushWs { to, text } => {
                let target = match &to {
                    Reach::Path(p) => Target::Path(p),
                    Reach::Channel(c) => Target::Channel(c),
                };
                self.push_ws_here(target, text).await;
            }
            Relayed::Sse { path, frame } => {
                self.send_sse_here(&path, &frame);
            }
            Relayed::PushSse { channel, frame } => {
                self.push_sse_here(Target::Channel(&channel), &frame);
            }
            Relayed::Topic { name, data } => {
                self.topics.publish(&name, data);
            }
            Relayed::Stubs { version } => self.stubs_changed(Some(version)).await,
        }
    }

    /// Publishes `data` on a long-polling topic, here and on the other replicas: the event's
    /// id here and how many waiters here it woke.
    pub(crate) fn publish_topic(&self, topic: &str, data: Value) -> (u64, usize) {
        self.relay(|| Relayed::Topic {
            name: topic.to_owned(),
            data: data.clone(),
        });
        self.topics.publish(topic, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relay_queue_is_bounded_in_bytes() {
        let hub = Hub::default();
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        hub.relay_through(tx);
        let big = "x".repeat(RELAY_BYTES / 2);
        for _ in 0..3 {
            hub.publish_topic("t", Value::String(big.clone()));
        }
        let queued = std::iter::from_fn(|| rx.try_recv().ok()).collect::<Vec<_>>();
        assert_eq!(queued.len(), 1, "the second would pass the byte budget");
        hub.relayed(&queued[0]);
        hub.publish_topic("t", Value::String(big));
        assert!(rx.try_recv().is_ok(), "room again once published");
    }
}
