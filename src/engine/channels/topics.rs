//! Topics for long polling: named event streams that `wait:` routes hold their requests on.
//! Each topic numbers its events (1, 2, …), keeps the last ones for cursor-style polling
//! (`?since=ID`), and wakes every waiter with one event. A waiter is a future: it costs no
//! thread, and it is dropped (with its subscription) the moment its client goes away.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::broadcast;

use crate::sync::lock;

/// Events a topic keeps for `?since=`.
const HISTORY: usize = 100;
/// And the bytes (as JSON) they may hold together.
const HISTORY_BYTES: usize = 256 * 1024;
/// Topics kept at most (templated names make one each); beyond it, one nobody waits on goes.
const TOPICS: usize = 1024;

/// One published event: its number in the topic and its data.
pub(crate) type TopicEvent = Arc<(u64, Value)>;

struct Topic {
    next: u64,
    bytes: usize,
    history: VecDeque<(TopicEvent, usize)>,
    tx: broadcast::Sender<TopicEvent>,
}

impl Topic {
    fn new() -> Topic {
        Topic {
            next: 0,
            bytes: 0,
            history: VecDeque::new(),
            // A waiter takes one event and goes: a small buffer is plenty.
            tx: broadcast::channel(16).0,
        }
    }

    fn after(&self, since: u64) -> Vec<TopicEvent> {
        self.history
            .iter()
            .filter(|(e, _)| e.0 > since)
            .map(|(e, _)| e.clone())
            .collect()
    }
}

/// Every topic, by name.
#[derive(Default)]
pub(crate) struct Topics {
    topics: Mutex<HashMap<String, Topic>>,
}

impl Topics {
    /// Publishes `data` on `topic`: every waiter gets it; the topic keeps it for `?since=`.
    /// Returns the event's id and how many waiters it woke.
    pub(crate) fn publish(&self, topic: &str, data: Value) -> (u64, usize) {
        let mut topics = lock(&self.topics);
        if !topics.contains_key(topic) && topics.len() >= TOPICS {
            let idle = topics
                .iter()
                .find(|(_, t)| t.tx.receiver_count() == 0)
                .map(|(k, _)| k.clone());
            if let Some(k) = idle {
                topics.remove(&k);
            }
        }
        let t = topics.entry(topic.to_owned()).or_insert_with(Topic::new);
        t.next += 1;
        let size = serde_json::to_vec(&data).map_or(0, |b| b.len());
        let event: TopicEvent = Arc::new((t.next, data));
        t.bytes += size;
        t.history.push_back((event.clone(), size));
        while t.history.len() > HISTORY || (t.bytes > HISTORY_BYTES && t.history.len() > 1) {
            if let Some((_, s)) = t.history.pop_front() {
                t.bytes -= s;
            }
        }
        let woken = t.tx.send(event).unwrap_or(0);
        (t.next, woken)
    }

    /// The events of `topic` after `since` when there are any (at once), else the next one
    /// published within `timeout`; an empty list when none came.
    pub(crate) async fn wait(
        &self,
        topic: &str,
        since: Option<u64>,
        timeout: Duration,
    ) -> Vec<TopicEvent> {
        let mut rx = {
            let mut topics = lock(&self.topics);
            let t = topics.entry(topic.to_owned()).or_insert_with(Topic::new);
            if let Some(since) = since {
                let newer = t.after(since);
                if !newer.is_empty() {
                    return newer;
                }
            }
            // Subscribed under the lock: no event published after the check can be missed.
            t.tx.subscribe()
        };
        loop {
            match tokio::time::timeout(timeout, rx.recv()).await {
                Ok(Ok(event)) => return vec![event],
                // More events than the buffer came at once: take the next one there is.
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
                Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => return Vec::new(),
            }
        }
    }

    /// Requests waiting on each topic.
    pub(crate) fn waiting(&self) -> serde_json::Map<String, Value> {
        let topics = lock(&self.topics);
        let mut list: Vec<_> = topics
            .iter()
            .map(|(k, t)| (k.clone(), Value::from(t.tx.receiver_count())))
            .collect();
        list.sort_by(|a, b| a.0.cmp(&b.0));
        list.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn one_event_wakes_every_waiter_and_since_answers_from_history() {
        let topics = Arc::new(Topics::default());
        let mut waiters = Vec::new();
        for _ in 0..50 {
            let t = topics.clone();
            waiters.push(tokio::spawn(async move {
                t.wait("orders", None, Duration::from_secs(5)).await
            }));
        }
        // Every waiter has subscribed before the event is published.
        for _ in 0..1000 {
            if topics.waiting().get("orders") == Some(&json!(50)) {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(topics.waiting()["orders"], 50);
        assert_eq!(topics.publish("orders", json!({"id": 1})), (1, 50));
        for w in waiters {
            let got = w.await.unwrap();
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].0, 1);
        }
        topics.publish("orders", json!(2));
        let newer = topics.wait("orders", Some(0), Duration::from_secs(5)).await;
        assert_eq!(newer.iter().map(|e| e.0).collect::<Vec<_>>(), [1, 2]);
        let none = topics
            .wait("orders", Some(2), Duration::from_millis(20))
            .await;
        assert!(none.is_empty());
    }
}
