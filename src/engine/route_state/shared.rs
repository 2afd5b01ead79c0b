//! What routing reads that every replica shares (`--state redis://`): answer counts (one
//! Redis hash incremented atomically), scenario states (another, moved by a compare-and-set so
//! replicas answering at once advance a scenario once) and the runtime stubs (a hash of routes
//! with a version, announced to every replica, which each acknowledges once it serves them).
//! Each replica keeps what it last read for routing (`RouteState`, its live spec's stubs) and
//! reads the scenario states again before it routes a request of a spec that has scenarios.

use std::collections::HashMap;
use std::sync::Arc;

use redis::Script;

use crate::engine::channels::relay::channel;
use crate::engine::channels::relayed::Relayed;
use crate::engine::resources::redis::{SESSION_TTL, Shared, session_prefix};
use crate::error::ApiError;
use crate::model::compile::STARTED;

const HITS: &str = "mockrig:hits";
const SCENARIOS: &str = "mockrig:scenarios";

/// A key of the shared counts or scenarios, or of a session's own, and how long it outlives
/// its last write (0: for ever).
fn key(name: &str, session: Option<&str>) -> (String, u64) {
    match session {
        None => (name.to_owned(), 0),
        Some(s) => (
            format!(
                "{}:{}",
                session_prefix(s),
                name.trim_start_matches("mockrig:")
            ),
            SESSION_TTL.as_secs(),
        ),
    }
}
const STUBS: &str = "mockrig:stubs";
const STUBS_VERSION: &str = "mockrig:stubs:version";
const STUB_IDS: &str = "mockrig:stubs:next";
const STUBS_ACKS: &str = "mockrig:stubs:acks";

/// How long a change of the stubs waits for every replica to serve it.
const ANNOUNCE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

pub(crate) struct SharedRouteState {
    shared: Arc<Shared>,
    step: Script,
    stubs: Script,
}

/// The runtime stubs as Redis holds them: routes as JSON, by id, and their version.
pub(crate) struct StubSet {
    pub(crate) version: u64,
    pub(crate) routes: Vec<(u64, String)>,
}

impl SharedRouteState {
    pub(crate) fn new(shared: Arc<Shared>) -> SharedRouteState {
        SharedRouteState {
            shared,
            step: Script::new(include_str!("step.lua")),
            stubs: Script::new(include_str!("stubs.lua")),
        }
    }

