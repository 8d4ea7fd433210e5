//! The probe engine under load, for `scripts/bench-probes.sh`: every
//! (cell, provider) of PROFILE probed once a second for SECONDS, with the
//! telemetry clock running CLOCK_SCALE times faster (so an hour of history
//! builds up in minutes). Prints this process's CPU share and peak RSS as JSON.
//!
//! usage: probe_soak PROFILE SECONDS CLOCK_SCALE
// Tests and tools unwrap to fail loudly at the line that broke.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use beacon_console::config::{Profile, ProfileSource};
use beacon_console::domain::Selection;
use beacon_console::fleet::Clients;
use beacon_console::telemetry::probes::{ProbeConfig, Telemetry, run_probes};

/// User + system CPU time of this process, from /proc.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    // SAFETY: sysconf has no preconditions.
    #[allow(unsafe_code)]
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Duration::from_secs_f64(ticks as f64 / per_second)
}

fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (path, seconds, scale) = (
        &args[1],
        args[2].parse::<f64>().unwrap_or(60.0),
        args[3].parse::<f64>().unwrap_or(1.0),
    );
    let profile =
        Profile::load(&ProfileSource::File(path.into())).unwrap_or_else(|e| panic!("{e}"));
    let clients = Arc::new(
        Clients::for_profile(
            &profile,
            None,
            Duration::from_secs(10),
            beacon_console::providers::RetryPolicy::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}")),
    );
    let targets = clients
        .targets(&profile, &Selection::All, None)
        .unwrap_or_else(|e| panic!("{e}"));
    let count = targets.len();
    let telemetry = Arc::new(Telemetry::with_clock_scale(scale));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let config = ProbeConfig {
        interval: Duration::from_secs(1),
        jitter: 0.2,
        concurrency: 64,
        deadline: Duration::from_secs(10),
        cold_bound: Duration::from_millis(500),
        // The profile default: RunPod /health once per 5 s per endpoint.
        health_interval: Duration::from_secs(5),
        // A soak: every target every second, whatever it costs.
        max_per_second: f64::INFINITY,
        skip_with_traffic: false,
    };
    let runner = tokio::spawn(run_probes(
        clients,
        targets,
        config,
        telemetry.clone(),
        stopped,
    ));
    // Let the probes spread out, then measure a steady stretch.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (cpu0, t0, probes0) = (cpu_time(), Instant::now(), telemetry.recorded());
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu = (cpu_time() - cpu0).as_secs_f64() / elapsed;
    let probes_per_second = (telemetry.recorded() - probes0) as f64 / elapsed;
    let (seen, slots) = telemetry.footprint();
    let _ = stop.send(true);
    let _ = runner.await;
    println!(
        "{{\"targets\": {count}, \"seconds\": {seconds}, \"probes_per_second\": {probes_per_second:.0}, \"history_seconds\": {:.0}, \"cpu_percent_of_one_core\": {:.1}, \"rss_mb\": {:.1}, \"peak_rss_mb\": {:.1}, \"targets_seen\": {seen}, \"slots\": {slots}}}",
        telemetry.elapsed().as_secs_f64(),
        cpu * 100.0,
        status_kb("VmRSS:") as f64 / 1024.0,
        status_kb("VmHWM:") as f64 / 1024.0,
    );
}
