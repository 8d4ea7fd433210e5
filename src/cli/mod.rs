//! The command line: a thin face over `ops`. Exit codes: 0 ok, 2 invalid input,
//! 3 conflict, 4 store unavailable, 5 refused by read-only.

mod args;
mod bench;
mod guard;
mod live;
pub(crate) mod output;
mod plan;
mod run;
mod sim;
mod stress;
mod sync;

pub use args::Cli;
pub use run::run;

/// Parses arguments, runs, and returns the process exit code.
pub fn main() -> i32 {
    use clap::Parser;
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let json = cli.json;
    match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            // A failed bench already printed its report (with its verdict).
            if json && !matches!(e, crate::ops::OpsError::GatesFailed(_)) {
                let value = serde_json::json!({ "error": { "code": e.exit_code(), "message": e.to_string() } });
                println!("{value}");
            }
            // Errors can quote stored text (who changed what, and why).
            eprintln!("error: {}", crate::domain::text::printable(&e.to_string()));
            e.exit_code()
        }
    }
}
