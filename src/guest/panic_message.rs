//! A panic's message on `wasi:cli/stderr`. On wasm32-unknown-unknown std's own panic hook writes
//! to a stderr that discards, so a panic would reach the host as a bare trap; hosts (the bundled
//! one among them) report what the component wrote to stderr before it trapped. Never panics.

use std::sync::Once;

use waki::bindings::wasi::cli::stderr;

/// Most bytes `blocking-write-and-flush` takes at once.
const WRITE_CHUNK: usize = 4096;

/// Sets the panic hook that writes the message to `wasi:cli/stderr`; the first call only.
pub fn install() {
    static INSTALLED: Once = Once::new();
    INSTALLED
        .call_once(|| std::panic::set_hook(Box::new(|info| write_stderr(&format!("{info}\n")))));
}

/// Writes `text` to `wasi:cli/stderr`, stopping at the first failure.
fn write_stderr(text: &str) {
    let out = stderr::get_stderr();
    for chunk in text.as_bytes().chunks(WRITE_CHUNK) {
        if out.blocking_write_and_flush(chunk).is_err() {
            break;
        }
    }
}
