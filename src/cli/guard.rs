//! `guard`: the guardrails without a screen, for a systemd unit on a
//! bastion. One line per check and per action on stderr. Exit codes: 0
//! stopped (SIGINT/SIGTERM, or `--checks` done), 2 bad profile or
//! arguments, 4 the store or the metrics cannot be set up, 5 armed in
//! read-only mode, 7 another guard holds the role.

use std::time::Instant;

use crate::domain::guard::{GuardMode, Verdict};
use crate::failure::Failure;
use crate::flags::file::now_utc;
use crate::ops::guard::{Check, Guard};
use crate::ops::monitor::Monitor;
use crate::ops::notify::{self, Message, Notifier};
use crate::ops::{Console, OpsError};

use super::args::GuardArgs;

pub fn run(console: &Console, args: GuardArgs) -> Result<(), OpsError> {
    let mut guard = Guard::for_profile(&console.profile, args.mode)?;
    if matches!(guard.mode, GuardMode::Rollback | GuardMode::Hold) {
        console
            .ensure_writable("run an acting guard (it would roll cells back or hold the plan)")?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::new("start the async runtime", e))?;
    runtime.block_on(async {
        let monitor = Monitor::start(
            &console.profile,
            args.time_scale,
            std::time::Duration::from_secs(30),
        )
        .await?;
        let result = watch(console, &monitor, &mut guard, args.checks).await;
        monitor.stop().await;
        result
    })
}

async fn watch(
    console: &Console,
    monitor: &Monitor,
    guard: &mut Guard,
    checks: Option<u64>,
) -> Result<(), OpsError> {
    let holder = format!("{}@{}", console.operator.user, console.operator.host);
    // Only a guard that acts takes the role: observers may be many.
    let wanted = matches!(guard.mode, GuardMode::Rollback | GuardMode::Hold);
    let mut role = Role {
        wanted,
        held: if wanted {
            Some(console.store.hold("guard", &holder)?)
        } else {
            None
        },
    };
    // On the demo: where its simulator's faults go (`status` tells), or
    // whose it shares.
    let _announced = monitor.announce(&console.profile);
    if let Some(shared) = monitor.shared() {
        log(&format!(
            "demo: sharing the simulator and routers of pid {} at {} (its faults show here)",
            shared.pid, shared.base
        ));
    }
    log(&format!(
        "{} ({}): every {} s over the last {} s of router traffic, errors ≤ {}%, p95 ≤ {} ms, cold starts ≤ {}%, cost ≤ {}× the fallback's, ≥ {} requests a check, {} breaches in a row; rules: {}; {}",
        guard.mode.word(),
        mode_says(guard.mode),
        guard.interval.as_secs_f64(),
        guard.window.as_secs_f64(),
        guard.limits.max_error_percent,
        guard.limits.max_p95_ms,
        guard.limits.max_cold_percent,
        guard.limits.max_cost_ratio,
        guard.limits.min_samples,
        guard.limits.failures_in_a_row,
        guard.rules.words(),
        console.store.describe()
    ));
    let mut alerts = Alerts::new(console, monitor, holder);
    let mut tick = tokio::time::interval(guard.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut done = 0u64;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Failure::new("watch SIGTERM", e))?;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = term.recv() => return Ok(()),
        }
        if let Some(shared) = monitor.shared().filter(|_| monitor.shared_gone()) {
            // Blind for good: let the role go (exit) so that a guard that
            // can see — a console or guard started anew — may take it.
            return Err(OpsError::Unavailable(format!(
                "the demo simulator this guard shared (pid {}) is gone: stopping, so that another guard can act (start it again to run its own)",
                shared.pid
            )));
        }
        if guard.mode != GuardMode::Disarmed {
            let mode = guard.mode;
            let acting = tokio::task::block_in_place(|| may_act(console, &mut role, &alerts.who));
            if role.wanted && !acting {
                // Another guard may hold the role now: judge, never act.
                guard.mode = GuardMode::Observe;
            }
            one_check(console, monitor, guard, &mut alerts, acting).await;
            guard.mode = mode;
        }
        done += 1;
        if checks.is_some_and(|n| done >= n) {
            return Ok(());
        }
    }
}

/// The guard's role: wanted by a guard that acts, held while it may.
struct Role {
    wanted: bool,
    held: Option<crate::flags::Held>,
}

/// Whether this guard may act now: it wants the role and still holds it.
/// An etcd hold is lost when its lease ran out while etcd was out of reach
/// (another guard may have taken it meanwhile): this one then stands down,
/// judging without acting, until it can take the role again.
fn may_act(console: &Console, role: &mut Role, holder: &str) -> bool {
    if !role.wanted {
        return false;
    }
    if let Some(held) = &role.held {
        match console.store.still_holds(held) {
            Ok(true) => return true,
            Ok(false) => {
                log(
                    "the guard's role was lost (its lease ran out while the store was out of reach): not acting until it is ours again",
                );
                role.held = None;
            }
            Err(e) => {
                log(&format!(
                    "not acting this time: the role cannot be checked ({e})"
                ));
                return false;
            }
        }
    }
    match console.store.hold("guard", holder) {
        Ok(held) => {
            log("the guard's role is ours again: acting");
            role.held = Some(held);
            true
        }
        Err(e) => {
            log(&format!("not acting: {e}"));
            false
        }
    }
}

