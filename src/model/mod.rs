//! The serving model: a spec compiled once into what requests are answered from, immutable
//! until the next reload. `compile` is the one pass that parses every part of a spec (paths,
//! durations, templates, regexes, seeds, files) and reports every problem at once; `build`
//! joins it to the loader's located report. Nothing here answers HTTP: the engine
//! (`crate::engine`) and the request pipeline (`crate::app`) do.

pub(crate) mod build;
pub(crate) mod channel;
mod checks;
pub(crate) mod compile;
pub(crate) mod compiled;
pub(crate) mod computed;
pub(crate) mod condition;
pub(crate) mod cors;
pub(crate) mod gate;
pub(crate) mod input;
pub(crate) mod matcher;
pub(crate) mod negotiate;
pub(crate) mod openapi;
mod pass;
pub(crate) mod private;
pub(crate) mod problems;
pub(crate) mod proxy;
pub(crate) mod resource;
pub(crate) mod response;
pub(crate) mod router;
#[cfg(test)]
pub(crate) mod testing;
