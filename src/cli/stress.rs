//! A commit loop for the crash-safety and lost-update tests: each success is
//! printed (and flushed) before the next commit starts.

use std::io::Write;
use std::time::Instant;

use crate::domain::{Action, PerMille, Split};
use crate::ops::{Console, OpsError};

use super::args::StressArgs;

pub fn run(console: &Console, args: StressArgs) -> Result<(), OpsError> {
    let profile = &console.profile;
    let cell = args.cell.unwrap_or_else(|| profile.cells()[0].clone());
    let target = profile
        .sole_target()
        .ok_or_else(|| {
            OpsError::Invalid("stress-commit needs a profile with two providers".into())
        })?
        .to_string();
    let eligible = profile.providers_for(&cell);
    let mut done = 0u64;
    let mut stdout = std::io::stdout().lock();
    while args.count == 0 || done < args.count {
        let snapshot = match console.store.load() {
            Ok(s) => s,
            Err(e) if args.retry => {
                let _ = writeln!(std::io::stderr(), "retrying: {e}");
                std::thread::sleep(std::time::Duration::from_millis(50));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let current = snapshot
            .routes()
            .get(&cell)
            .cloned()
            .unwrap_or_else(|| Split::all(profile.fallback.as_str()));
        // Always a real change: the next per-mille value, wrapping at 100 %.
        let next = (current.share(&target).get() + 1) % 1001;
        let split = current.with_share(
            &target,
            PerMille::new(next).unwrap_or(PerMille::ZERO),
            &profile.fallback,
            &eligible,
        )?;
        let mut routes = snapshot.routes().clone();
        routes.set(cell.clone(), split);
        let reason = format!("stress {}", std::process::id());
        match console.commit(&snapshot, routes, Action::Shift, &reason, Instant::now()) {
            Ok(c) => {
                done += 1;
                let _ = writeln!(stdout, "committed {}", c.record.revision);
                let _ = stdout.flush();
            }
            Err(OpsError::Store(crate::flags::StoreError::Conflict(_))) if args.retry => continue,
            // A store that is away (an etcd member down): try again; a
            // commit whose answer was lost is found on the next read, and
            // compare-and-swap keeps it from being made twice.
            Err(OpsError::Store(e)) if args.retry => {
                let _ = writeln!(std::io::stderr(), "retrying: {e}");
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