/// Notifications of the guard's state changes, where `[notify]` has a
/// webhook (its URL a secret: never logged).
struct Alerts {
    notifier: Notifier,
    /// The plan's gate over the checks.
    gate: crate::ops::guard::PlanGate,
    webhook: Option<(crate::providers::HttpClient, crate::providers::ProviderUrl)>,
    who: String,
    /// Cells said to be without data, until they have data again.
    blind: std::collections::BTreeSet<crate::domain::CellId>,
}

impl Alerts {
    fn new(console: &Console, monitor: &Monitor, who: String) -> Alerts {
        let webhook = match notify::webhook_url(&console.profile) {
            Ok(url) => url.map(|url| (monitor.clients.http(), url)),
            Err(why) => {
                log(&format!("{why}; notifications are off"));
                None
            }
        };
        Alerts {
            notifier: Notifier::new(&console.profile),
            gate: crate::ops::guard::PlanGate::default(),
            webhook,
            who,
            blind: std::collections::BTreeSet::new(),
        }
    }

    async fn send(&self, messages: &[Message]) {
        let Some((http, url)) = &self.webhook else {
            return;
        };
        for m in messages {
            if let Err(why) = notify::send(http, url, m).await {
                log(&format!("notification not sent ({why}): {}", m.text));
            }
        }
    }
}

/// One check: its line, the action's, and the notifications.
async fn one_check(
    console: &Console,
    monitor: &Monitor,
    guard: &mut Guard,
    alerts: &mut Alerts,
    acting: bool,
) {
    let snapshot = match tokio::task::block_in_place(|| console.store.load()) {
        Ok(s) => s,
        Err(e) => {
            log(&format!(
                "no check: the flag store cannot be read ({e}); nothing counts as a pass"
            ));
            return;
        }
    };
    let check = guard.check(&snapshot, monitor).await;
    log(&check_line(&check, guard.limits.failures_in_a_row));
    let new_blind: Vec<&str> = check
        .blind
        .iter()
        .filter(|(c, _)| !alerts.blind.contains(c))
        .map(|(_, why)| why.as_str())
        .collect();
    if !new_blind.is_empty() {
        log(&format!(
            "ALERT no data (nothing judged or rolled back there; a plan holds): {}",
            new_blind.join("; ")
        ));
    }
    alerts.blind = check.blind.iter().map(|(c, _)| c.clone()).collect();
    if acting {
        // For a `plan promote` anywhere to see (the role holder's only).
        let published = crate::ops::gate::Published::of(&check, &alerts.who, guard.interval);
        if let Err(e) =
            tokio::task::block_in_place(|| crate::ops::gate::publish(console, &published))
        {
            log(&format!(
                "the check is not published ({e}): a promote cannot see it"
            ));
        }
    }
    let mut messages = alerts.notifier.after_check(&check, &alerts.who);
    if check.triggered.is_empty() {
        steer_plan(
            console,
            guard.mode,
            &snapshot,
            &check,
            None,
            alerts,
            &mut messages,
        );
        alerts.send(&messages).await;
        return;
    }
    let rolled_back = act_on_triggers(console, guard, &check, alerts, &mut messages);
    steer_plan(
        console,
        guard.mode,
        &snapshot,
        &check,
        rolled_back,
        alerts,
        &mut messages,
    );
    alerts.send(&messages).await;
}

/// What the triggers call for, each by its rules' modes: the cells whose
/// rules roll back rolled back (armed), a hold said (the plan then holds),
/// an alert said. Returns the rollback's revision.
fn act_on_triggers(
    console: &Console,
    guard: &mut Guard,
    check: &Check,
    alerts: &mut Alerts,
    messages: &mut Vec<Message>,
) -> Option<u64> {
    let whys = |action| {
        let why: Vec<&str> = check.calling_for(action).map(|t| t.why.as_str()).collect();
        why.join("; ")
    };
    if check.calling_for(GuardMode::Observe).next().is_some() {
        log(&format!(
            "ALERT (observing: nothing rolled back): {}",
            whys(GuardMode::Observe)
        ));
    }
    if check.calling_for(GuardMode::Hold).next().is_some() {
        log(&format!(
            "HOLD (the plan's next step waits): {}",
            whys(GuardMode::Hold)
        ));
    }
    let rolled = check.calling_for(GuardMode::Rollback).count();
    if rolled == 0 {
        return None;
    }
    let started = Instant::now();
    match tokio::task::block_in_place(|| guard.act(console, check)) {
        Ok(Some(done)) => {
            log(&format!(
                "AUTO-ROLLBACK {rolled} cell(s) to {} · rev {} · {:.1} ms: {}",
                console.profile.fallback,
                done.revision,
                started.elapsed().as_secs_f64() * 1000.0,
                whys(GuardMode::Rollback)
            ));
            // One message: the rollback says the breach too.
            messages.retain(|m| m.event != notify::Event::Breach);
            messages.extend(rolled_back_message(alerts, &done));
            Some(done.revision)
        }
        Ok(None) => None,
        Err(e) => {
            log(&format!(
                "AUTO-ROLLBACK FAILED ({e}); retried at the next check: {}",
                whys(GuardMode::Rollback)
            ));
            None
        }
    }
}

