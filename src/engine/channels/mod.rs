//! Real-time channels: WebSocket connections (`ws`) and Server-Sent Events streams (`sse`),
//! the hub that knows every open one (`hub`), the SSE wire format (`frame`), the check of
//! WebSocket frame headers before anything buffers a frame (`frame_guard`) and the `emit`s of
//! routes and resources (`emit`), and with `--state redis://` the relay of deliveries to the
//! other replicas (`relayed`, `relay`, and the hub's side of it, `hub_relay`). The definitions
//! they follow are the compiled spec's (`model::channel`).

pub(crate) mod emit;
pub(crate) mod frame;
pub(crate) mod frame_guard;
pub(crate) mod hub;
pub(crate) mod hub_relay;
pub(crate) mod relay;
pub(crate) mod relayed;
pub(crate) mod sse;
pub(crate) mod topics;
pub(crate) mod ws;
