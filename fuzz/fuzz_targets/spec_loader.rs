//! Any bytes given to the spec loader: an error or a spec, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A canonical folder, as the loader is given at run time, so file checks run too.
    let dir = std::env::current_dir().and_then(|d| d.canonicalize()).unwrap_or_default();
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = mockrig::spec::load_str(text, "fuzz.yaml", &dir);
    }
});
