//! The bench as CI runs it: a quick run on small drains completes, every task runs exactly
//! once (the bench checks it and fails otherwise), and the results are written. No timing
//! is asserted: figures from a debug build on a shared CI machine mean nothing.
//!
//! PostgreSQL is found through `JOBS_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); when it cannot be reached, only SQLite is
//! measured, loudly, except with `CI=true`, where that is a failure.

use std::net::{TcpStream, ToSocketAddrs};
use std::process::Command;
use std::time::Duration;

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Whether the PostgreSQL server of `url` accepts connections (host and port only).
fn reachable(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host_port = rest.split(['/', '?']).next().unwrap_or("");
    let host_port = host_port.rsplit_once('@').map_or(host_port, |(_, h)| h);
    let address = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    address
        .to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
        .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(3)).is_ok())
}

#[test]
fn a_quick_bench_runs_every_task_exactly_once_and_writes_its_results() {
    let url =
        std::env::var("JOBS_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.into());
    let backend = if reachable(&url) {
        "all"
    } else if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("PostgreSQL is unreachable at {url} and CI=true: .ci/run must start it");
    } else {
        eprintln!(
            "\n!!!!!!!! SKIPPING the PostgreSQL half of the bench smoke test: cannot reach {url}\n"
        );
        "sqlite"
    };
    let out = tempfile::tempdir().expect("a temporary folder");
    let output = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args([
            "run",
            "--quick",
            "--jobs",
            "300",
            "--backend",
            backend,
            "--out",
        ])
        .arg(out.path())
        .env("JOBS_TEST_POSTGRES_URL", &url)
        .output()
        .expect("run the bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the bench failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("every task ran exactly once"), "{stdout}");

    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("results.json")).expect("results.json"),
    )
    .expect("results.json is JSON");
    assert_eq!(results["exactly_once"], true);
    assert_eq!(results["mode"], "quick");
    let backends = results["backends"]
        .as_object()
        .expect("per-backend results");
    let expected: &[&str] = if backend == "all" {
        &["sqlite", "postgres"]
    } else {
        &["sqlite"]
    };
    for name in expected {
        let figures = &backends[*name];
        for key in [
            "sweep",
            "drains",
            "enqueue",
            "latency",
            "large_tables",
            "baseline_drain",
        ] {
            assert!(!figures[key].is_null(), "{name} has no `{key}` figures");
        }
        let latency = &figures["latency"]["sdk"];
        assert_eq!(latency["samples"], 50, "{name}: {latency}");
        // Flow control: a run of each drain, and the waits of all 10 x 20 small-key tasks
        // with keys in turn and in order.
        let flow = &figures["flow_control"];
        for drain in ["without_limits", "global_limit", "per_key_limit"] {
            assert_eq!(
                flow[drain]["runs"].as_array().map(Vec::len),
                Some(1),
                "{name}: {drain} in {flow}"
            );
        }
        for case in ["keys_in_turn", "in_order"] {
            assert_eq!(
                flow["fairness"][case]["small_wait"]["samples"], 200,
                "{name}: fairness {case} in {flow}"
            );
        }
    }
    if backend == "all" {
        let spread = &backends["postgres"]["processes"]["runs"][0]["spread"];
        let total: u64 = spread
            .as_array()
            .expect("tasks per process")
            .iter()
            .map(|n| n.as_u64().unwrap_or(0))
            .sum();
        assert_eq!(total, 300, "three runner processes ran {spread} tasks");
    }
    let chart = std::fs::read_to_string(out.path().join("throughput.svg")).expect("the chart");
    assert!(
        chart.starts_with("<svg") && chart.contains("<polyline"),
        "{chart}"
    );
}

#[test]
fn a_quick_simulation_bench_runs_every_simulated_tick_and_writes_its_figures() {
    let out = tempfile::tempdir().expect("a temporary folder");
    let output = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args(["simulate", "--quick", "--out"])
        .arg(out.path())
        .output()
        .expect("run the simulation bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the simulation bench failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("simulation.json")).expect("simulation.json"),
    )
    .expect("simulation.json is JSON");
    let runs: Vec<u64> = results["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .map(|s| s["runs"].as_u64().expect("runs"))
        .collect();
    assert_eq!(runs, [365, 7 * 24 * 60]);
    assert!(stdout.contains("a week of an every-minute job"), "{stdout}");
}
