use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::domain::{CellId, Direction, Selection};

#[derive(Debug, Parser)]
#[command(
    name = "beacon-console",
    version,
    about = "On-call console for moving LLM inference from Modal to RunPod by routing flags",
    after_help = "Exit codes: 0 ok, 2 invalid input, 3 conflict (stale revision), 4 flag store unavailable, 5 refused by read-only, 6 bench gates failed or plan promote refused by the gate, 7 another guard holds the role, 128+N ended by signal N (console), 141 stdout closed."
)]
pub struct Cli {
    /// Profile (TOML). Default: the built-in demo profile on the embedded simulator.
    #[arg(long, global = true, env = "BEACON_PROFILE", value_name = "PATH")]
    pub profile: Option<PathBuf>,
    /// Where the demo keeps its flag file and audit log (default: $XDG_STATE_HOME/beacon-console/demo).
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Disable every write.
    #[arg(long, global = true)]
    pub read_only: bool,
    /// Read the routing document from this file instead of the profile's
    /// store: with etcd out of reach, the copy a `sync` keeps beside a
    /// router. Needs --read-only (a copy is never written).
    #[arg(long, global = true, value_name = "PATH")]
    pub store_file: Option<PathBuf>,
    /// The environment you mean to act on (demo, staging, production): a
    /// profile of another environment is refused. In production, `--yes` on
    /// a shift or undo needs `--environment production` spelled out.
    #[arg(long, global = true, value_name = "NAME")]
    pub environment: Option<String>,
    /// Machine-readable output (JSON) where a command prints data.
    #[arg(long, global = true)]
    pub json: bool,
    /// Colours of the console: auto (NO_COLOR turns them off; else COLORTERM,
    /// then TERM: vt100 none, xterm/screen 16, *-256color 256), truecolor, 256, 16, none.
    #[arg(long, global = true, value_enum, default_value = "auto")]
    pub color: ColorChoice,
    /// Draw the console in ASCII only (the default where the locale is not UTF-8).
    #[arg(long, global = true)]
    pub ascii: bool,
    /// The console's theme: default, high-contrast, mono, a name from
    /// ~/.config/beacon-console/themes/, or a path (else the profile's `theme`).
    #[arg(long, global = true, value_name = "NAME|PATH")]
    pub theme: Option<String>,
    /// The console's guard: disarmed, observe, hold or rollback (default: the profile's `[guard] mode`).
    #[arg(long, value_name = "MODE", value_parser = parse_guard_mode)]
    pub guard: Option<crate::domain::guard::GuardMode>,
    /// The demo simulator's time scale for the console (simulated seconds per second).
    #[arg(long, global = true, hide = true, value_parser = parse_time_scale)]
    pub time_scale: Option<f64>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Truecolor,
    #[value(name = "256")]
    C256,
    #[value(name = "16")]
    C16,
    None,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The matrix: split per cell, revision, last change (`--live`: with measurements).
    Status(StatusArgs),
    /// Shift traffic of a selection towards a provider (preview, then confirm).
    Shift(ShiftArgs),
    /// Send the selection (default: everything) back to the fallback in one commit.
    Rollback(RollbackArgs),
    /// Revert the last committed change as a new revision.
    Undo(UndoArgs),
    /// The audit log, newest first.
    History(HistoryArgs),
    /// Validate the profile and print a summary.
    CheckConfig,
    /// The migration benchmark: latency, cold starts, errors and cost per endpoint, with the profile's gates.
    Bench(BenchArgs),
    /// Warm up a selection's endpoints with a few concurrent requests; reports the cold starts seen.
    Warmup(WarmupArgs),
    /// Run the simulator alone (fake RunPod + Modal, and a router per region) until Ctrl-C.
    Sim(SimArgs),
    /// The cutover plan: status, start PLAN.toml, promote [--full], pause, resume, abort.
    Plan(PlanArgs),
    /// The guardrails without a screen: check every cell against the SLO at each interval; alert, hold, or (armed) roll breaching cells back. One log line per check and per action on stderr.
    Guard(GuardArgs),
    /// Beside a region's router: mirror the routing document from etcd into the flagd file it reads, and acknowledge each revision.
    Sync(SyncArgs),
    /// Commit in a loop (test harness for crash and concurrency tests).
    #[command(hide = true)]
    StressCommit(StressArgs),
}

