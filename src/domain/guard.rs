//! Guardrails, the pure part: each check judges a cell's traffic on the
//! provider being shifted to against the SLO, and breaches in a row make a
//! trigger. No data is neither a failure nor a pass (argo-rollouts #1905,
//! #4479; flagger #1035): too few samples is inconclusive, a metrics source
//! that is down is no data, and neither moves a cell towards a rollback nor
//! away from one.

use std::collections::BTreeMap;
use std::fmt;

use super::CellId;

/// What the guard does about a breach that reached the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GuardMode {
    /// Off: no checks.
    Disarmed,
    /// Alert only.
    Observe,
    /// Alert, and hold a plan's next step.
    Hold,
    /// Alert, and roll the breaching cells back by itself.
    Rollback,
}

impl GuardMode {
    /// As the profile and `--mode` spell it.
    pub fn name(self) -> &'static str {
        match self {
            GuardMode::Disarmed => "disarmed",
            GuardMode::Observe => "observe",
            GuardMode::Hold => "hold",
            GuardMode::Rollback => "rollback",
        }
    }

    /// The word in the header.
    pub fn word(self) -> &'static str {
        match self {
            GuardMode::Disarmed => "disarmed",
            GuardMode::Observe => "observing",
            GuardMode::Hold => "holding",
            GuardMode::Rollback => "armed",
        }
    }
}

/// The SLO's rules, each with a mode of its own (`[guard.rules]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    Errors,
    P95,
    ColdStarts,
    /// Cost per request against the fallback's in the same cell.
    Cost,
}

impl Rule {
    pub const ALL: [Rule; 4] = [Rule::Errors, Rule::P95, Rule::ColdStarts, Rule::Cost];

    /// As the profile spells it.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Errors => "errors",
            Rule::P95 => "p95",
            Rule::ColdStarts => "cold_starts",
            Rule::Cost => "cost",
        }
    }
}

/// What a breach of each rule does, capped by the guard's own mode: a
/// guard that observes never acts, whatever a rule says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleModes {
    pub errors: GuardMode,
    pub p95: GuardMode,
    pub cold_starts: GuardMode,
    pub cost: GuardMode,
}

impl Default for RuleModes {
    /// Errors, latency and cold starts hurt users now: rolled back. A cost
    /// over the fallback's hurts the budget: the plan holds.
    fn default() -> Self {
        RuleModes {
            errors: GuardMode::Rollback,
            p95: GuardMode::Rollback,
            cold_starts: GuardMode::Rollback,
            cost: GuardMode::Hold,
        }
    }
}

impl RuleModes {
    pub fn of(&self, rule: Rule) -> GuardMode {
        match rule {
            Rule::Errors => self.errors,
            Rule::P95 => self.p95,
            Rule::ColdStarts => self.cold_starts,
            Rule::Cost => self.cost,
        }
    }

    /// `errors rollback, p95 rollback, cold_starts rollback, cost hold`.
    pub fn words(&self) -> String {
        let each: Vec<String> = Rule::ALL
            .iter()
            .map(|&r| format!("{} {}", r.name(), self.of(r).name()))
            .collect();
        each.join(", ")
    }

    /// What a breach of `broken` does under a guard in `ceiling` mode: the
    /// most any broken rule asks, never more than the guard's mode.
    pub fn action(&self, ceiling: GuardMode, broken: &[Broken]) -> GuardMode {
        broken
            .iter()
            .map(|b| self.of(b.rule))
            .max()
            .unwrap_or(GuardMode::Disarmed)
            .min(ceiling)
    }
}

/// One rule a check broke, with the figure and the limit in words.
#[derive(Debug, Clone, PartialEq)]
pub struct Broken {
    pub rule: Rule,
    pub text: String,
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The limits a cell is checked against.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub max_error_percent: f64,
    pub max_p95_ms: f64,
    /// Cold starts, percent of requests (100 − the SLO's fast share).
    pub max_cold_percent: f64,
    /// Cost per request, as a multiple of the fallback's in the cell.
    pub max_cost_ratio: f64,
    /// Fewer requests in a check than this: inconclusive.
    pub min_samples: u64,
    /// Breaches in a row that make a trigger.
    pub failures_in_a_row: u32,
}

