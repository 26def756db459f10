//! The Node.js side of these tests: the pinned jco and preview2-shim installed into
//! `examples/node/node_modules` (`npm ci`, skipped while it matches `package-lock.json`), the
//! bundled component transpiled once (kept while neither it nor the lock file changes), and
//! `examples/node/collect.mjs` run on a JSON config. Node and npm are required: without them
//! the tests fail, saying so, rather than skip.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use mimecast_mock::{Credential, OAuthClient};
use serde_json::{json, Value};

use crate::common::{Harness, OutputWithin};

/// The component the host crate bundles, built by its build script.
const COMPONENT: &str = env!("MIMECAST_SOURCE_WASM");

/// `examples/node`, with its `node_modules` installed, and the transpiled component.
pub struct NodeHost {
    example: PathBuf,
    component_js: PathBuf,
}

/// Installs and transpiles once per test binary; one process at a time (a file lock), so two
/// test runs in one checkout do not run `npm ci` over each other.
pub fn node_host() -> &'static NodeHost {
    static HOST: OnceLock<NodeHost> = OnceLock::new();
    HOST.get_or_init(|| {
        let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/node");
        let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("node-host");
        std::fs::create_dir_all(&work).unwrap();
        let lock = std::fs::File::create(work.join("lock")).unwrap();
        lock.lock().unwrap();
        require("node");
        require("npm");
        npm_ci(&example);
        let component_js = transpile(&example, &work.join("jco"));
        NodeHost {
            example,
            component_js,
        }
    })
}

/// Fails the test, naming what to install, when `tool --version` cannot run.
fn require(tool: &str) {
    let ran = Command::new(tool).arg("--version").output();
    assert!(
        ran.as_ref().is_ok_and(|o| o.status.success()),
        "the node_host tests need Node.js 20 or later with npm on PATH (CI installs them; \
         Debian: apt-get install nodejs npm): `{tool} --version` failed: {ran:?}"
    );
}

/// `npm ci` in `examples/node`, unless `node_modules` was installed from this very lock file.
fn npm_ci(example: &Path) {
    let lock = std::fs::read(example.join("package-lock.json")).unwrap();
    let stamp = example.join("node_modules/.mimecast-installed-lock.json");
    if std::fs::read(&stamp).is_ok_and(|installed| installed == lock) {
        return;
    }
    let out = Command::new("npm")
        .args([
            "ci",
            "--include=dev",
            "--prefer-offline",
            "--no-audit",
            "--no-fund",
        ])
        .env("npm_config_update_notifier", "false")
        .current_dir(example)
        .output_within();
    assert!(
        out.status.success(),
        "npm ci in {} failed:\n{}\n{}",
        example.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(stamp, lock).unwrap();
}

/// Transpiles the component with the pinned jco into `out` (kept while the component and the
/// lock file are unchanged); returns the path of the JavaScript module.
fn transpile(example: &Path, out: &Path) -> PathBuf {
    let mut hasher = std::hash::DefaultHasher::new();
    std::fs::read(COMPONENT)
        .unwrap_or_else(|e| panic!("cannot read the component {COMPONENT}: {e}"))
        .hash(&mut hasher);
    std::fs::read(example.join("package-lock.json"))
        .unwrap()
        .hash(&mut hasher);
    let key = format!("{:016x}", hasher.finish());
    let module = out.join("mimecast_source.js");
    let stamp = out.join(".stamp");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == key) && module.exists() {
        return module;
    }
    let _ = std::fs::remove_dir_all(out);
    let result = Command::new("node")
        .arg(example.join("node_modules/.bin/jco"))
        .args([
            "transpile",
            COMPONENT,
            "--instantiation",
            "async",
            "-q",
            "-o",
        ])
        .arg(out)
        .output_within();
    assert!(
        result.status.success(),
        "jco transpile failed:\n{}\n{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    std::fs::write(stamp, key).unwrap();
    module
}

impl NodeHost {
    /// Runs `node examples/node/collect.mjs CONFIG` in the harness's folder, with the demo
    /// secrets in its environment and then `env`.
    pub fn collect(&self, h: &Harness, config: &Path, env: &[(&str, &str)]) -> Output {
        Command::new("node")
            .arg(self.example.join("collect.mjs"))
            .arg(config)
            .envs(secrets())
            .envs(env.iter().copied())
            .current_dir(h.dir.path())
            .output_within()
    }

    /// Writes the driver's config for `source` to `NAME.json` in the harness's folder, with
    /// the driver settings `driver` (e.g. `pollTimeoutMs`); its output and checkpoints go to
    /// `NAME/events.ndjson` and `NAME/checkpoints.json`.
    pub fn config(&self, h: &Harness, name: &str, source: Value, driver: Value) -> PathBuf {
        let mut config = json!({
            "component": self.component_js,
            "output": format!("{name}/events.ndjson"),
            "checkpoints": format!("{name}/checkpoints.json"),
            "source": source,
        });
        merge(&mut config, driver);
        let path = h.dir.path().join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        path
    }
}

/// Sets the fields of object `more` in object `into`.
fn merge(into: &mut Value, more: Value) {
    if let (Some(fields), Value::Object(more)) = (into.as_object_mut(), more) {
        fields.extend(more);
    }
}

/// The component's `config` for tenant `acme` on the harness's mock with the demo API 1.0
/// binding (the secret key from `E2E_SECRET_KEY`), the same settings `Harness::config` gives
/// `mcsource` (look-back 3 h, lag 60 s, overlap 300 s), and `extra` fields on top.
pub fn api1_source(h: &Harness, extra: Value) -> Value {
    let c = Credential::demo();
    let keys = json!({
        "appId": c.app_id, "appKey": c.app_key, "accessKey": c.access_key,
        "secretKey": { "env": "E2E_SECRET_KEY" },
    });
    source(h, json!({ "tag": "api1", "val": keys }), extra)
}

/// As [`api1_source`] with the demo API 2.0 client (the secret from `E2E_CLIENT_SECRET`).
pub fn api2_source(h: &Harness, extra: Value) -> Value {
    let client = json!({
        "clientId": OAuthClient::demo().client_id,
        "clientSecret": { "env": "E2E_CLIENT_SECRET" },
    });
    source(h, json!({ "tag": "api2", "val": client }), extra)
}

fn source(h: &Harness, credentials: Value, extra: Value) -> Value {
    let mut source = json!({
        "tenant": "acme",
        "baseUrl": h.server.base_url(),
        "credentials": credentials,
        "lookbackSecs": 3 * 3600,
        "lagSecs": 60,
        "overlapSecs": 300,
    });
    merge(&mut source, extra);
    source
}

/// The demo secrets, as the configs above read them.
fn secrets() -> [(&'static str, String); 2] {
    [
        ("E2E_SECRET_KEY", Credential::demo().secret_key),
        ("E2E_CLIENT_SECRET", OAuthClient::demo().client_secret),
    ]
}
