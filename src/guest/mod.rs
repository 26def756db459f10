//! The wasm32 side: the wit-bindgen exports (`component`), the WASI-HTTP transport and clock
//! (`transport`), the only I/O in the crate, and the panic hook (`panic_message`).

mod component;
mod panic_message;
mod transport;