#[derive(Debug, Args)]
#[group(id = "selection", multiple = false)]
pub struct SelectionArgs {
    /// One cell: MODEL/REGION.
    #[arg(long, value_name = "MODEL/REGION", value_parser = parse_cell)]
    pub cell: Option<CellId>,
    /// A whole row: every region of one model.
    #[arg(long, value_name = "MODEL")]
    pub row: Option<String>,
    /// A whole column: every model in one region.
    #[arg(long, value_name = "REGION")]
    pub column: Option<String>,
    /// Every cell.
    #[arg(long)]
    pub all: bool,
}

impl SelectionArgs {
    pub fn selection(&self) -> Option<Selection> {
        if let Some(cell) = &self.cell {
            Some(Selection::Cell(cell.clone()))
        } else if let Some(model) = &self.row {
            Some(Selection::Row {
                model: model.clone(),
            })
        } else if let Some(region) = &self.column {
            Some(Selection::Column {
                region: region.clone(),
            })
        } else if self.all {
            Some(Selection::All)
        } else {
            None
        }
    }
}

fn parse_cell(text: &str) -> Result<CellId, String> {
    CellId::parse(text).ok_or_else(|| format!("expected MODEL/REGION, got {text:?}"))
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StepArg {
    Up,
    Down,
}

impl From<StepArg> for Direction {
    fn from(s: StepArg) -> Self {
        match s {
            StepArg::Up => Direction::Up,
            StepArg::Down => Direction::Down,
        }
    }
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("amount").required(true).args(["to", "step"])))]
pub struct ShiftArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// The provider's new share in percent (0.1 steps): 25, 0.1, 99.9%.
    #[arg(long, value_name = "PCT", allow_hyphen_values = true)]
    pub to: Option<String>,
    /// One rung up or down the profile's ladder.
    #[arg(long, value_enum)]
    pub step: Option<StepArg>,
    /// The provider to shift towards (default: the one that is not the fallback).
    #[arg(long, value_name = "ID")]
    pub provider: Option<String>,
    /// Why (goes to the audit log and the document).
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Refuse unless the document is still at this revision.
    #[arg(long, value_name = "N")]
    pub expect_revision: Option<u64>,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[arg(long, value_name = "TEXT", default_value = "rollback")]
    pub reason: String,
    /// With --all: write a fresh all-fallback document even when the current one is
    /// missing or unreadable (the bad file is kept as a timestamped backup).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct UndoArgs {
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Refuse unless the document is still at this revision.
    #[arg(long, value_name = "N")]
    pub expect_revision: Option<u64>,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Requests per endpoint.
    #[arg(long, default_value_t = 100)]
    pub requests: usize,
    /// Requests in flight at once, in all.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Only this provider's endpoints.
    #[arg(long, value_name = "ID")]
    pub provider: Option<String>,
    /// Per-request timeout in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    pub timeout_ms: u64,
    /// Simulated seconds per real second (demo simulator only).
    #[arg(long, value_name = "X", value_parser = parse_time_scale)]
    pub time_scale: Option<f64>,
}