/// A cell's traffic on the provider being shifted to, over one check.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckFigures {
    pub requests: f64,
    pub error_percent: f64,
    pub p95_ms: Option<f64>,
    pub cold_percent: f64,
    /// Cost per request against the fallback's (price per second × the
    /// median latency, each); `None` without fallback traffic to compare.
    pub cost_ratio: Option<f64>,
}

/// One check of one cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Pass,
    /// What broke the limits, with the figures.
    Breach(Vec<Broken>),
    /// Too few requests to say.
    Inconclusive {
        requests: f64,
        needed: u64,
    },
    /// The metrics source had nothing (down, or no scrape in the window).
    NoData(String),
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Pass => write!(f, "pass"),
            Verdict::Breach(why) => write!(f, "BREACH {}", words(why)),
            Verdict::Inconclusive { requests, needed } => {
                write!(f, "inconclusive ({requests:.0} of {needed} requests)")
            }
            Verdict::NoData(why) => write!(f, "no data ({why})"),
        }
    }
}

/// Judges one check. `figures` is `None` when the source had nothing for
/// the cell; `source_down` says why, when the source itself failed.
pub fn judge(
    figures: Option<&CheckFigures>,
    source_down: Option<&str>,
    limits: &Limits,
) -> Verdict {
    if let Some(why) = source_down {
        return Verdict::NoData(why.to_string());
    }
    let Some(f) = figures else {
        return Verdict::Inconclusive {
            requests: 0.0,
            needed: limits.min_samples,
        };
    };
    if f.requests < limits.min_samples as f64 {
        return few_but_certain(f, limits).unwrap_or(Verdict::Inconclusive {
            requests: f.requests,
            needed: limits.min_samples,
        });
    }
    let mut why = Vec::new();
    let mut broke = |rule, text| why.push(Broken { rule, text });
    if f.error_percent > limits.max_error_percent {
        broke(
            Rule::Errors,
            format!(
                "errors {:.1}% > {}%",
                f.error_percent, limits.max_error_percent
            ),
        );
    }
    if let Some(p95) = f.p95_ms.filter(|p| *p > limits.max_p95_ms) {
        broke(
            Rule::P95,
            format!("p95 {p95:.0} ms > {} ms", limits.max_p95_ms),
        );
    }
    if f.cold_percent > limits.max_cold_percent {
        broke(
            Rule::ColdStarts,
            format!(
                "cold starts {:.1}% > {}%",
                f.cold_percent, limits.max_cold_percent
            ),
        );
    }
    if let Some(ratio) = f.cost_ratio.filter(|r| *r > limits.max_cost_ratio) {
        broke(
            Rule::Cost,
            format!(
                "cost {ratio:.2}× the fallback's > {}×",
                limits.max_cost_ratio
            ),
        );
    }
    if why.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Breach(why)
    }
}

/// Too few requests to judge, unless they already break a limit whatever
/// the missing ones would say: errors (or cold starts) counted against the
/// whole `min_samples`, as if every request still to come went well. A
/// canary at 5 % sees a few requests a check; when all of them fail that
/// is not "inconclusive" (argo-rollouts #4479: errors are not a pass).
fn few_but_certain(f: &CheckFigures, limits: &Limits) -> Option<Verdict> {
    let needed = limits.min_samples as f64;
    let count = |percent: f64| (f.requests * percent / 100.0).round();
    // (rule, counted, limit in percent, what, what the rest would be)
    let rules = [
        (
            Rule::Errors,
            count(f.error_percent),
            limits.max_error_percent,
            "errors",
            "pass",
        ),
        (
            Rule::ColdStarts,
            count(f.cold_percent),
            limits.max_cold_percent,
            "cold starts",
            "are warm",
        ),
    ];
    let why: Vec<Broken> = rules
        .into_iter()
        .filter(|&(_, n, limit, _, _)| n > 0.0 && n * 100.0 / needed > limit)
        .map(|(rule, n, limit, what, rest)| Broken {
            rule,
            text: format!(
                "{what} {n:.0} of {:.0} requests (over {limit}% even if the next {:.0} {rest})",
                f.requests,
                needed - f.requests
            ),
        })
        .collect();
    (!why.is_empty()).then_some(Verdict::Breach(why))
}

