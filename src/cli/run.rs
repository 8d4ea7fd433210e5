use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use crate::config::{Profile, ProfileSource};
use crate::domain::{Action, PerMille, Selection};
use crate::flags::Snapshot;
use crate::ops::{self, Console, OpsError, ShiftAmount};

use super::args::{Cli, ColorChoice, Command, RollbackArgs, ShiftArgs, UndoArgs};
use super::output;

/// The console's theme: `--theme`, else the profile's, else the default.
fn theme(
    flag: Option<&str>,
    profile: &crate::config::Profile,
) -> Result<crate::tui::theme::Theme, OpsError> {
    let name = flag.or(profile.theme.as_deref()).unwrap_or("default");
    crate::tui::theme::Theme::load(name).map_err(|mut e| {
        // A theme named by the profile that is not found: say where the
        // profile names it (a theme file's own errors keep their place).
        if let (None, Some((line, col)), 0) = (flag, profile.theme_at, e.line) {
            e.message = format!("theme {:?}: {}", e.file, e.message);
            e.file = profile.origin.clone();
            (e.line, e.col) = (line, col);
            return OpsError::Invalid(e.to_string());
        }
        OpsError::Invalid(format!("theme: {e}"))
    })
}

pub fn run(cli: Cli) -> Result<(), OpsError> {
    let source = profile_source(&cli);
    let json = cli.json;
    let environment = cli.environment.clone();
    let console = || {
        let console = match &cli.store_file {
            Some(_) if !cli.read_only => {
                return Err(OpsError::Invalid(
                    "--store-file opens a copy of the routing document, which is never written: add --read-only".into(),
                ));
            }
            Some(copy) => Console::open_copy(&source, copy)?,
            None => Console::open(&source, cli.read_only)?,
        };
        check_environment(&console, environment.as_deref())?;
        Ok::<_, OpsError>(console)
    };
    match cli.command {
        // On a terminal: the console. Piped or with --json: the matrix once.
        None if !json && std::io::stdout().is_terminal() && std::io::stdin().is_terminal() => {
            use crate::tui::theme::Depth;
            let depth = match cli.color {
                ColorChoice::Auto => Depth::detect(),
                ColorChoice::Truecolor => Depth::Truecolor,
                ColorChoice::C256 => Depth::Indexed256,
                ColorChoice::C16 => Depth::Ansi16,
                ColorChoice::None => Depth::None,
            };
            let console = console()?;
            // A bad theme stops here, before the screen is taken, with
            // file:line:col.
            let theme = theme(cli.theme.as_deref(), &console.profile)?.at_depth(depth);
            crate::tui::run(
                console,
                crate::tui::Options {
                    theme,
                    depth,
                    time_scale: cli.time_scale,
                    ascii: cli.ascii,
                    guard: cli.guard,
                },
            )
        }
        None => {
            let c = console()?;
            output::status(&c, &load(&c)?, json);
            Ok(())
        }
        Some(Command::Status(args)) if args.live => super::live::run(&console()?, args, json),
        Some(Command::Status(_)) => {
            let c = console()?;
            output::status(&c, &load(&c)?, json);
            Ok(())
        }
        Some(Command::CheckConfig) => {
            let c = console()?;
            // The console's theme too: better found now than at 3 a.m.
            theme(cli.theme.as_deref(), &c.profile)?;
            output::check_config(&c.profile, json);
            Ok(())
        }
        Some(Command::History(args)) => {
            let c = console()?;
            // Reconciles a missing audit line before showing history (a
            // read-only store only reports the lag).
            let behind = c.store.load().map_or(0, |s| s.audit_behind);
            let mut history = ops::history(c.store.as_ref(), &c.audit, None)?;
            if let Some(action) = &args.action {
                history.keep_only(action).map_err(OpsError::Invalid)?;
            }
            if let Some(limit) = args.limit {
                history
                    .events
                    .truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            }
            output::history(&history, json);
            if behind > 0 {
                eprintln!(
                    "warning: audit behind by {behind} revision(s): the newest change(s) are in the flag document but not yet in this history"
                );
            }
            Ok(())
        }
        Some(Command::Shift(args)) => {
            let c = console()?;
            check_forward_yes(&c, args.yes, cli.environment.as_deref())?;
            shift(&c, args, json)
        }
        Some(Command::Rollback(args)) => rollback(&console()?, args, json),
        Some(Command::Undo(args)) => {
            let c = console()?;
            check_forward_yes(&c, args.yes, cli.environment.as_deref())?;
            undo(&c, args, json)
        }
        Some(Command::StressCommit(args)) => super::stress::run(&console()?, args),
        Some(Command::Bench(args)) => super::bench::run(&console()?, args, json),
        Some(Command::Warmup(args)) => super::bench::warmup(&console()?, args, json),
        Some(Command::Sim(args)) => super::sim::run(&console()?, args, json),
        Some(Command::Plan(args)) => {
            let c = console()?;
            super::plan::run(&c, args, json, cli.environment.as_deref())
        }
        Some(Command::Guard(args)) => super::guard::run(&console()?, args),
        Some(Command::Sync(args)) => super::sync::run(&Profile::load(&source)?, args),
    }
}

