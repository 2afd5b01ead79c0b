//! Passing requests to a real backend (`proxy:` and `server.fallback`): the client
//! (`client`), one HTTP exchange streamed through (`forward`), and WebSocket upgrades passed
//! through frame by frame (`ws`).

pub(crate) mod client;
pub(crate) mod forward;
pub(crate) mod ws;