/// Broken rules in words: "errors 40.0% > 1%, p95 2500 ms > 2000 ms".
pub fn words(broken: &[Broken]) -> String {
    let texts: Vec<&str> = broken.iter().map(|b| b.text.as_str()).collect();
    texts.join(", ")
}

/// Breaches in a row per cell, and checks in a row without data.
#[derive(Debug, Clone, Default)]
pub struct Streaks {
    breaches: BTreeMap<CellId, u32>,
    blind: BTreeMap<CellId, u32>,
}

impl Streaks {
    /// Counts a verdict; returns the breaches in a row so far. A pass
    /// resets the count; inconclusive and no data leave it as it is.
    pub fn record(&mut self, cell: &CellId, verdict: &Verdict) -> u32 {
        match verdict {
            Verdict::Pass => {
                self.breaches.remove(cell);
                0
            }
            Verdict::Breach(_) => {
                let n = self.breaches.entry(cell.clone()).or_insert(0);
                *n += 1;
                *n
            }
            Verdict::Inconclusive { .. } | Verdict::NoData(_) => {
                self.breaches.get(cell).copied().unwrap_or(0)
            }
        }
    }

    /// Checks in a row with no data for the cell, counting this one (any
    /// other verdict starts the count again).
    pub fn record_blind(&mut self, cell: &CellId, verdict: &Verdict) -> u32 {
        if matches!(verdict, Verdict::NoData(_)) {
            let n = self.blind.entry(cell.clone()).or_insert(0);
            *n += 1;
            *n
        } else {
            self.blind.remove(cell);
            0
        }
    }

    /// After the cell was rolled back (or left the canary): start again.
    pub fn reset(&mut self, cell: &CellId) {
        self.breaches.remove(cell);
        self.blind.remove(cell);
    }

