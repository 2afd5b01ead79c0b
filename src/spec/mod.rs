//! The spec: what a user writes, as Rust types (`types`), read from YAML with every problem
//! located (`load`, `recover`, `locate`, `report`), and described as a JSON Schema for editors
//! (`schema`). Nothing here knows HTTP: the compiler (`crate::model`) turns a spec into what
//! requests are served from.

mod computed;
mod conditions;
mod db;
mod fields;
pub(crate) mod include;
pub(crate) mod load;
pub(crate) mod locate;
pub(crate) mod openapi;
pub(crate) mod origins;
pub(crate) mod places;
mod realtime;
mod recover;
mod report;
mod schema;
mod types;
mod values;

pub use computed::{Computed, ComputedField, Events};
pub use conditions::{MatchText, MatchValue, OPERATOR_NAMES, Operators};
pub use load::LoadError;
pub use openapi::OpenApi;
pub use realtime::*;
pub use report::{Diagnostic, Severity, SpecReport};
pub use schema::json_schema_text;
pub use types::*;
pub use values::{DelayText, DurationText, HeaderValues};
