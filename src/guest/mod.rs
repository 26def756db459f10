//! The wasm32 side: the wit-bindgen exports (`component`) and the WASI-HTTP transport and
//! clock (`transport`), the only I/O in the crate.

mod component;
mod transport;
