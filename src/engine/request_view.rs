//! A live request as route conditions (`match:`) see it: each part parsed at most once, and
//! only if a route asks for it.

use std::cell::OnceCell;

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderName};
use actix_web::web::Bytes;
use serde_json::Value;

use crate::model::matcher::{Parts, body_json};

/// The parts of a request that conditions look at, each parsed at most once and only if a
/// route asks for it.
pub(crate) struct RequestView<'a> {
    pub(crate) req: &'a HttpRequest,
    pub(crate) body: &'a Bytes,
    query: OnceCell<Vec<(String, String)>>,
    json: OnceCell<Option<Value>>,
}

impl<'a> RequestView<'a> {
    pub(crate) fn new(req: &'a HttpRequest, body: &'a Bytes) -> Self {
        RequestView {
            req,
            body,
            query: OnceCell::new(),
            json: OnceCell::new(),
        }
    }
}

impl Parts for RequestView<'_> {
    fn query(&self) -> &[(String, String)] {
        self.query
            .get_or_init(|| serde_urlencoded::from_str(self.req.query_string()).unwrap_or_default())
    }

    fn header_values(&self, name: &HeaderName) -> Vec<&str> {
        self.req
            .headers()
            .get_all(name)
            .filter_map(|v| v.to_str().ok())
            .collect()
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.req.cookie(name).map(|c| c.value().to_owned())
    }

    fn json(&self) -> Option<&Value> {
        self.json
            .get_or_init(|| {
                let ct = self
                    .req
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok());
                body_json(ct, self.body)
            })
            .as_ref()
    }

    fn body(&self) -> &[u8] {
        self.body
    }
}
