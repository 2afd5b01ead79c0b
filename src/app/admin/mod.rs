//! mockrig's own endpoints under `/__mockrig/`, a prefix spec routes may not use: one module
//! per area (`status`, `stubs`, `journal`, `data`, `channels`, and the dashboard: `ui` and
//! `events`), the session they act on taken
//! by an extractor (`extract`), and who may call at all (`guard`: a token, or local names and
//! the server's own origin). Every handler answers
//! `Result<_, ApiError>`, so errors look the same everywhere.

pub(crate) mod access;
mod channels;
mod data;
mod events;
mod extract;
mod guard;
mod journal;
mod status;
mod stubs;
mod ui;

use actix_web::web;

use crate::model::problems::RESERVED_PREFIX;

/// The admin routes, registered ahead of the spec's default service.
pub(crate) fn scope() -> actix_web::Scope<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    web::scope(RESERVED_PREFIX)
        .wrap(actix_web::middleware::from_fn(guard::protect))
        .wrap(actix_web::middleware::from_fn(super::limits::guard))
        .route("/health", web::get().to(status::health))
        .route("/status", web::get().to(status::status))
        .route("/reload", web::post().to(status::reload))
        .route("/scenarios", web::get().to(status::scenarios))
        .route("/scenarios/{name}", web::put().to(status::set_scenario))
        .route("/routes", web::get().to(stubs::routes))
        .route("/routes", web::post().to(stubs::add))
        .route("/routes/{id}", web::delete().to(stubs::remove))
        .route("/ui", web::get().to(ui::page))
        .route("/ui/", web::get().to(ui::page))
        .route("/ui/app.js", web::get().to(ui::script))
        .route("/ui/app.css", web::get().to(ui::style))
        .route("/events", web::get().to(events::events))
        .route("/requests", web::get().to(journal::requests))
        .route("/requests/{id}", web::get().to(journal::request))
        .route("/requests", web::delete().to(journal::clear))
        .route("/unmatched", web::get().to(journal::unmatched))
        .route("/verify", web::post().to(journal::verify))
        .route("/reset", web::post().to(data::reset))
        .route("/state", web::get().to(data::state))
        .route("/state", web::put().to(data::import))
        .route("/sessions", web::get().to(data::sessions))
        .route("/ws/send", web::post().to(channels::ws_send))
        .route("/sse/send", web::post().to(channels::sse_send))
        .route("/sse/close", web::post().to(channels::sse_close))
        .route("/topics/send", web::post().to(channels::topic_send))
        .route("/connections", web::get().to(channels::connections))
        .default_service(web::to(status::unknown))
}
