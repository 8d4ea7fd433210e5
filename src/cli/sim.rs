//! `beacon-console sim`: the simulator on its own, for trying a real router
//! against it or watching the demo's traffic from another terminal.

use crate::failure::Failure;
use std::path::Path;
use std::time::Duration;

use crate::ops::{Console, OpsError};
use crate::providers::{HttpClient, RetryPolicy};
use crate::sim::{DemoKeys, RouterSettings, SimConfig, Simulator, start_routers};

use super::args::SimArgs;

pub fn run(console: &Console, args: SimArgs, json: bool) -> Result<(), OpsError> {
    let profile = &console.profile;
    let defaults = profile.simulator.clone().ok_or_else(|| {
        OpsError::Invalid(format!(
            "{} has no [simulator] section: `sim` serves simulator profiles (the demo)",
            profile.origin
        ))
    })?;
    let time_scale = args.time_scale.unwrap_or(defaults.time_scale);
    if !(time_scale.is_finite() && time_scale > 0.0) {
        return Err(OpsError::Invalid(format!(
            "--time-scale must be a positive number, got {time_scale}"
        )));
    }
    let fault_token = args.fault_token.clone().filter(|t| !t.is_empty());
    if !args.bind.ip().is_loopback() {
        eprintln!(
            "warning: --bind {} is not loopback: other machines can reach the simulator \
             (its keys are demo keys, not secrets)",
            args.bind
        );
        if fault_token.is_none() {
            return Err(OpsError::Invalid(format!(
                "--bind {} is not loopback: the fault API (/sim/faults) then needs a token; \
                 pass --fault-token TOKEN or set BEACON_SIM_FAULT_TOKEN",
                args.bind
            )));
        }
    }
    let keys = DemoKeys::from_env();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new("start the async runtime", e))?;
    runtime.block_on(async {
        let guarded = fault_token.is_some();
        let sim = Simulator::start_with(
            SimConfig {
                seed: defaults.seed,
                time_scale,
                runpod_key: keys.runpod.expose().to_string(),
                modal_key: keys.modal_key.expose().to_string(),
                modal_secret: keys.modal_secret.expose().to_string(),
                runsync_wait: Duration::from_secs(90),
                cells: profile.cells().iter().map(|c| (c.model.to_string(), c.region.to_string())).collect(),
            },
            args.bind,
            fault_token,
        )
        .await
        .map_err(|e| Failure::new(format!("listen on {}", args.bind), e))?;
        let mut routers = Vec::new();
        if !args.no_routers {
            let http = HttpClient::new(Duration::from_secs(30), RetryPolicy::default())
                .map_err(|e| Failure::new("start the HTTP client", e))?;
            let settings = RouterSettings {
                requests_per_second: args.rps.unwrap_or(defaults.requests_per_second),
                seed: defaults.seed,
                request_deadline: Duration::from_secs(60),
                reload_every: Duration::from_millis(100),
            };
            routers = start_routers(profile, &sim.base_url(), &keys, &http, settings)
                .await
                .map_err(|e| Failure::new("start the routers", e))?;
        }
        let _announced = profile
            .store_path()
            .and_then(Path::parent)
            .and_then(|dir| {
                let urls = routers
                    .iter()
                    .map(|(r, router)| (r.clone(), format!("http://{}/metrics", router.addr)))
                    .collect();
                crate::sim::announce::announce(dir, &sim.base_url(), urls)
            });
        if json {
            let routers: Vec<_> = routers
                .iter()
                .map(|(r, router)| serde_json::json!({ "region": r, "metrics": format!("http://{}/metrics", router.addr) }))
                .collect();
            println!("{}", serde_json::json!({ "base": sim.base_url(), "time_scale": time_scale, "routers": routers }));
        } else {
            println!("simulator: {} (time scale {time_scale})", sim.base_url());
            println!("  RunPod: {}/runpod/v2/<endpoint>/runsync   Modal: {}/modal/<endpoint>", sim.base_url(), sim.base_url());
            let auth = if guarded { ", Authorization: Bearer <fault token>" } else { "" };
            println!("  faults: POST {}/sim/faults  (JSON list; [] clears{auth})", sim.base_url());
            for (region, router) in &routers {
                println!("  router {region}: http://{}/metrics", router.addr);
            }
            println!("  flags: {}", profile.store_text());
            println!("Ctrl-C stops.");
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let _ = tokio::signal::ctrl_c().await;
        for (_, router) in routers {
            router.stop().await;
        }
        sim.stop().await;
        Ok(())
    })
}
