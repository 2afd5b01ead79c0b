//! The admin scope's gate: the calls [`AdminAccess`](super::access::AdminAccess) refuses are
//! answered here, before any handler.

use actix_web::ResponseError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;

use crate::app::state::AppState;

pub(crate) async fn protect<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let refused = req
        .app_data::<web::Data<AppState>>()
        .and_then(|app| app.admin.refusal(&req));
    if let Some(error) = refused {
        let res = error.error_response();
        return Ok(req.into_response(res).map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}
