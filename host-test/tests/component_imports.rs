//! Issue 21: the bundled component imports only the interfaces its own code calls, so a host
//! (wasmtime, jco on Node, any other) has that much to supply and no more. A new import fails
//! here: remove it (see `host-test/build_component.rs` for where the toolchain adds some), or
//! add it below and to README, "Using the component in another host".

#![allow(clippy::unwrap_used)]

use wasmtime::component::Component;
use wasmtime::{Config, Engine};

/// The component's imports without their versions, sorted: its own host interfaces, and WASI
/// for HTTP, the streams and pollables HTTP uses, both clocks, randomness (request ids) and
/// stderr (a panic's message, `src/guest/panic_message.rs`).
const EXPECTED: [&str; 12] = [
    "mimecast:source/host-log",
    "mimecast:source/session-cache",
    "mimecast:source/types",
    "wasi:cli/stderr",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:http/outgoing-handler",
    "wasi:http/types",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:random/random",
];

#[test]
fn issue_21_component_imports_only_what_it_uses() {
    let engine = Engine::new(&Config::new()).unwrap();
    let component = Component::new(&engine, mimecast_host::runtime::BUNDLED_COMPONENT).unwrap();
    let mut imports: Vec<(String, String)> = component
        .component_type()
        .imports(&engine)
        .map(|(name, _)| {
            let (interface, version) = name.split_once('@').unwrap_or((name, ""));
            (interface.to_string(), version.to_string())
        })
        .collect();
    imports.sort();
    let names: Vec<&str> = imports.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, EXPECTED, "the component's imports changed");
    for (name, version) in &imports {
        if name.starts_with("wasi:") {
            assert!(
                version.starts_with("0.2."),
                "{name}@{version}: not WASI 0.2"
            );
        }
    }
}