fn profile_source(cli: &Cli) -> ProfileSource {
    match &cli.profile {
        Some(path) => ProfileSource::File(path.clone()),
        None => ProfileSource::Demo {
            state_dir: cli.state_dir.clone().unwrap_or_else(default_state_dir),
        },
    }
}

/// `$XDG_STATE_HOME/beacon-console/demo`, else `~/.local/state/beacon-console/demo`.
fn default_state_dir() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from(".beacon-state"));
    base.join("beacon-console").join("demo")
}

fn load(console: &Console) -> Result<Snapshot, OpsError> {
    Ok(console.store.load()?)
}

/// `--expect-revision`: a script's compare-and-swap. A refusal is audited
/// like any other refused attempt.
fn check_expected(
    console: &Console,
    snapshot: &Snapshot,
    expected: Option<u64>,
    action: Action,
    reason: &str,
) -> Result<(), OpsError> {
    match expected {
        Some(rev) if rev != snapshot.revision() => {
            let last = snapshot.document.last_change();
            let conflict = crate::flags::Conflict {
                based_on: rev,
                current: Some(snapshot.revision()),
                changed_by: last.map(|c| c.operator.to_string()),
                changed_at: last.map(|c| c.time.clone()),
                change: last.map(|c| format!("{}, \"{}\"", c.action, c.reason)),
                outside_edit: false,
            };
            console.record_refusal(action, reason, rev, &conflict.to_string());
            Err(conflict.into())
        }
        _ => Ok(()),
    }
}

/// `--environment`, when given, must name the profile's environment.
fn check_environment(console: &Console, wanted: Option<&str>) -> Result<(), OpsError> {
    let actual = console.profile.environment.name();
    match wanted {
        Some(w) if !w.eq_ignore_ascii_case(actual) => Err(OpsError::Invalid(format!(
            "--environment {w:?}, but the profile {} is {actual}: nothing was done",
            console.profile.origin
        ))),
        _ => Ok(()),
    }
}

/// `--yes` for a change forward: in production it also needs
/// `--environment production` (like kubectl's explicit context), since a
/// script's `--yes` aimed at staging must not move production traffic.
pub(super) fn check_forward_yes(
    console: &Console,
    yes: bool,
    wanted: Option<&str>,
) -> Result<(), OpsError> {
    let production = console.profile.environment == crate::config::Environment::Production;
    if yes && production && wanted.is_none() {
        return Err(OpsError::Invalid(format!(
            "the profile {} is production: --yes needs --environment production spelled out (rollback does not)",
            console.profile.origin
        )));
    }
    Ok(())
}

/// Asks on a terminal; without one, only `--yes` lets a write through. In
/// production a change forward is confirmed by typing the environment's name.
pub(super) fn confirm_forward(
    console: &Console,
    yes: bool,
    question: &str,
) -> Result<(), OpsError> {
    if console.profile.environment != crate::config::Environment::Production {
        return confirm(yes, question);
    }
    ask(
        yes,
        &format!("{question} This is PRODUCTION: type production to apply:"),
        |answer| answer == "production",
    )
}

/// Asks on a terminal; without one, only `--yes` lets a write through.
pub(super) fn confirm(yes: bool, question: &str) -> Result<(), OpsError> {
    ask(yes, &format!("{question} [y/N]"), |answer| {
        matches!(answer, "y" | "Y" | "yes" | "YES" | "Yes")
    })
}

/// `prompt` on stderr, and the answer on stdin must satisfy `accepts`.
fn ask(yes: bool, prompt: &str, accepts: impl Fn(&str) -> bool) -> Result<(), OpsError> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(OpsError::Invalid(
            "refusing to write without confirmation: stdin is not a terminal; pass --yes".into(),
        ));
    }
    eprint!("{prompt} ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| OpsError::Invalid(format!("cannot read the answer: {e}")))?;
    if accepts(answer.trim()) {
        Ok(())
    } else {
        Err(OpsError::Invalid("cancelled: nothing was written".into()))
    }
}

fn reason_or_invalid(reason: &str) -> Result<String, OpsError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(OpsError::Invalid(
            "--reason must not be empty: say why, for the audit log".into(),
        ));
    }
    if let Some((at, c)) = crate::domain::text::first_unsafe(reason) {
        return Err(OpsError::Invalid(format!(
            "--reason has a control character (U+{:04X}) at character {at}: write the reason as plain text on one line",
            u32::from(c)
        )));
    }
    Ok(reason.to_string())
}