#[derive(Debug, Args)]
pub struct WarmupArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Only this provider (`all` or omitted: every provider).
    #[arg(long, value_name = "ID|all")]
    pub provider: Option<String>,
    /// Requests per endpoint.
    #[arg(long, default_value_t = 4)]
    pub requests: usize,
    /// Requests in flight at once, in all.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Per-request timeout in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    pub timeout_ms: u64,
    /// Simulated seconds per real second (demo simulator only).
    #[arg(long, value_name = "X", value_parser = parse_time_scale)]
    pub time_scale: Option<f64>,
}

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Where the fake providers listen.
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    pub bind: std::net::SocketAddr,
    /// Simulated seconds per real second.
    #[arg(long, value_name = "X", value_parser = parse_time_scale)]
    pub time_scale: Option<f64>,
    /// Synthetic requests per second per region router (default: the profile's).
    #[arg(long, value_name = "RPS")]
    pub rps: Option<f64>,
    /// Only the fake providers, no routers.
    #[arg(long)]
    pub no_routers: bool,
    /// Require `Authorization: Bearer <TOKEN>` on the fault API (/sim/faults).
    /// Needed when --bind is not loopback.
    #[arg(
        long,
        env = "BEACON_SIM_FAULT_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub fault_token: Option<String>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Probe every endpoint (and, on the demo, watch the simulated routers) for a while, then report.
    #[arg(long)]
    pub live: bool,
    /// How long to measure, with --live.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub seconds: f64,
    /// Simulated seconds per real second (demo simulator only).
    #[arg(long, value_name = "X", value_parser = parse_time_scale)]
    pub time_scale: Option<f64>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// At most this many entries (1 or more).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    /// Only this kind: shift, rollback, forced_rollback, undo, auto_rollback, plan_step, refused.
    #[arg(long, value_name = "ACTION")]
    pub action: Option<String>,
}

#[derive(Debug, Args)]
pub struct StressArgs {
    /// Commits to make; 0 = until killed.
    #[arg(long, default_value_t = 0)]
    pub count: u64,
    /// Retry on conflict (reload and re-apply) and while the store is away.
    #[arg(long)]
    pub retry: bool,
    /// The cell to change (default: the first).
    #[arg(long, value_parser = parse_cell)]
    pub cell: Option<CellId>,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The region whose router reads the file (acknowledged as applied there).
    #[arg(long)]
    pub region: String,
    /// The flagd file the router's OpenFeature provider watches.
    #[arg(long, value_name = "PATH")]
    pub to: PathBuf,
    /// Mirror and acknowledge once, then exit (for scripts).
    #[arg(long)]
    pub once: bool,
}

#[derive(Debug, Args)]
pub struct GuardArgs {
    /// disarmed, observe (alert only), hold (alert, hold a plan), rollback (roll breaching cells back); default: the profile's `[guard] mode`.
    #[arg(long, value_name = "MODE", value_parser = parse_guard_mode)]
    pub mode: Option<crate::domain::guard::GuardMode>,
    /// Stop after this many checks, 1 or more (for scripts; default: until stopped).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub checks: Option<u64>,
    /// The demo simulator's time scale (simulated seconds per second).
    #[arg(long, value_parser = parse_time_scale)]
    pub time_scale: Option<f64>,
}

/// A time scale the simulator can keep: finite, above 0, at most 1,000,000.
pub fn parse_time_scale(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 && x <= 1_000_000.0 => Ok(x),
        _ => Err(format!(
            "expected a positive, finite time scale of at most 1000000, got {text:?}"
        )),
    }
}

fn parse_guard_mode(text: &str) -> Result<crate::domain::guard::GuardMode, String> {
    crate::config::parse_guard_mode(text).ok_or_else(|| {
        format!("unknown mode {text:?}: expected disarmed, observe, hold or rollback")
    })
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(subcommand)]
    pub verb: PlanVerb,
    /// Why, for the audit.
    #[arg(long, global = true, default_value = "")]
    pub reason: String,
    /// Apply without asking (needed without a terminal; in production with --environment production).
    #[arg(long, global = true)]
    pub yes: bool,
}

#[derive(Debug, Subcommand)]
pub enum PlanVerb {
    /// Where the plan stands: stage, step, share, the hold's countdown.
    Status,
    /// Start a plan (TOML: stages of regions, steps of share and hold).
    Start { path: PathBuf },
    /// The next step now (`--full`: every remaining step, to the end).
    /// Refused while the guard's last check finds the stage breaching.
    Promote {
        /// Every remaining step in one commit: the plan then done.
        #[arg(long)]
        full: bool,
        /// Promote although the guard finds the stage breaching (audited).
        #[arg(long)]
        ignore_gate: bool,
    },
    /// Stay at this step until resumed.
    Pause,
    /// Run again from the paused step: its shares written again, its hold afresh.
    Resume,
    /// Roll every cell of the plan back to the fallback at once.
    Abort,
}
