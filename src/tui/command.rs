//! The `:` command line: what a typed line means, and Tab completion of its
//! words (commands, cells, rows, columns, theme names). Pure: no screen.

use crate::domain::{CellId, Id, PerMille, Selection};

/// What a command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// To the dialog, like `=`: nothing is written before it is confirmed.
    Shift(Selection, PerMille),
    /// At once, like the second `X`: typing it out is the deliberate act.
    Rollback(Selection),
    /// Give up a pending rollback's retries (a dialog asks first).
    GiveUpRollback,
    /// Every cell to the fallback over a document that cannot be read.
    ForceRollback,
    /// A cutover plan's verb.
    Plan(PlanCommand),
    Warmup(Selection),
    Undo,
    Theme(String),
    Filter(String),
    History,
    Help,
    Quit,
}

/// The plan's verbs the console offers (a plan is started from the
/// command line, where its file is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanCommand {
    Promote,
    /// Promote although the guard finds the stage breaching (audited), or
    /// the target failing there.
    PromoteOverGate,
    /// Resume although the target is failing in the stage's cells.
    ResumeAnyway,
    Pause,
    Resume,
    Abort,
}

/// The ids a line may name.
pub struct Vocabulary<'a> {
    pub models: &'a [Id],
    pub regions: &'a [Id],
    pub themes: &'a [String],
}

/// (name, usage) of every command, for errors and completion.
pub const COMMANDS: [(&str, &str); 11] = [
    (
        "shift",
        "shift CELLS PERCENT   e.g. shift llama-3.2-1b/us-east 25",
    ),
    ("rollback", "rollback CELLS|all|cancel|force [-- REASON]"),
    ("warmup", "warmup CELLS"),
    ("undo", "undo"),
    ("plan", "plan promote|pause|resume|abort [-- REASON]"),
    ("theme", "theme NAME"),
    ("filter", "filter TEXT"),
    ("history", "history"),
    ("help", "help"),
    ("quit", "quit"),
    ("q", "q"),
];

fn usage(command: &str) -> &'static str {
    COMMANDS
        .iter()
        .find(|(name, _)| *name == command)
        .map_or("", |(_, usage)| usage)
}

/// The reason after ` -- ` on a command line, for the audit: `shift
/// */us-east 25 -- canary after bench`. Plain text on one line.
pub fn split_reason(line: &str) -> Result<(&str, Option<String>), String> {
    let Some((command, reason)) = line.split_once(" -- ") else {
        return Ok((line, None));
    };
    let reason = reason.trim();
    if let Some((at, c)) = crate::domain::text::first_unsafe(reason) {
        return Err(format!(
            "the reason has a control character (U+{:04X}) at character {at}",
            u32::from(c)
        ));
    }
    Ok((command, (!reason.is_empty()).then(|| reason.to_string())))
}

/// Parses a command line (without the `:`).
pub fn parse(line: &str, vocabulary: &Vocabulary) -> Result<Action, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some((&command, args)) = words.split_first() else {
        return Err("type a command: shift, rollback, warmup, undo, theme, filter, q".into());
    };
    let wrong = || format!("usage: {}", usage(command));
    match command {
        "shift" => {
            let (percent, cells) = args.split_last().ok_or_else(wrong)?;
            if cells.is_empty() {
                return Err(wrong());
            }
            let share = PerMille::parse_percent(percent.trim_end_matches('%'))
                .map_err(|e| format!("{e} ({})", wrong()))?;
            Ok(Action::Shift(selection(cells, vocabulary)?, share))
        }
        "rollback" if args == ["cancel"] => Ok(Action::GiveUpRollback),
        "rollback" if args == ["force"] => Ok(Action::ForceRollback),
        "plan" => match args {
            ["promote"] => Ok(Action::Plan(PlanCommand::Promote)),
            ["promote", "anyway"] => Ok(Action::Plan(PlanCommand::PromoteOverGate)),
            ["pause"] => Ok(Action::Plan(PlanCommand::Pause)),
            ["resume"] => Ok(Action::Plan(PlanCommand::Resume)),
            ["resume", "anyway"] => Ok(Action::Plan(PlanCommand::ResumeAnyway)),
            ["abort"] => Ok(Action::Plan(PlanCommand::Abort)),
            _ => Err("usage: plan promote [anyway]|pause|resume [anyway]|abort".into()),
        },
        "rollback" if !args.is_empty() => Ok(Action::Rollback(selection(args, vocabulary)?)),
        "warmup" if !args.is_empty() => Ok(Action::Warmup(selection(args, vocabulary)?)),
        "theme" => match args {
            [name] if vocabulary.themes.iter().any(|t| t == name) => {
                Ok(Action::Theme(name.to_string()))
            }
            [name] => Err(format!(
                "no theme {name:?} (themes: {})",
                vocabulary.themes.join(", ")
            )),
            _ => Err(wrong()),
        },
        "filter" => Ok(Action::Filter(args.join(" "))),
        "undo" if args.is_empty() => Ok(Action::Undo),
        "history" if args.is_empty() => Ok(Action::History),
        "help" if args.is_empty() => Ok(Action::Help),
        "q" | "quit" if args.is_empty() => Ok(Action::Quit),
        _ if COMMANDS.iter().any(|(name, _)| *name == command) => Err(wrong()),
        _ => Err(format!(
            "unknown command {command:?} (commands: shift, rollback, warmup, undo, theme, filter, history, help, q)"
        )),
    }
}

