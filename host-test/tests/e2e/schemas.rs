//! Output schemas end to end: the same records collected as raw, ECS and OCSF events, across a
//! second run with late records, carry the same event ids, each exactly once, and every event
//! names its tenant and log type where its schema keeps them.

use super::*;

/// Writes a config for `schema` with its own state directory and sink file; `top` is put at
/// the top level, `tenant_extra` into the tenant table. Returns the config's path.
fn schema_config(h: &Harness, name: &str, top: &str, tenant_extra: &str) -> std::path::PathBuf {
    let tenant = h.tenant_table(
        "acme",
        &Credential::demo(),
        &format!("lookback = \"3h\"\npage_size = 7\n{tenant_extra}"),
    );
    let text = format!(
        "state_dir = \"state-{name}\"\n{top}\n[sink]\ntype = \"file\"\npath = \"events-{name}.ndjson\"\n\n{tenant}"
    );
    let path = h.dir.path().join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// The event id of an event of each shape.
fn id_of(schema: &str, e: &Value) -> String {
    let id = match schema {
        "raw" => &e["event_id"],
        "ecs" => &e["event"]["id"],
        _ => &e["metadata"]["uid"],
    };
    id.as_str()
        .unwrap_or_else(|| panic!("no id in {e}"))
        .to_string()
}

#[test]
fn raw_ecs_and_ocsf_carry_the_same_events_exactly_once_across_runs() {
    let now = Utc::now();
    let h = Harness::start(MockConfig::new(
        vec![Credential::demo()],
        Dataset::generate(
            41,
            now - chrono::TimeDelta::hours(2),
            now - chrono::TimeDelta::minutes(2),
            40,
        ),
    ));
    // ECS as the top-level default (with the original kept); OCSF as a tenant's own choice.
    let configs = [
        ("raw", schema_config(&h, "raw", "", "")),
        (
            "ecs",
            schema_config(&h, "ecs", "schema = \"ecs\"\nkeep_original = true", ""),
        ),
        ("ocsf", schema_config(&h, "ocsf", "", "schema = \"ocsf\"")),
    ];
    for (_, cfg) in &configs {
        assert_success(&h.run_once(cfg));
    }
    for (i, t) in [LogType::Url, LogType::Impersonation, LogType::Attachment]
        .into_iter()
        .enumerate()
    {
        h.server.append(
            t,
            generate_records(
                t,
                50 + i as u64,
                now - chrono::TimeDelta::minutes(4),
                now - chrono::TimeDelta::minutes(2),
                5,
            ),
        );
    }
    // The next window opens once now - lag has moved past the cursor.
    std::thread::sleep(Duration::from_millis(1500));
    for (_, cfg) in &configs {
        assert_success(&h.run_once(cfg));
    }
    let events =
        |name: &str| common::read_events(&h.dir.path().join(format!("events-{name}.ndjson")));
    let raw = events("raw");
    assert_exactly_once(&raw, &h.server, &["url", "impersonation", "attachment"]);
    let want: std::collections::BTreeMap<String, String> = raw
        .iter()
        .map(|e| (id_of("raw", e), e["log_type"].as_str().unwrap().to_string()))
        .collect();
    for schema in ["ecs", "ocsf"] {
        let got = events(schema);
        let mut ids = std::collections::BTreeMap::new();
        for e in &got {
            assert!(
                ids.insert(id_of(schema, e), e.clone()).is_none(),
                "{schema}: event delivered twice: {e}"
            );
        }
        assert_eq!(
            ids.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{schema}: not the raw run's events"
        );
        for (id, e) in &ids {
            let log_type = &want[id];
            match schema {
                "ecs" => {
                    assert_eq!(e["organization"]["id"], "acme", "{e}");
                    let dataset = match log_type.as_str() {
                        "url" => "mimecast.ttp_url_logs",
                        "impersonation" => "mimecast.ttp_ip_logs",
                        _ => "mimecast.ttp_ap_logs",
                    };
                    assert_eq!(e["event"]["dataset"], dataset, "{e}");
                    assert!(e["event"]["original"].is_string(), "keep_original: {e}");
                }
                _ => {
                    assert_eq!(e["metadata"]["tenant_uid"], "acme", "{e}");
                    assert_eq!(e["metadata"]["log_name"], log_type.as_str(), "{e}");
                    assert_eq!(e["class_uid"], 4009, "{e}");
                    assert!(e.get("raw_data").is_none(), "raw_data is opt-in: {e}");
                }
            }
        }
    }
}