    fn refused(&self) -> impl Fn(redis::RedisError) -> ApiError + '_ {
        self.shared.refused()
    }

    fn connection(&self) -> Result<redis::aio::ConnectionManager, ApiError> {
        self.shared.connection().map_err(|e| self.shared.refusal(e))
    }

    /// How many times the route with fingerprint `key` answered before, on any replica,
    /// counting this one.
    pub(crate) async fn hit(&self, session: Option<&str>, route: u64) -> Result<u64, ApiError> {
        let (hits, ttl) = key(HITS, session);
        let mut pipe = redis::pipe();
        pipe.cmd("HINCRBY").arg(&hits).arg(route.to_string()).arg(1);
        if ttl > 0 {
            pipe.cmd("EXPIRE").arg(&hits).arg(ttl).ignore();
        }
        let (n,): (u64,) = pipe
            .query_async(&mut self.connection()?)
            .await
            .map_err(self.refused())?;
        Ok(n.saturating_sub(1))
    }

    /// Every scenario's state that was ever moved.
    pub(crate) async fn states(
        &self,
        session: Option<&str>,
    ) -> Result<HashMap<String, String>, ApiError> {
        redis::cmd("HGETALL")
            .arg(key(SCENARIOS, session).0)
            .query_async(&mut self.connection()?)
            .await
            .map_err(self.refused())
    }

    /// Moves `scenario` to `then` if it is in `when` (any state, without one); whether it
    /// moved.
    pub(crate) async fn step(
        &self,
        session: Option<&str>,
        scenario: &str,
        when: Option<&str>,
        then: &str,
    ) -> Result<bool, ApiError> {
        let (scenarios, ttl) = key(SCENARIOS, session);
        let moved: i64 = self
            .step
            .key(scenarios)
            .arg(scenario)
            .arg(if when.is_some() { "1" } else { "0" })
            .arg(when.unwrap_or_default())
            .arg(then)
            .arg(STARTED)
            .arg(ttl)
            .invoke_async(&mut self.connection()?)
            .await
            .map_err(self.refused())?;
        Ok(moved == 1)
    }

    /// Tells every replica (this one too) that the stubs are at `version` now, and waits —
    /// at most [`ANNOUNCE_WAIT`] — until each has read them: a stub added through one replica
    /// answers the next request on every one, without each request asking Redis first.
    pub(crate) async fn announce_stubs(&self, version: u64) -> Result<(), ApiError> {
        let client = self.shared.client();
        let heard: u64 = redis::cmd("PUBLISH")
            .arg(channel(&client))
            .arg(Relayed::Stubs { version }.encode(""))
            .query_async(&mut self.connection()?)
            .await
            .map_err(self.refused())?;
        // A connection of its own (BLPOP would hold up a worker's shared one), which waits as
        // long as the announcement may.
        let config = redis::AsyncConnectionConfig::new()
            .set_response_timeout(Some(ANNOUNCE_WAIT + std::time::Duration::from_secs(1)));
        let mut waiting = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(self.refused())?;
        let acks = format!("{STUBS_ACKS}:{version}");
        let deadline = tokio::time::Instant::now() + ANNOUNCE_WAIT;
        for _ in 0..heard {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            let got: redis::RedisResult<Option<(String, String)>> = redis::cmd("BLPOP")
                .arg(&acks)
                .arg(left.as_secs_f64())
                .query_async(&mut waiting)
                .await;
            // The change is in Redis: a replica slow to say so does not make it fail.
            if !matches!(got, Ok(Some(_))) {
                tracing::warn!("not every replica said it serves stubs version {version}");
                break;
            }
        }
        Ok(())
    }

    /// Says that this replica serves stubs `version` (for [`SharedRouteState::announce_stubs`]).
    pub(crate) async fn ack_stubs(&self, version: u64) -> Result<(), ApiError> {
        let acks = format!("{STUBS_ACKS}:{version}");
        redis::pipe()
            .cmd("RPUSH")
            .arg(&acks)
            .arg(1)
            .ignore()
            .cmd("EXPIRE")
            .arg(&acks)
            .arg(60)
            .ignore()
            .query_async::<()>(&mut self.connection()?)
            .await
            .map_err(self.refused())
    }

    /// Every runtime stub, in id order, with their version.
    pub(crate) async fn stubs(&self) -> Result<StubSet, ApiError> {
        let (version, routes): (String, HashMap<String, String>) = self
            .stubs
            .key(STUBS)
            .key(STUBS_VERSION)
            .arg("read")
            .invoke_async(&mut self.connection()?)
            .await
            .map_err(self.refused())?;
        let mut routes: Vec<(u64, String)> = routes
            .into_iter()
            .filter_map(|(id, route)| Some((id.parse().ok()?, route)))
            .collect();
        routes.sort_by_key(|(id, _)| *id);
        Ok(StubSet {
            version: version.parse().unwrap_or(0),
            routes,
        })
    }

    /// `n` stub ids no replica has given or will give.
    pub(crate) async fn stub_ids(&self, n: usize) -> Result<Vec<u64>, ApiError> {
        let last: u64 = redis::cmd("INCRBY")
            .arg(STUB_IDS)
            .arg(n)
            .query_async(&mut self.connection()?)
            .await
            .map_err(self.refused())?;
        let first = last + 1 - n as u64;
        Ok((first..=last).collect())
    }

    /// Adds stubs (id, route as JSON); the version after.
    pub(crate) async fn add_stubs(&self, routes: &[(u64, String)]) -> Result<u64, ApiError> {
        let mut call = self.stubs.prepare_invoke();
        call.key(STUBS).key(STUBS_VERSION).arg("add");
        for (id, route) in routes {
            call.arg(id).arg(route);
        }
        let (version, _): (String, i64) = call
            .invoke_async(&mut self.connection()?)
            .await
            .map_err(self.refused())?;
        Ok(version.parse().unwrap_or(0))
    }

    /// Removes stub `id` (`clear`: every one); the version after, and whether one went.
    pub(crate) async fn remove_stubs(&self, id: Option<u64>) -> Result<(u64, bool), ApiError> {
        let mut call = self.stubs.prepare_invoke();
        call.key(STUBS).key(STUBS_VERSION);
        match id {
            Some(id) => call.arg("remove").arg(id),
            None => call.arg("clear"),
        };
        let (version, removed): (String, i64) = call
            .invoke_async(&mut self.connection()?)
            .await
            .map_err(self.refused())?;
        Ok((version.parse().unwrap_or(0), removed == 1))
    }

    /// Counts and scenarios (a session's) back to the start, for every replica.
    pub(crate) async fn reset(&self, session: Option<&str>) -> Result<(), ApiError> {
        redis::cmd("DEL")
            .arg(key(HITS, session).0)
            .arg(key(SCENARIOS, session).0)
            .query_async::<i64>(&mut self.connection()?)
            .await
            .map_err(self.refused())?;
        Ok(())
    }
}
