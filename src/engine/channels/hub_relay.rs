//! The hub's side of `--state redis://`: what it tells the other replicas of its deliveries,
//! and how it makes theirs here (the relay's tasks are `relay`).

use serde_json::Value;

use super::hub::{Frame, Hub, Target, Who};
use super::relayed::{Reach, Relayed, StubsChanged, WsBody};

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
        if let Some(tx) = self.relay.get()
            && tx.try_send(message()).is_err()
        {
            tracing::debug!("the relay to other replicas is full: a delivery stays here");
        }
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
