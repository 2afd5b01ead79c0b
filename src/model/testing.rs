//! For unit tests: a spec compiled from YAML text, and a request's parts without HTTP.

use actix_web::http::header::HeaderName;
use serde_json::Value;

use super::compile::compile;
use super::compiled::CompiledSpec;
use super::input::CompileInput;
use super::matcher::Parts;
use crate::spec::locate::Problem;

/// Compiles `yaml` in the system's temporary folder: the model (when there is no error) and
/// every problem.
pub(crate) fn compile_yaml(yaml: &str) -> (Option<CompiledSpec>, Vec<Problem>) {
    let spec: crate::spec::Spec = serde_yaml::from_str(yaml).expect("YAML the types accept");
    let dir = std::env::temp_dir().canonicalize().unwrap();
    let (compiled, problems, _) = compile(&CompileInput {
        spec: &spec,
        dir: &dir,
        spec_file: None,
        private: &Default::default(),
        stubs: &[],
        unread_channels: &[],
        origins: &Default::default(),
        known_resources: &[],
        known_openapi: None,
        template_budget: crate::template::bounds::DEFAULT_BUDGET,
    });
    (compiled, problems)
}

/// A request's parts, as route conditions read them.
#[derive(Default)]
pub(crate) struct FakeRequest {
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: Vec<(HeaderName, String)>,
    pub(crate) json: Option<Value>,
}

impl Parts for FakeRequest {
    fn query(&self) -> &[(String, String)] {
        &self.query
    }
    fn header_values(&self, name: &HeaderName) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    fn cookie(&self, _: &str) -> Option<String> {
        None
    }
    fn json(&self) -> Option<&Value> {
        self.json.as_ref()
    }
    fn body(&self) -> &[u8] {
        b""
    }
}
