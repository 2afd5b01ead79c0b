//! Any bytes given to the spec loader: an error or a spec, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = mockrig::spec::load_str(text, "fuzz.yaml", std::path::Path::new("."));
    }
});
