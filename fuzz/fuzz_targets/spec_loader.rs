//! Any bytes given to the spec checker: an error or a spec, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A real folder, as the checker is given at run time, so file checks run too.
    let dir = std::env::current_dir().and_then(|d| d.canonicalize()).unwrap_or_default();
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = mockrig::check_text(text, &dir.join("fuzz.yaml"));
    }
});
