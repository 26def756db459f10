// Shared by the build scripts of mimecast-host and mimecast-bench (each `include!`s it): builds
// a component crate for wasm32-unknown-unknown with a cargo of its own.

/// The target of the components. Not wasm32-wasip2: there Rust's std and wasi-libc import
/// `wasi:cli` environment, exit, stdin, stdout and terminal interfaces (the panic handler reads
/// `RUST_BACKTRACE` and writes through the C stdio table) and `wasi:random/insecure-seed`, which
/// every host then has to supply. On wasm32-unknown-unknown std imports nothing, so a component
/// imports only the interfaces its own code calls (issue 21; README lists them, checked by `tests/plain_host.rs`).
const COMPONENT_TARGET: &str = "wasm32-unknown-unknown";

/// Builds `package` for [`COMPONENT_TARGET`] with the release profile into `target_dir`, as a
/// `cdylib` linked by `wasm-component-ld` (shipped with rustup's toolchains, the linker of
/// wasm32-wasip2), which turns the module into a component. The crates themselves are plain
/// `rlib`s: a crate that is also a `cdylib` gets no hash in its file names, so a native release
/// build and a test build with other features overwrote each other's copy ("found possibly
/// newer version of crate"). Returns the path of the component.
fn build_component(workspace: &Path, target_dir: &Path, package: &str) -> PathBuf {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["rustc", "--release", "--lib", "--crate-type=cdylib"])
        .arg(format!("--target={COMPONENT_TARGET}"))
        .arg(format!("--package={package}"))
        .args(["--", "-Clinker=wasm-component-ld"])
        .env("CARGO_TARGET_DIR", target_dir)
        // The outer build's flags, wrappers (clippy) and profile are not the component's.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_MAKEFLAGS")
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .current_dir(workspace)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!(
            "building the {package} component failed ({s}); is the target installed? \
             run: rustup target add {COMPONENT_TARGET}"
        ),
        Err(e) => panic!("cannot run cargo to build the {package} component: {e}"),
    }
    target_dir
        .join(COMPONENT_TARGET)
        .join("release")
        .join(format!("{}.wasm", package.replace('-', "_")))
}