/// The plan, where one runs: paused when the guard rolled its cells back or
/// (holding) when they breach; promoted when its stage passed every check
/// over a whole hold. Observing, only said.
fn steer_plan(
    console: &Console,
    mode: GuardMode,
    snapshot: &crate::flags::Snapshot,
    check: &Check,
    rolled_back: Option<u64>,
    alerts: &mut Alerts,
    messages: &mut Vec<Message>,
) {
    use crate::ops::guard::Gate;
    use crate::ops::plan::{self, Verb};
    let Ok(Some(state)) = plan::state_of(&snapshot.document) else {
        return;
    };
    if let Some(revision) = rolled_back
        && state.status == crate::domain::plan::PlanStatus::Running
    {
        // The rollback's own revision paused it (a rollback of a plan's
        // cells always does): said, not written again.
        log(&format!(
            "PLAN holds: plan {} paused with the rollback",
            state.plan.name
        ));
        let what = format!(
            "plan {} paused: its cells were rolled back",
            state.plan.name
        );
        messages.push(plan_message(
            alerts,
            &state,
            notify::Event::PlanPaused,
            what,
            revision,
        ));
        return;
    }
    let gate = alerts
        .gate
        .after_check(&state, check, std::time::SystemTime::now());
    let acts = matches!(mode, GuardMode::Hold | GuardMode::Rollback);
    let (verb, why, event) = match gate {
        Gate::Hold(why) => (
            Verb::Pause,
            format!("guard holds the plan: {why}"),
            notify::Event::PlanPaused,
        ),
        Gate::Promote { checks } => (
            Verb::Promote { full: false },
            format!("guard: the gate passed ({checks} checks over the hold)"),
            notify::Event::PlanStep,
        ),
        Gate::Wait => return,
    };
    if !acts {
        log(&format!("PLAN (observing, not acted on): {why}"));
        return;
    }
    // A promotion only over the document the check judged; a pause on the
    // latest (it never needs to wait).
    let acted = tokio::task::block_in_place(|| match verb {
        Verb::Promote { .. } => plan::act_on(console, snapshot, &verb, &why),
        _ => plan::act(console, &verb, &why),
    });
    match acted {
        Ok(done) => {
            let text = plan::outcome_words(done.state.as_ref());
            log(&format!("PLAN rev {} · {text} · {why}", done.revision));
            let what = format!("{text} · {why}");
            messages.push(plan_message(alerts, &state, event, what, done.revision));
        }
        Err(e) => log(&format!("PLAN not moved ({e}): {why}")),
    }
}

/// `rev 3 · 9 in the canary: 6 pass, 2 breach, 1 inconclusive, 0 no data · …`
fn check_line(check: &Check, threshold: u32) -> String {
    let count = |f: fn(&Verdict) -> bool| check.cells.iter().filter(|c| f(&c.verdict)).count();
    let mut line = format!(
        "rev {} · {} in the canary: {} pass, {} breach, {} inconclusive, {} no data",
        check.revision,
        check.cells.len(),
        count(|v| matches!(v, Verdict::Pass)),
        count(|v| matches!(v, Verdict::Breach(_))),
        count(|v| matches!(v, Verdict::Inconclusive { .. })),
        count(|v| matches!(v, Verdict::NoData(_))),
    );
    for c in check
        .cells
        .iter()
        .filter(|c| !matches!(c.verdict, Verdict::Pass))
    {
        line.push_str(&format!(" · {} {}", c.cell, c.verdict));
        if matches!(c.verdict, Verdict::Breach(_)) {
            line.push_str(&format!(" ({}/{threshold})", c.streak));
        }
    }
    line
}

fn mode_says(mode: GuardMode) -> &'static str {
    match mode {
        GuardMode::Disarmed => "no checks",
        GuardMode::Observe => "alerts only",
        GuardMode::Hold => "alerts and holds the plan",
        GuardMode::Rollback => "rolls breaching cells back by itself",
    }
}

fn log(line: &str) {
    eprintln!(
        "{} guard: {}",
        now_utc(),
        crate::domain::text::printable(line)
    );
}

/// The notification of an automatic rollback (from its record).
fn rolled_back_message(alerts: &mut Alerts, done: &crate::ops::Rollback) -> Option<Message> {
    let record = &done.committed.as_ref()?.record;
    Some(alerts.notifier.rollback_record(record, &alerts.who))
}

/// The notification of a plan's step or pause, about its current stage's cells.
fn plan_message(
    alerts: &Alerts,
    state: &crate::domain::plan::PlanState,
    event: notify::Event,
    what: String,
    revision: u64,
) -> Message {
    alerts
        .notifier
        .plan(event, state, what, &alerts.who, revision)
}
