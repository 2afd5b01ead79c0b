//! The relay between replicas (`--state redis://`): what the hub delivers here is published
//! on one Redis pub/sub channel, and what the other replicas publish there is delivered to the
//! clients here. Two tasks per server: one publishes in order, one listens and reconnects by
//! itself when Redis goes away.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::hub::Hub;
use super::relayed::Relayed;

/// The pub/sub channel every replica of one Redis database speaks on. Redis delivers pub/sub
/// to every database's subscribers: the database number is part of the name.
pub(crate) fn channel(client: &redis::Client) -> String {
    format!(
        "mockrig:channels:{}",
        client.get_connection_info().redis_settings().db()
    )
}

/// Deliveries waiting to be published; past this (Redis gone a while) new ones are not.
const QUEUE: usize = 4096;

/// Starts relaying `hub`'s deliveries through the Redis of `client`. Call inside the server's
/// runtime.
pub(crate) fn start(hub: Arc<Hub>, client: redis::Client) {
    let (tx, rx) = tokio::sync::mpsc::channel(QUEUE);
    hub.relay_through(tx);
    // Tells this replica's messages from the others' on the shared channel.
    let me = uuid::Uuid::new_v4().to_string();
    tokio::spawn(publish(client.clone(), rx, me.clone(), hub.clone()));
    tokio::spawn(listen(client, hub, me));
}

async fn publish(
    client: redis::Client,
    mut rx: tokio::sync::mpsc::Receiver<Relayed>,
    me: String,
    hub: Arc<Hub>,
) {
    let name = channel(&client);
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(Duration::from_secs(2)));
    let mut con = match ConnectionManager::new_lazy_with_config(client, config) {
        Ok(con) => con,
        Err(e) => {
            tracing::warn!("channels are not relayed to other replicas: {e}");
            return;
        }
    };
    while let Some(message) = rx.recv().await {
        hub.relayed(&message);
        let sent: redis::RedisResult<i64> = redis::cmd("PUBLISH")
            .arg(&name)
            .arg(message.encode(&me))
            .query_async(&mut con)
            .await;
        if let Err(e) = sent {
            tracing::warn!("a delivery was not relayed to the other replicas: {e}");
        }
    }
}

/// Listens for the other replicas' deliveries for as long as the server runs.
async fn listen(client: redis::Client, hub: Arc<Hub>, me: String) {
    let name = channel(&client);
    let mut pause = Duration::from_millis(100);
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(&name).await {
                Ok(()) => {
                    hub.hearing.store(true, Ordering::Release);
                    pause = Duration::from_millis(100);
                    // Stubs changed while this replica did not hear may be missing here.
                    hub.stubs_changed(None).await;
                    let mut messages = pubsub.on_message();
                    while let Some(m) = messages.next().await {
                        match Relayed::decode(m.get_payload_bytes()) {
                            // Stubs are announced to every replica, the announcer included:
                            // each says when it serves them.
                            Some((_, message @ Relayed::Stubs { .. })) => {
                                hub.deliver_relayed(message).await;
                            }
                            Some((from, message)) if from != me => {
                                hub.deliver_relayed(message).await;
                            }
                            _ => {}
                        }
                    }
                    hub.hearing.store(false, Ordering::Release);
                    tracing::warn!("lost the other replicas' channel messages; reconnecting");
                }
                Err(e) => tracing::debug!("cannot subscribe to {name}: {e}"),
            },
            Err(e) => tracing::debug!("cannot listen to the other replicas: {e}"),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}