/// `all`, `MODEL/REGION`, `MODEL/*` (a row), `*/REGION` (a column), or
/// several cells.
fn selection(words: &[&str], vocabulary: &Vocabulary) -> Result<Selection, String> {
    let one = |word: &str| -> Result<Selection, String> {
        if word == "all" {
            return Ok(Selection::All);
        }
        let Some((model, region)) = word.split_once('/') else {
            return Err(format!(
                "{word:?} is not a cell: write MODEL/REGION, MODEL/*, */REGION or all"
            ));
        };
        Ok(match (model, region) {
            ("*", "*") => Selection::All,
            (model, "*") => Selection::Row {
                model: model.to_string(),
            },
            ("*", region) => Selection::Column {
                region: region.to_string(),
            },
            _ => Selection::Cell(
                CellId::parse(word).ok_or_else(|| format!("{word:?} is not a cell id"))?,
            ),
        })
    };
    let selection = match words {
        [word] => one(word)?,
        _ => {
            let mut cells = Vec::new();
            for word in words {
                match one(word)? {
                    Selection::Cell(cell) => cells.push(cell),
                    _ => {
                        return Err(format!(
                            "{word:?}: list single cells, or give one row, column or all"
                        ));
                    }
                }
            }
            Selection::Cells(cells)
        }
    };
    selection
        .resolve(vocabulary.models, vocabulary.regions)
        .map_err(|e| e.to_string())?;
    Ok(selection)
}

/// The line after Tab, and the candidates when more than one fits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub line: String,
    pub candidates: Vec<String>,
}

/// Completes the last word of `line`: to the one candidate that fits (and a
/// space), or to what all candidates share, listing them.
pub fn complete(line: &str, vocabulary: &Vocabulary) -> Completion {
    let start = line.rfind(char::is_whitespace).map_or(0, |i| i + 1);
    let (head, word) = line.split_at(start);
    let words: Vec<&str> = head.split_whitespace().collect();
    let pool: Vec<String> = match words.first() {
        None => COMMANDS.iter().map(|(name, _)| name.to_string()).collect(),
        Some(&"theme") if words.len() == 1 => vocabulary.themes.to_vec(),
        Some(&("shift" | "rollback" | "warmup")) => cell_words(vocabulary),
        _ => Vec::new(),
    };
    let candidates: Vec<String> = pool.into_iter().filter(|c| c.starts_with(word)).collect();
    match candidates.as_slice() {
        [] => Completion {
            line: line.to_string(),
            candidates,
        },
        [only] => Completion {
            line: format!("{head}{only} "),
            candidates: Vec::new(),
        },
        many => {
            let shared = common_prefix(many);
            Completion {
                line: format!(
                    "{head}{}",
                    if shared.len() > word.len() {
                        shared
                    } else {
                        word
                    }
                ),
                candidates,
            }
        }
    }
}

