//! `static`: the file of a static folder, streamed with its content type, `ETag` and ranges.

use actix_web::ResponseError;
use actix_web::http::StatusCode;

use super::delay::wait;
use crate::app::context::RequestContext;
use crate::app::outcome::Outcome;
use crate::duration::Delay;
use crate::engine::respond::serve_file;
use crate::engine::routing::RouteMatch;
use crate::error::ApiError;

/// The file under the folder's root that routing found for this request, after the
/// server's delay.
pub(crate) async fn run(
    cx: &RequestContext<'_>,
    found: &RouteMatch<'_>,
    delay: Option<Delay>,
) -> Outcome {
    let route = found.route;
    wait(cx, route, delay).await;
    let served = match &found.file {
        Some(file) => serve_file(cx.req, file.clone(), StatusCode::OK).await,
        None => Err(std::io::Error::other("no file was resolved")),
    };
    let response = served.unwrap_or_else(|e| {
        ApiError::StaticFile {
            route: route.source.clone(),
            reason: e.to_string(),
        }
        .error_response()
    });
    Outcome::answered(&route.source, response)
}
