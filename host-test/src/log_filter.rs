//! The log filter `mcsource` starts with: `RUST_LOG` (default `info`), except that the code
//! generator's crates stay at `info` unless `RUST_LOG` names them. At `trace`, compiling the
//! component on a cold cache would otherwise write gigabytes of Cranelift traces.

/// Log targets held at `info` unless a directive names them (a target matches by prefix, so
/// `wasmtime` covers `wasmtime_cranelift`, `cranelift` covers `cranelift_codegen`).
const COMPILER_TARGETS: [&str; 4] = ["cranelift", "wasmtime", "regalloc2", "wasmparser"];

/// The filter directives for `rust_log` (the value of `RUST_LOG`, if set): it as given, plus
/// `TARGET=info` for each compiler target it does not mention (anywhere, so naming
/// `wasmtime_cranelift` releases both `wasmtime` and `cranelift`).
pub fn directives(rust_log: Option<&str>) -> String {
    let given = rust_log
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("info");
    let mut out = given.to_string();
    for target in COMPILER_TARGETS {
        if !given.contains(target) {
            out.push_str(&format!(",{target}=info"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiler_targets_stay_at_info_unless_named() {
        assert_eq!(
            directives(Some("trace")),
            "trace,cranelift=info,wasmtime=info,regalloc2=info,wasmparser=info"
        );
        assert_eq!(
            directives(None),
            "info,cranelift=info,wasmtime=info,regalloc2=info,wasmparser=info"
        );
        assert_eq!(
            directives(Some("debug,wasmtime_cranelift=trace")),
            "debug,wasmtime_cranelift=trace,regalloc2=info,wasmparser=info"
        );
    }
}