fn cell_words(vocabulary: &Vocabulary) -> Vec<String> {
    let mut words = vec!["all".to_string()];
    for model in vocabulary.models {
        for region in vocabulary.regions {
            words.push(format!("{model}/{region}"));
        }
        words.push(format!("{model}/*"));
    }
    words.extend(vocabulary.regions.iter().map(|r| format!("*/{r}")));
    words
}

fn common_prefix(words: &[String]) -> &str {
    let first = words[0].as_str();
    let mut end = first.len();
    for word in &words[1..] {
        end = first
            .char_indices()
            .zip(word.chars())
            .take_while(|((_, a), b)| a == b)
            .last()
            .map_or(0, |((i, c), _)| i + c.len_utf8())
            .min(end);
    }
    &first[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> Vec<Id> {
        list.iter().map(|s| Id::from(*s)).collect()
    }

    fn with<T>(f: impl FnOnce(&Vocabulary) -> T) -> T {
        let models = ids(&["llama-3.2-1b", "llama-3.1-8b", "qwen-7b"]);
        let regions = ids(&["us-east", "eu-west"]);
        let themes = vec!["default".to_string(), "high-contrast".into(), "mono".into()];
        f(&Vocabulary {
            models: &models,
            regions: &regions,
            themes: &themes,
        })
    }

    #[test]
    fn commands_parse_to_actions() {
        with(|v| {
            let cell = CellId::new("llama-3.2-1b", "us-east");
            assert_eq!(
                parse("shift llama-3.2-1b/us-east 25", v),
                Ok(Action::Shift(
                    Selection::Cell(cell.clone()),
                    PerMille::parse_percent("25").unwrap()
                ))
            );
            assert_eq!(
                parse("rollback all", v),
                Ok(Action::Rollback(Selection::All))
            );
            assert_eq!(
                parse("rollback */eu-west", v),
                Ok(Action::Rollback(Selection::Column {
                    region: "eu-west".into()
                }))
            );
            assert_eq!(
                parse("warmup qwen-7b/*", v),
                Ok(Action::Warmup(Selection::Row {
                    model: "qwen-7b".into()
                }))
            );
            assert_eq!(parse(" theme mono ", v), Ok(Action::Theme("mono".into())));
            assert_eq!(parse("q", v), Ok(Action::Quit));
            assert_eq!(parse("filter eu", v), Ok(Action::Filter("eu".into())));
        });
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        with(|v| {
            let err = |line: &str| parse(line, v).unwrap_err();
            assert!(
                err("shift llama-3.2-1b/us-east 125").contains("100"),
                "{}",
                err("shift llama-3.2-1b/us-east 125")
            );
            assert!(err("shift nope/us-east 25").contains("unknown model \"nope\""));
            assert!(err("shift 25").starts_with("usage: shift"));
            assert!(err("rollback").starts_with("usage: rollback"));
            assert!(err("rollback llama").contains("is not a cell"));
            assert!(err("theme neon").contains("no theme \"neon\""));
            assert!(err("launch").contains("unknown command"));
            assert!(err("").contains("type a command"));
        });
    }

    #[test]
    fn tab_completes_commands_cells_and_themes() {
        with(|v| {
            assert_eq!(complete("sh", v).line, "shift ");
            assert_eq!(complete("shift qw", v).line, "shift qwen-7b/");
            assert_eq!(
                complete("shift qwen-7b/e", v).line,
                "shift qwen-7b/eu-west "
            );
            let many = complete("shift llama-3.", v);
            assert_eq!(many.line, "shift llama-3.");
            assert!(
                many.candidates
                    .contains(&"llama-3.1-8b/us-east".to_string()),
                "{many:?}"
            );
            assert_eq!(complete("rollback a", v).line, "rollback all ");
            assert_eq!(complete("theme h", v).line, "theme high-contrast ");
            assert_eq!(complete("rollback */u", v).line, "rollback */us-east ");
            // Nothing fits: the line stays as it was.
            assert_eq!(
                complete("shift zz", v),
                Completion {
                    line: "shift zz".into(),
                    candidates: vec![]
                }
            );
        });
    }
}
