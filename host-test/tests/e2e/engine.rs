//! The engine around the component: compiled-code caches, log formats and filters, address-space
//! limits.

use super::*;

/// `RUST_LOG=trace` on a cold compiled-code cache shows mcsource's own traces, not the
/// compiler's (which ran to gigabytes): wasmtime and Cranelift stay at `info` unless named.
#[test]
fn trace_logging_leaves_out_the_compilers_traces_unless_named() {
    let h = Harness::start(MockConfig::demo(Utc::now()));
    let cfg = h.config("");
    let cold = h.dir.path().join("cold-cache");
    let out = h
        .command(&["check", "--config", cfg.to_str().unwrap()])
        .env("RUST_LOG", "trace")
        .env("MCSOURCE_CACHE_DIR", &cold)
        .output_within();
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let compiler_lines = stderr
        .lines()
        .filter(|l| l.contains(" cranelift") || l.contains(" wasmtime"))
        .filter(|l| l.contains("TRACE") || l.contains("DEBUG"))
        .count();
    assert_eq!(compiler_lines, 0, "{} bytes of log", stderr.len());
    assert!(stderr.len() < 1 << 20, "{} bytes of log", stderr.len());
}

/// Under an address-space limit (`ulimit -v`, as some hosting sets) far below what the fast
/// memory layout reserves (hundreds of GiB of address space, not memory), `mcsource` starts
/// anyway, in a compact layout, says so, and collects everything (it used to stop at start:
/// "mmap failed to reserve 0x50a2000000 bytes").
#[test]
fn a_small_address_space_limit_falls_back_to_a_compact_memory_layout() {
    let h = Harness::start(MockConfig::demo(Utc::now()));
    let cfg = h.config("");
    let run = h.command(&["run", "--once", "--config", cfg.to_str().unwrap()]);
    let out = Command::new("prlimit")
        .arg(format!("--as={}", 6u64 << 30))
        .arg("--")
        .arg(BIN)
        .args(run.get_args())
        .envs(run.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .current_dir(run.get_current_dir().unwrap())
        .output_within();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("compact memory layout"), "{stderr}");
    assert_exactly_once(
        &h.events(),
        &h.server,
        &["url", "impersonation", "attachment"],
    );
}

#[test]
fn compiled_component_is_cached_under_a_relative_state_dir() {
    let h = Harness::demo();
    h.config("log_types = [\"url\"]");
    // A relative config path, so state_dir (and the cache under it) is relative too.
    let out = h
        .command(&["run", "--once", "--config", "config.toml"])
        .env_remove("MCSOURCE_CACHE_DIR")
        .output_within();
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("cannot use the compiled-component cache"),
        "{stderr}"
    );
    let cached = std::fs::read_dir(h.dir.path().join("state/compiled"))
        .unwrap()
        .count();
    assert!(cached > 0, "nothing cached in state/compiled");
}

#[test]
fn check_caches_compiled_code_in_mcsource_cache_dir() {
    let h = Harness::demo();
    let cfg = h.config("");
    let cache = h.dir.path().join("cache");
    let out = h
        .command(&["check", "--config", cfg.to_str().unwrap()])
        .env("MCSOURCE_CACHE_DIR", &cache)
        .env("HOME", h.dir.path().join("home"))
        .env_remove("XDG_CACHE_HOME")
        .output_within();
    assert_success(&out);
    let files = walk(&cache);
    assert!(!files.is_empty(), "nothing cached in {}", cache.display());
    assert!(
        !h.dir.path().join("home").exists(),
        "the user cache was used"
    );
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|e| {
            let path = e.path();
            if path.is_dir() {
                walk(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

#[test]
fn json_log_format_writes_one_object_per_log_line() {
    let (_, out) = first_line_then_hang_up(&["--log-format", "json", "demo"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Every line, the command's own status lines included, is a JSON object.
    let logs: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        logs.iter().any(|l| l["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("demo: stdout closed by its reader"))),
        "{stderr}"
    );
    assert!(
        logs.iter().any(|l| l["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("mock Mimecast API listening"))),
        "{stderr}"
    );
    assert!(logs.iter().all(|l| l["level"].is_string()), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "no colour codes in JSON logs: {stderr}"
    );
}
