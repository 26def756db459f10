//! Crash test: the real host is killed with SIGKILL at random moments while it collects from a
//! mock that injects faults and receives records live; it is restarted each time. At the end
//! the sink must hold every record the mock holds exactly once, and no request may have been
//! made while a rate-limit reset was pending.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use common::{assert_exactly_once, assert_success, Harness, OutputWithin};
use mimecast_mock::{
    generate_records, Credential, Dataset, Fault, LogType, MockConfig, RandomFaults,
};

/// Small deterministic generator (xorshift64*), so a failing run can be repeated.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn kill_9_at_random_moments_loses_and_duplicates_nothing() {
    const CYCLES: usize = 24;
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_cafe_u64);
    eprintln!("crash test seed {seed} (set CRASH_SEED to repeat)");
    let mut rng = Rng(seed | 1);
    let mut faults = RandomFaults::new(seed);
    let now = Utc::now();
    let h = Harness::start(MockConfig::new(
        vec![Credential::demo()],
        Dataset::generate(
            seed,
            now - TimeDelta::hours(2),
            now - TimeDelta::minutes(2),
            400,
        ),
    ));
    let cfg = h.config("page_size = 9\ninterval = \"1s\"");
    // Compile the component into the shared cache first: a kill during compiling would leave
    // nothing cached, and every killed run would spend its life compiling.
    let check = h
        .command(&["check", "--config", cfg.to_str().unwrap()])
        .output_within();
    assert_success(&check);
    let started = Instant::now();
    let mut pushed = 0;
    for cycle in 0..CYCLES {
        // Records keep arriving, some late (with times already behind the cursor).
        let now = Utc::now();
        for t in LogType::ALL {
            let n = rng.below(6) as usize;
            let back = 62 + rng.below(200) as i64;
            h.server.append(
                t,
                generate_records(
                    t,
                    seed + cycle as u64,
                    now - TimeDelta::seconds(back),
                    now - TimeDelta::seconds(61),
                    n,
                ),
            );
        }
        // Keep a few faults queued; the queue is served by whichever run comes next.
        let consumed = h
            .server
            .ledger()
            .requests()
            .iter()
            .filter(|r| r.fault.is_some())
            .count();
        for _ in 0..rng.below(3) {
            if pushed - consumed < 3 {
                h.server.push_fault(faults.next().unwrap());
                pushed += 1;
            }
        }
        if cycle == 0 {
            // At least one rate-limit wait that a kill can interrupt, whatever the seed.
            h.server.push_fault(Fault::RateLimited { reset_ms: 800 });
            pushed += 1;
        }
        let log = std::fs::File::create(h.dir.path().join(format!("run-{cycle:02}.log"))).unwrap();
        let mut child = h.spawn_run(&cfg, log);
        std::thread::sleep(Duration::from_millis(100 + rng.below(900)));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    // One clean run to catch up. Its window must start after the last killed run's window
    // ended, so that the records appended last (inside the overlap) are read again.
    let resume_after = Utc::now().timestamp() + 1;
    while Utc::now().timestamp() <= resume_after {
        std::thread::sleep(Duration::from_millis(50));
    }
    let before_final_run = h.events().len();
    let killed_runs = h.server.ledger();
    let out = h.run_once(&cfg);
    assert_success(&out);
    let events = h.events();
    // The killed runs must have done real work, or the test proves nothing about crashes.
    assert!(
        before_final_run > 0,
        "the {CYCLES} killed runs delivered nothing; kills came before any poll"
    );
    if std::env::var_os("CRASH_KEEP").is_some() {
        let kept = h.dir.path().to_path_buf();
        std::mem::forget(h.dir.path().to_path_buf());
        eprintln!("keeping {}", kept.display());
        let _ = std::process::Command::new("cp")
            .args(["-r", kept.to_str().unwrap(), "/tmp/crash-kept"])
            .status();
    }
    assert_exactly_once(&events, &h.server, &["url", "impersonation", "attachment"]);
    let ledger = h.server.ledger();
    assert_eq!(
        ledger.violations(),
        0,
        "requests made while a rate-limit reset was pending"
    );
    // The killed runs met faults and rate-limit waits, not only the final one.
    let faulted = killed_runs
        .requests()
        .iter()
        .filter(|r| r.fault.is_some())
        .count();
    assert!(faulted > 0, "the killed runs met no fault");
    assert!(
        killed_runs.count_status(429) > 0,
        "the killed runs met no 429"
    );
    eprintln!(
        "{CYCLES} kill/restart cycles, {} events ({before_final_run} before the final run), {} \
         requests ({faulted} faulted and {} answered 429 before the final run) in {:.1}s",
        events.len(),
        ledger.requests().len(),
        killed_runs.count_status(429),
        started.elapsed().as_secs_f64()
    );
}