fn shift(console: &Console, args: ShiftArgs, json: bool) -> Result<(), OpsError> {
    let selection = args.selection.selection().ok_or_else(|| {
        OpsError::Invalid(
            "say which cells: --cell MODEL/REGION, --row MODEL, --column REGION or --all".into(),
        )
    })?;
    let amount = match (&args.to, args.step) {
        (Some(text), _) => ShiftAmount::To(PerMille::parse_percent(text)?),
        (None, Some(step)) => ShiftAmount::Step(step.into()),
        (None, None) => {
            return Err(OpsError::Invalid(
                "say how far: --to PCT or --step up|down".into(),
            ));
        }
    };
    let reason = reason_or_invalid(&args.reason)?;
    // Validate everything we can before touching the store or asking.
    selection.resolve(&console.profile.model_ids(), &console.profile.region_ids())?;
    console.ensure_writable("shift traffic")?;
    let snapshot = load(console)?;
    check_expected(
        console,
        &snapshot,
        args.expect_revision,
        Action::Shift,
        &reason,
    )?;
    let plan = ops::plan_shift(
        &console.profile,
        snapshot.routes(),
        &selection,
        amount,
        args.provider.as_deref(),
    )?;
    if !json {
        output::preview(
            &format!(
                "shift {} towards {} ({selection})",
                amount_text(amount),
                plan.provider
            ),
            snapshot.revision(),
            &plan.changes,
            &plan.skipped,
        );
    }
    if plan.changes.is_empty() {
        output::nothing_to_do(snapshot.revision(), json, "no cell changes");
        return Ok(());
    }
    confirm_forward(
        console,
        args.yes,
        &format!("Apply to {} cell(s)?", plan.changes.len()),
    )?;
    let started = Instant::now();
    let committed = console.commit(&snapshot, plan.routes, Action::Shift, &reason, started)?;
    output::committed(&committed, json);
    Ok(())
}

fn amount_text(amount: ShiftAmount) -> String {
    match amount {
        ShiftAmount::To(p) => format!("to {p}"),
        ShiftAmount::Step(crate::domain::Direction::Up) => "one step up".into(),
        ShiftAmount::Step(crate::domain::Direction::Down) => "one step down".into(),
    }
}

fn rollback(console: &Console, args: RollbackArgs, json: bool) -> Result<(), OpsError> {
    let selection = args.selection.selection().unwrap_or(Selection::All);
    if args.force && selection != Selection::All {
        return Err(OpsError::Invalid(
            "--force replaces the whole document: use it with --all".into(),
        ));
    }
    let reason = reason_or_invalid(&args.reason)?;
    console.ensure_writable("roll back")?;
    if !args.yes {
        // Show what would change; the rollback itself re-reads under the lock.
        if !args.force
            && let Ok(snapshot) = console.store.load()
        {
            let (_, changes) = ops::plan_rollback(&console.profile, snapshot.routes(), &selection)?;
            if changes.is_empty() {
                let why = "every selected cell is already on the fallback";
                output::nothing_to_do(snapshot.revision(), json, why);
                return Ok(());
            }
            if !json {
                let title = format!("rollback of {selection} to {}", console.profile.fallback);
                output::preview(&title, snapshot.revision(), &changes, &[]);
            }
        }
        confirm(
            false,
            &format!("Roll back {selection} to {}?", console.profile.fallback),
        )?;
    }
    let result = if args.force {
        ops::force_rollback(console, &reason)?
    } else {
        ops::rollback(console, &selection, &reason)?
    };
    output::rollback(&result, &console.profile.fallback, json);
    Ok(())
}

fn undo(console: &Console, args: UndoArgs, json: bool) -> Result<(), OpsError> {
    console.ensure_writable("undo")?;
    let given = args.reason.as_deref().map(reason_or_invalid).transpose()?;
    let snapshot = load(console)?;
    let why = given.as_deref().unwrap_or("undo");
    check_expected(console, &snapshot, args.expect_revision, Action::Undo, why)?;
    let (routes, undone, changes) = ops::plan_undo(&snapshot)?;
    let original = snapshot
        .document
        .last_change()
        .map(|c| crate::domain::text::printable(&c.reason).into_owned())
        .unwrap_or_default();
    let reason = given.unwrap_or_else(|| format!("undo revision {undone} (\"{original}\")"));
    if !json {
        output::preview(
            &format!("undo revision {undone}"),
            snapshot.revision(),
            &changes,
            &[],
        );
    }
    confirm_forward(
        console,
        args.yes,
        &format!("Revert {} cell(s)?", changes.len()),
    )?;
    let committed = console.commit(&snapshot, routes, Action::Undo, &reason, Instant::now())?;
    output::committed(&committed, json);
    Ok(())
}
