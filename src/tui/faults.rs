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
