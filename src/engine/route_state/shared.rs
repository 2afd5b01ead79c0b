//! Answer counts and scenario states every replica shares (`--state redis://`): counts are
//! one Redis hash incremented atomically, scenario states another, moved by a
//! compare-and-set so replicas answering at once advance a scenario once. Each replica keeps
//! the states it last read beside them for routing (`RouteState`), and reads them again
//! before routing a request of a spec that has scenarios.

use std::collections::HashMap;
use std::sync::Arc;

use redis::Script;

use crate::engine::resources::redis::{Shared, SharedError};
use crate::error::ApiError;
use crate::model::compile::STARTED;

const HITS: &str = "mockrig:hits";
const SCENARIOS: &str = "mockrig:scenarios";

pub(crate) struct SharedRouteState {
    shared: Arc<Shared>,
    step: Script,
}

impl SharedRouteState {
    pub(crate) fn new(shared: Arc<Shared>) -> SharedRouteState {
        SharedRouteState {
            shared,
            step: Script::new(include_str!("step.lua")),
        }
    }

    fn refused(&self) -> impl Fn(redis::RedisError) -> ApiError + '_ {
        |e| self.shared.refusal(SharedError::Unavailable(e.to_string()))
    }

    fn connection(&self) -> Result<redis::aio::ConnectionManager, ApiError> {
        self.shared
            .connection()
            .map_err(|e| self.shared.refusal(e))
    }

    /// How many times the route with fingerprint `key` answered before, on any replica,
    /// counting this one.
    pub(crate) async fn hit(&self, key: u64) -> Result<u64, ApiError> {
        let n: u64 = redis::cmd("HINCRBY")
            .arg(HITS)
            .arg(key.to_string())
            .arg(1)
            .query_async(&mut self.connection()?)
            .await
            .map_err(self.refused())?;
        Ok(n.saturating_sub(1))
    }

    /// Every scenario's state that was ever moved.
    pub(crate) async fn states(&self) -> Result<HashMap<String, String>, ApiError> {
        redis::cmd("HGETALL")
            .arg(SCENARIOS)
            .query_async(&mut self.connection()?)
            .await
            .map_err(self.refused())
    }

    /// Moves `scenario` to `then` if it is in `when` (any state, without one); whether it
    /// moved.
    pub(crate) async fn step(
        &self,
        scenario: &str,
        when: Option<&str>,
        then: &str,
    ) -> Result<bool, ApiError> {
        let moved: i64 = self
            .step
            .key(SCENARIOS)
            .arg(scenario)
            .arg(if when.is_some() { "1" } else { "0" })
            .arg(when.unwrap_or_default())
            .arg(then)
            .arg(STARTED)
            .invoke_async(&mut self.connection()?)
            .await
            .map_err(self.refused())?;
        Ok(moved == 1)
    }

    /// Counts and scenarios back to the start, for every replica.
    pub(crate) async fn reset(&self) -> Result<(), ApiError> {
        redis::cmd("DEL")
            .arg(HITS)
            .arg(SCENARIOS)
            .query_async::<i64>(&mut self.connection()?)
            .await
            .map_err(self.refused())?;
        Ok(())
    }
}
