//! The body checks over arbitrary bytes and content types: never a panic, and
//! only the documented client errors.
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_broker::domain::body;

fuzz_target!(|input: (&[u8], &[u8])| {
    let (content_type, bytes) = input;
    if let Err(e) = body::parse(Some(content_type), bytes) {
        assert!([400, 413, 415].contains(&session_broker::entrypoints::response::status(&e).as_u16()), "{e:?}");
    }
});
