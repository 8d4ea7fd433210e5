//! The demo's fault menu (`F`): a bad night rehearsed in ten seconds. Each
//! choice adds a rule for the cursor's region to the embedded simulator's
//! faults (`POST /sim/faults`, sent by the runner off the UI task); the
//! header lists the rules in force until they are cleared.

use crate::sim::{Fault, Scope};

/// What a choice does to the region under the cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    Outage,
    HalfErrors,
    Slow,
    ClearAll,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultChoice {
    pub provider: Option<&'static str>,
    pub kind: FaultKind,
}

/// The menu, in order (the digit keys pick by position).
pub const CHOICES: [FaultChoice; 7] = [
    FaultChoice {
        provider: Some("runpod"),
        kind: FaultKind::Outage,
    },
    FaultChoice {
        provider: Some("modal"),
        kind: FaultKind::Outage,
    },
    FaultChoice {
        provider: Some("runpod"),
        kind: FaultKind::HalfErrors,
    },
    FaultChoice {
        provider: Some("modal"),
        kind: FaultKind::HalfErrors,
    },
    FaultChoice {
        provider: Some("runpod"),
        kind: FaultKind::Slow,
    },
    FaultChoice {
        provider: Some("modal"),
        kind: FaultKind::Slow,
    },
    FaultChoice {
        provider: None,
        kind: FaultKind::ClearAll,
    },
];

impl FaultChoice {
    /// "runpod outage in us-east", as the menu and the header say it.
    pub fn label(&self, region: &str) -> String {
        let provider = self.provider.unwrap_or("every provider");
        match self.kind {
            FaultKind::Outage => format!("{provider} outage in {region}"),
            FaultKind::HalfErrors => format!("{provider} 50 % errors in {region}"),
            FaultKind::Slow => format!("{provider} 5× slower in {region}"),
            FaultKind::ClearAll => "clear every fault".to_string(),
        }
    }

    /// The simulator rule (none for "clear").
    pub fn rule(&self, region: &str) -> Option<Fault> {
        let scope = Scope {
            provider: self.provider.map(str::to_string),
            model: None,
            region: Some(region.to_string()),
        };
        let fault = match self.kind {
            FaultKind::Outage => Fault {
                scope,
                outage: true,
                ..Fault::default()
            },
            FaultKind::HalfErrors => Fault {
                scope,
                error_rate: 0.5,
                ..Fault::default()
            },
            FaultKind::Slow => Fault {
                scope,
                latency_multiplier: Some(5.0),
                ..Fault::default()
            },
            FaultKind::ClearAll => return None,
        };
        Some(fault)
    }
}

/// The demo's faults in force, each with its label.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DemoFaults {
    pub rules: Vec<(String, Fault)>,
}

impl DemoFaults {
    /// Applies a choice; returns the whole list to send (the API replaces it).
    pub fn choose(&mut self, choice: FaultChoice, region: &str) -> Vec<Fault> {
        match choice.rule(region) {
            Some(rule) => {
                let label = choice.label(region);
                if !self.rules.iter().any(|(l, _)| *l == label) {
                    self.rules.push((label, rule));
                }
            }
            None => self.rules.clear(),
        }
        self.rules.iter().map(|(_, f)| f.clone()).collect()
    }

    /// The rules the simulator has in force, as it answered (another
    /// console sharing it may have set or cleared some): the badge says
    /// what is, not what this console last sent.
    pub fn in_force(&mut self, rules: Vec<Fault>) {
        self.rules = rules.into_iter().map(|f| (label_of(&f), f)).collect();
    }

    /// For the header: "FAULTS: runpod outage in us-east +1".
    pub fn summary(&self) -> Option<String> {
        let (first, _) = self.rules.first()?;
        let more = match self.rules.len() {
            1 => String::new(),
            n => format!(" +{}", n - 1),
        };
        Some(format!("FAULTS: {first}{more}"))
    }

    /// The badge where there is no room to name them: `FAULTS` or `FAULTS 3`.
    pub fn count_word(&self) -> String {
        match self.rules.len() {
            1 => "FAULTS".into(),
            n => format!("FAULTS {n}"),
        }
    }
}

/// A rule in words, as the menu says its own ("runpod outage in us-east");
/// one set through the API directly is told by what it does.
fn label_of(f: &Fault) -> String {
    let provider = f.scope.provider.as_deref().unwrap_or("every provider");
    let mut place = f
        .scope
        .region
        .as_deref()
        .unwrap_or("every region")
        .to_string();
    if let Some(model) = &f.scope.model {
        place = format!("{model}/{place}");
    }
    let what = if f.outage {
        "outage".to_string()
    } else if f.hang {
        "hanging".to_string()
    } else if f.error_rate > 0.0 {
        format!("{:.0} % errors", f.error_rate * 100.0)
    } else if let Some(m) = f.latency_multiplier {
        format!("{m}× slower")
    } else if f.rate_limit_rate > 0.0 {
        format!("{:.0} % rate-limited", f.rate_limit_rate * 100.0)
    } else if f.malformed_rate > 0.0 {
        format!("{:.0} % malformed", f.malformed_rate * 100.0)
    } else {
        "a fault".to_string()
    };
    format!("{provider} {what} in {place}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_add_rules_once_and_clear_takes_them_all() {
        let mut faults = DemoFaults::default();
        let sent = faults.choose(CHOICES[0], "us-east");
        assert_eq!(sent.len(), 1);
        assert!(sent[0].outage);
        assert_eq!(sent[0].scope.provider.as_deref(), Some("runpod"));
        assert_eq!(faults.choose(CHOICES[0], "us-east").len(), 1, "not twice");
        assert_eq!(faults.choose(CHOICES[3], "eu-west").len(), 2);
        assert_eq!(
            faults.summary().as_deref(),
            Some("FAULTS: runpod outage in us-east +1")
        );
        assert!(faults.choose(CHOICES[6], "us-east").is_empty());
        assert_eq!(faults.summary(), None);
    }
}
