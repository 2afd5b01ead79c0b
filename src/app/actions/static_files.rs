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
    // A folder asked for without its trailing slash (`/app`) would serve its index.html with
    // the page's relative links (`style.css`) resolving one level too high: send the browser
    // to `/app/` instead, as web servers do.
    if let Some(location) = folder_redirect(cx, found) {
        let response = actix_web::HttpResponse::PermanentRedirect()
            .insert_header((actix_web::http::header::LOCATION, location))
            .finish();
        return Outcome::answered(&route.source, response);
    }
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

/// `/app/` (with the query) for a request to the folder `/app` that found its index.html.
fn folder_redirect(cx: &RequestContext<'_>, found: &RouteMatch<'_>) -> Option<String> {
    let file = found.file.as_ref()?;
    let path = cx.req.path();
    let asked_index = path.rsplit('/').next() == Some("index.html");
    if path.ends_with('/') || asked_index || file.file_name()? != "index.html" {
        return None;
    }
    let query = cx.req.query_string();
    Some(if query.is_empty() {
        format!("{path}/")
    } else {
        format!("{path}/?{query}")
    })
}
