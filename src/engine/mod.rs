//! The engine: what answering takes beyond the compiled spec. The state that outlives a reload
//! lives here, beside the model rather than in it: resource data (`resources`), open
//! connections (`channels`), answer counts and scenario states (`route_state`), the request
//! journal (`journal`) and sessions (`sessions`). The rest turns the model into answers:
//! finding the route (`routing`), explaining a miss (`near_miss`), rendering a response
//! (`respond`, `template_context`, `fault`), CORS decisions (`cors`), passing requests to a
//! real backend (`upstream`) and writing what it answered as a spec (`recording`). Nothing here knows the
//! application: the request pipeline (`crate::app`) calls into it.

pub(crate) mod channels;
pub(crate) mod cors;
pub(crate) mod fault;
pub(crate) mod journal;
pub(crate) mod monitor;
pub(crate) mod near_miss;
pub(crate) mod openapi;
pub(crate) mod recording;
pub(crate) mod request_view;
pub(crate) mod resources;
pub(crate) mod respond;
pub(crate) mod route_state;
pub(crate) mod routing;
pub(crate) mod sessions;
pub(crate) mod snapshot;
pub(crate) mod template_context;
pub(crate) mod upstream;
