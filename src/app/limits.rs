//! What one request may use: the URL and headers checked before anything else, the body read
//! under a size and a time limit. The mock's requests meet these as the pipeline's first
//! steps; the admin endpoints through [`guard`].

use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::{HttpRequest, ResponseError};
use futures_util::StreamExt;

use super::config::Limits;
use super::record::log_request;
use super::state::AppState;
use crate::error::ApiError;

/// 414 for a long URL, 431 for too many or too large headers.
pub(crate) fn check_head(req: &HttpRequest, limits: &Limits) -> Result<(), ApiError> {
    let url_len = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if url_len > limits.max_url_bytes {
        return Err(ApiError::UriTooLong {
            limit: limits.max_url_bytes,
        });
    }
    let headers = req.headers();
    if headers.len() > limits.max_headers {
        return Err(too_many_headers(limits));
    }
    let header_bytes: usize = headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len())
        .sum();
    if header_bytes > limits.max_header_bytes {
        return Err(too_many_headers(limits));
    }
    Ok(())
}

fn too_many_headers(limits: &Limits) -> ApiError {
    ApiError::HeadersTooLarge {
        count: limits.max_headers,
        bytes: limits.max_header_bytes,
    }
}

/// The whole body, within the size limit and the request timeout. actix times only the head
/// of a connection's first request; every body gets the same allowance here, so a client
/// dripping a body holds nothing for long.
pub(crate) async fn read_body(
    payload: web::Payload,
    req: &HttpRequest,
    limits: &Limits,
) -> Result<Bytes, ApiError> {
    use futures_util::FutureExt;
    let mut reading = std::pin::pin!(read(payload, req, limits.max_body));
    // A body that is all here already (none, for most GETs) is taken without a timer: the
    // timer's clock read, registration and drop were a few tenths of a percent of a request.
    if let Some(done) = reading.as_mut().now_or_never() {
        return done;
    }
    actix_web::rt::time::timeout(limits.request_timeout, reading)
        .await
        .unwrap_or(Err(ApiError::BodyTimeout {
            timeout_ms: limits.request_timeout.as_millis() as u64,
        }))
}

/// Reads the whole body, refusing more than `limit` bytes with a 413 that says so.
async fn read(
    mut payload: web::Payload,
    req: &HttpRequest,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::BodyTooLarge { limit });
    }
    // Sized once from Content-Length (within the limit): growing by doubling would leave a
    // 2 MiB buffer behind a 1 MiB body, and freed buffers of odd sizes behind that.
    let mut body = BytesMut::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BodyUnreadable {
            reason: e.to_string(),
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::BodyTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The head limits for services other than the mock's (the admin endpoints).
pub(crate) async fn guard<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let refused = req
        .app_data::<web::Data<AppState>>()
        .and_then(|app| check_head(req.request(), &app.limits).err());
    if let Some(refused) = refused {
        let response = refused.error_response();
        log_request(
            req.request(),
            response.status(),
            None,
            None,
            None,
            Instant::now(),
        );
        return Ok(req.into_response(response).map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}
