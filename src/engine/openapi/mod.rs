//! What answering an OpenAPI operation takes at request time: validating the request against
//! the operation, and picking and writing the answer.

pub(crate) mod answer;
mod multipart;
pub(crate) mod validate;
