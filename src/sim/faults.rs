use serde::{Deserialize, Serialize};

/// Which endpoints a fault applies to; an absent field matches everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
}

impl Scope {
    pub fn matches(&self, provider: &str, model: &str, region: &str) -> bool {
        let ok = |want: &Option<String>, got: &str| want.as_deref().is_none_or(|w| w == got);
        ok(&self.provider, provider) && ok(&self.model, model) && ok(&self.region, region)
    }
}

/// A fault rule, as posted to `/sim/faults` (a JSON list replaces them all).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    #[serde(flatten)]
    pub scope: Scope,
    /// Share of requests answered 500.
    #[serde(default)]
    pub error_rate: f64,
    /// Share of requests answered 429.
    #[serde(default)]
    pub rate_limit_rate: f64,
    /// Share of requests answered 200 with a body that is not JSON.
    #[serde(default)]
    pub malformed_rate: f64,
    /// Requests never get an answer.
    #[serde(default)]
    pub hang: bool,
    /// Every request is answered 503 (the endpoint or region is down).
    #[serde(default)]
    pub outage: bool,
    /// Multiplies cold starts and execution times (a slow region).
    #[serde(default)]
    pub latency_multiplier: Option<f64>,
}

/// The largest `latency_multiplier` a rule may give (and what the product of
/// the matching rules is capped at): a 12 s cold start becomes 3⅓ hours.
pub const MAX_LATENCY_MULTIPLIER: f64 = 1000.0;

impl Fault {
    /// Refuses a rule the simulator cannot apply: rates outside [0, 1] or not
    /// finite, a latency multiplier not in (0, 1000]. The message names the
    /// field and the allowed range.
    pub fn validate(&self) -> Result<(), String> {
        for (field, rate) in [
            ("error_rate", self.error_rate),
            ("rate_limit_rate", self.rate_limit_rate),
            ("malformed_rate", self.malformed_rate),
        ] {
            if !(rate.is_finite() && (0.0..=1.0).contains(&rate)) {
                return Err(format!(
                    "{field} must be a number in [0, 1] (a share of requests), got {rate}"
                ));
            }
        }
        if let Some(m) = self.latency_multiplier
            && !(m.is_finite() && m > 0.0 && m <= MAX_LATENCY_MULTIPLIER)
        {
            return Err(format!(
                "latency_multiplier must be a number in (0, {MAX_LATENCY_MULTIPLIER}], got {m}"
            ));
        }
        Ok(())
    }
}

/// What the faults in force do to one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    Pass { latency_multiplier: f64 },
    Hang,
    Outage,
    RateLimited,
    ServerError,
    Malformed,
}

/// Applies the matching rules in order; `roll` gives a uniform [0, 1) draw.
pub fn judge(
    faults: &[Fault],
    provider: &str,
    model: &str,
    region: &str,
    mut roll: impl FnMut() -> f64,
) -> Verdict {
    let mut multiplier = 1.0;
    for f in faults
        .iter()
        .filter(|f| f.scope.matches(provider, model, region))
    {
        if f.outage {
            return Verdict::Outage;
        }
        if f.hang {
            return Verdict::Hang;
        }
        if f.rate_limit_rate > 0.0 && roll() < f.rate_limit_rate {
            return Verdict::RateLimited;
        }
        if f.error_rate > 0.0 && roll() < f.error_rate {
            return Verdict::ServerError;
        }
        if f.malformed_rate > 0.0 && roll() < f.malformed_rate {
            return Verdict::Malformed;
        }
        if let Some(m) = f.latency_multiplier {
            // Rules stack; each is at most 1000, and so is their product
            // (a `Duration` scaled by more would overflow).
            multiplier = (multiplier * m).clamp(0.0, MAX_LATENCY_MULTIPLIER);
        }
    }
    Verdict::Pass {
        latency_multiplier: multiplier,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_and_verdicts() {
        let faults = vec![
            Fault {
                scope: Scope {
                    provider: Some("runpod".into()),
                    region: Some("eu-west".into()),
                    model: None,
                },
                outage: true,
                ..Fault::default()
            },
            Fault {
                latency_multiplier: Some(3.0),
                ..Fault::default()
            },
        ];
        assert_eq!(
            judge(&faults, "runpod", "m", "eu-west", || 0.5),
            Verdict::Outage
        );
        assert_eq!(
            judge(&faults, "modal", "m", "eu-west", || 0.5),
            Verdict::Pass {
                latency_multiplier: 3.0
            }
        );
        let storm = vec![Fault {
            rate_limit_rate: 1.0,
            ..Fault::default()
        }];
        assert_eq!(
            judge(&storm, "modal", "m", "r", || 0.99),
            Verdict::RateLimited
        );
    }

    #[test]
    fn stacked_multipliers_are_capped() {
        let slow = Fault {
            latency_multiplier: Some(MAX_LATENCY_MULTIPLIER),
            ..Fault::default()
        };
        assert_eq!(
            judge(
                &[slow.clone(), slow.clone(), slow],
                "modal",
                "m",
                "r",
                || 0.5
            ),
            Verdict::Pass {
                latency_multiplier: MAX_LATENCY_MULTIPLIER
            }
        );
    }

    #[test]
    fn validation_names_the_field_and_range() {
        let bad = |f: Fault| f.validate().unwrap_err();
        let e = bad(Fault {
            latency_multiplier: Some(f64::INFINITY),
            ..Fault::default()
        });
        assert!(
            e.contains("latency_multiplier") && e.contains("(0, 1000]"),
            "{e}"
        );
        let e = bad(Fault {
            error_rate: f64::NAN,
            ..Fault::default()
        });
        assert!(e.contains("error_rate") && e.contains("[0, 1]"), "{e}");
        assert!(Fault::default().validate().is_ok());
    }
}