    pub fn get(&self, cell: &CellId) -> u32 {
        self.breaches.get(cell).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Id;

    fn limits() -> Limits {
        Limits {
            max_error_percent: 1.0,
            max_p95_ms: 2000.0,
            max_cold_percent: 20.0,
            max_cost_ratio: 1.0,
            min_samples: 20,
            failures_in_a_row: 3,
        }
    }

    fn figures(requests: f64, error_percent: f64, p95_ms: f64) -> CheckFigures {
        CheckFigures {
            requests,
            error_percent,
            p95_ms: Some(p95_ms),
            cold_percent: 0.0,
            cost_ratio: Some(0.9),
        }
    }

    fn texts(v: &Verdict) -> Vec<&str> {
        match v {
            Verdict::Breach(b) => b.iter().map(|b| b.text.as_str()).collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn breaches_name_the_figures_and_the_limits() {
        let v = judge(Some(&figures(50.0, 40.0, 2500.0)), None, &limits());
        assert_eq!(texts(&v), ["errors 40.0% > 1%", "p95 2500 ms > 2000 ms"]);
        assert_eq!(
            judge(Some(&figures(50.0, 0.5, 900.0)), None, &limits()),
            Verdict::Pass
        );
        let mut cold = figures(50.0, 0.0, 900.0);
        cold.cold_percent = 35.0;
        assert_eq!(
            texts(&judge(Some(&cold), None, &limits())),
            ["cold starts 35.0% > 20%"]
        );
        let mut dear = figures(50.0, 0.0, 900.0);
        dear.cost_ratio = Some(1.3);
        assert_eq!(
            texts(&judge(Some(&dear), None, &limits())),
            ["cost 1.30× the fallback's > 1×"]
        );
        dear.cost_ratio = None;
        assert_eq!(
            judge(Some(&dear), None, &limits()),
            Verdict::Pass,
            "no fallback traffic to compare: the cost rule says nothing"
        );
    }

    #[test]
    fn a_breach_does_what_its_rules_ask_never_more_than_the_guard() {
        let modes = RuleModes::default();
        let broken = |rules: &[Rule]| -> Vec<Broken> {
            rules
                .iter()
                .map(|&rule| Broken {
                    rule,
                    text: rule.name().into(),
                })
                .collect()
        };
        use GuardMode::*;
        assert_eq!(modes.action(Rollback, &broken(&[Rule::Cost])), Hold);
        assert_eq!(
            modes.action(Rollback, &broken(&[Rule::Cost, Rule::Errors])),
            Rollback
        );
        assert_eq!(modes.action(Hold, &broken(&[Rule::P95])), Hold);
        assert_eq!(modes.action(Observe, &broken(&[Rule::Errors])), Observe);
        let quiet = RuleModes {
            cold_starts: Observe,
            ..modes
        };
        assert_eq!(
            quiet.action(Rollback, &broken(&[Rule::ColdStarts])),
            Observe
        );
    }

    #[test]
    fn a_few_requests_that_all_fail_are_a_breach_already() {
        // 3 of 20 needed, all failed: 3/20 = 15 % > 1 % whatever comes next.
        let v = judge(Some(&figures(3.0, 100.0, 900.0)), None, &limits());
        assert_eq!(
            texts(&v),
            ["errors 3 of 3 requests (over 1% even if the next 17 pass)"]
        );
        // Without errors a slow few is still inconclusive (one p95 of 3).
        let slow = judge(Some(&figures(3.0, 0.0, 9000.0)), None, &limits());
        assert!(matches!(slow, Verdict::Inconclusive { .. }), "{slow}");
        // Cold starts likewise: 5 of 5 cold, 5/20 = 25 % > 20 %.
        let mut cold = figures(5.0, 0.0, 900.0);
        cold.cold_percent = 100.0;
        assert_eq!(
            texts(&judge(Some(&cold), None, &limits())),
            ["cold starts 5 of 5 requests (over 20% even if the next 15 are warm)"]
        );
        // 1 cold of 4: 5 % of 20, under 20 %: not certain.
        cold.requests = 4.0;
        cold.cold_percent = 25.0;
        let v = judge(Some(&cold), None, &limits());
        assert!(matches!(v, Verdict::Inconclusive { .. }), "{v}");
    }

    #[test]
    fn too_few_samples_and_no_data_are_neither_pass_nor_breach() {
        let few = judge(Some(&figures(5.0, 0.0, 9000.0)), None, &limits());
        assert!(matches!(few, Verdict::Inconclusive { .. }), "{few}");
        let down = judge(
            Some(&figures(50.0, 100.0, 9000.0)),
            Some("connection refused"),
            &limits(),
        );
        assert!(matches!(down, Verdict::NoData(_)), "{down}");
        let cell = CellId::new(Id::from("m"), Id::from("r"));
        let mut streaks = Streaks::default();
        let breach = judge(Some(&figures(50.0, 40.0, 900.0)), None, &limits());
        assert_eq!(streaks.record(&cell, &breach), 1);
        assert_eq!(
            streaks.record(&cell, &few),
            1,
            "inconclusive keeps the count"
        );
        assert_eq!(streaks.record(&cell, &down), 1, "no data keeps the count");
        assert_eq!(streaks.record(&cell, &breach), 2);
        assert_eq!(streaks.record(&cell, &Verdict::Pass), 0, "a pass resets it");
    }
}
