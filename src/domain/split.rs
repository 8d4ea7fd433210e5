use std::fmt;

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use std::sync::Arc;

use super::{Id, PerMille};

/// How one cell's traffic is divided between providers, in per-mille.
///
/// Invariants: weights sum to 1000, no provider twice, no zero weight. The order
/// is kept as written, because it decides which targeting keys land where: a
/// re-ordered split with the same shares would move users between providers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Split {
    /// Shared: a split is a value, and cloning one (e.g. the all-fallback
    /// split into 1,000 cells) costs no allocation.
    weights: Arc<[(Id, u16)]>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("weights sum to {0}‰, expected 1000‰ (100%)")]
    BadSum(u64),
    #[error("provider {0:?} appears twice")]
    Duplicate(String),
    #[error("no provider can take the remaining {0}: name the provider to shift towards")]
    NoReceiver(PerMille),
}

impl Split {
    /// Everything to one provider.
    pub fn all(provider: impl Into<Id>) -> Self {
        Self {
            weights: Arc::new([(provider.into(), 1000)]),
        }
    }

    /// Builds a split from weights in per-mille, dropping zero weights.
    pub fn from_weights<S: Into<Id>>(
        weights: impl IntoIterator<Item = (S, u16)>,
    ) -> Result<Self, SplitError> {
        let mut kept: Vec<(Id, u16)> = Vec::new();
        let mut sum = 0u64;
        for (provider, weight) in weights {
            let provider = provider.into();
            if kept.iter().any(|(p, _)| *p == provider) {
                return Err(SplitError::Duplicate(provider.to_string()));
            }
            sum += u64::from(weight);
            if weight > 0 {
                kept.push((provider, weight));
            }
        }
        if sum != 1000 {
            return Err(SplitError::BadSum(sum));
        }
        Ok(Self {
            weights: kept.into(),
        })
    }

    pub fn weights(&self) -> &[(Id, u16)] {
        &self.weights
    }

    pub fn share(&self, provider: &str) -> PerMille {
        let weight = self
            .weights
            .iter()
            .find(|(p, _)| &**p == provider)
            .map_or(0, |(_, w)| *w);
        PerMille::new(weight).unwrap_or(PerMille::ZERO)
    }

    /// True when every request goes to `provider`.
    pub fn is_all(&self, provider: &str) -> bool {
        self.weights.len() == 1 && &*self.weights[0].0 == provider
    }

    /// The split with `target` at `share`; the rest is taken from (or given to)
    /// the other `eligible` providers in proportion to what they carry now, or
    /// to the fallback when none of them carries anything.
    pub fn with_share(
        &self,
        target: &str,
        share: PerMille,
        fallback: &str,
        eligible: &[String],
    ) -> Result<Split, SplitError> {
        let remaining = share.complement().get();
        let others: Vec<&String> = eligible.iter().filter(|p| *p != target).collect();
        let current: Vec<u64> = others
            .iter()
            .map(|p| u64::from(self.share(p).get()))
            .collect();
        let current_sum: u64 = current.iter().sum();

        let mut new_weights: Vec<(Id, u16)> = vec![(self.id_of(target), share.get())];
        if remaining > 0 {
            if current_sum > 0 {
                new_weights.extend(
                    apportion(remaining, &current)
                        .into_iter()
                        .zip(&others)
                        .map(|(w, p)| (self.id_of(p), w)),
                );
            } else if target != fallback && others.iter().any(|p| *p == fallback) {
                new_weights.push((self.id_of(fallback), remaining));
            } else if others.len() == 1 {
                new_weights.push((self.id_of(others[0]), remaining));
            } else {
                return Err(SplitError::NoReceiver(share.complement()));
            }
        }
        Ok(self.reordered_like_self(new_weights, eligible))
    }

    /// The shared id of a provider already in this split, or a new one.
    fn id_of(&self, provider: &str) -> Id {
        self.weights
            .iter()
            .find(|(p, _)| &**p == provider)
            .map_or_else(|| Id::from(provider), |(p, _)| p.clone())
    }

    /// Keeps providers already present in their current order; newcomers follow in
    /// `eligible` order.
    fn reordered_like_self(&self, mut new_weights: Vec<(Id, u16)>, eligible: &[String]) -> Split {
        new_weights.retain(|(_, w)| *w > 0);
        let rank = |p: &str| {
            self.weights
                .iter()
                .position(|(q, _)| &**q == p)
                .map(|i| (0, i))
                .or_else(|| eligible.iter().position(|q| q == p).map(|i| (1, i)))
                .unwrap_or((2, 0))
        };
        new_weights.sort_by_key(|(p, _)| rank(p));
        Split {
            weights: new_weights.into(),
        }
    }
}

/// Largest-remainder apportionment of `total` in proportion to `current`.
fn apportion(total: u16, current: &[u64]) -> Vec<u16> {
    let sum: u64 = current.iter().sum();
    let mut parts: Vec<(usize, u64, u64)> = current
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let exact = u64::from(total) * c;
            (i, exact / sum, exact % sum)
        })
        .collect();
    let assigned: u64 = parts.iter().map(|(_, q, _)| q).sum();
    let mut left = u64::from(total) - assigned;
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by(|a, b| parts[*b].2.cmp(&parts[*a].2).then(a.cmp(b)));
    for i in order {
        if left == 0 {
            break;
        }
        parts[i].1 += 1;
        left -= 1;
    }
    parts.into_iter().map(|(_, q, _)| q as u16).collect()
}

impl Split {
    /// `modal 75% runpod 25%`: the words of history lines and previews.
    pub fn words(&self) -> String {
        self.weights
            .iter()
            .map(|(p, w)| format!("{p} {}", PerMille::new(*w).unwrap_or(PerMille::ZERO)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl fmt::Display for Split {
    /// `runpod 25% · modal 75%`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .weights
            .iter()
            .map(|(p, w)| format!("{p} {}", PerMille::new(*w).unwrap_or(PerMille::ZERO)))
            .collect();
        f.pad(&parts.join(" · "))
    }
}

impl Serialize for Split {
    /// `{"runpod": 250, "modal": 750}` (per-mille, in routing order).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.weights.len()))?;
        for (p, w) in self.weights.iter() {
            map.serialize_entry(&**p, w)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Split {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        let mut weights = Vec::with_capacity(map.len());
        for (provider, value) in map {
            let weight = value
                .as_u64()
                .and_then(|w| u16::try_from(w).ok())
                .ok_or_else(|| {
                    serde::de::Error::custom(format!("weight of {provider:?} is not 0..=1000"))
                })?;
            weights.push((provider, weight));
        }
        Split::from_weights(weights).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn providers() -> Vec<String> {
        vec!["modal".into(), "runpod".into()]
    }

    fn pm(v: u16) -> PerMille {
        PerMille::new(v).unwrap()
    }

    #[test]
    fn invariants_are_enforced() {
        assert_eq!(
            Split::from_weights([("a", 500), ("b", 400)]),
            Err(SplitError::BadSum(900))
        );
        assert_eq!(
            Split::from_weights([("a", 500), ("a", 500)]),
            Err(SplitError::Duplicate("a".into()))
        );
        let s = Split::from_weights([("a", 1000), ("b", 0)]).unwrap();
        assert_eq!(s.weights(), &[(Id::from("a"), 1000)]);
        assert!(s.is_all("a"));
    }

    #[test]
    fn shifting_two_providers() {
        let s = Split::all("modal");
        let s = s
            .with_share("runpod", pm(250), "modal", &providers())
            .unwrap();
        assert_eq!(s.share("runpod"), pm(250));
        assert_eq!(s.share("modal"), pm(750));
        // Modal was there first, so it keeps its place in the bucket order.
        assert_eq!(&*s.weights()[0].0, "modal");
        let s = s
            .with_share("runpod", pm(1000), "modal", &providers())
            .unwrap();
        assert!(s.is_all("runpod"));
        let s = s
            .with_share("runpod", pm(0), "modal", &providers())
            .unwrap();
        assert!(s.is_all("modal"));
    }

    #[test]
    fn shifting_the_fallback_itself() {
        let s = Split::all("runpod");
        let s = s
            .with_share("modal", pm(400), "modal", &providers())
            .unwrap();
        assert_eq!(s.share("runpod"), pm(600));
    }

    #[test]
    fn three_providers_take_proportionally() {
        let eligible: Vec<String> = vec!["modal".into(), "runpod".into(), "other".into()];
        let s = Split::from_weights([("modal", 500), ("runpod", 300), ("other", 200)]).unwrap();
        let s = s.with_share("runpod", pm(1), "modal", &eligible).unwrap();
        assert_eq!(s.share("runpod"), pm(1));
        let rest = u32::from(s.share("modal").get()) + u32::from(s.share("other").get());
        assert_eq!(rest, 999);
        assert_eq!(s.share("modal"), pm(714));
        // Nobody else carries traffic and the target is the fallback: ambiguous.
        let s = Split::all("runpod");
        assert!(matches!(
            s.with_share("runpod", pm(500), "modal", &eligible)
                .unwrap()
                .share("modal"),
            v if v == pm(500)
        ));
        assert_eq!(
            s.with_share("modal", pm(500), "modal", &eligible)
                .unwrap()
                .share("runpod"),
            pm(500)
        );
        let s = Split::all("modal");
        assert_eq!(
            s.with_share("modal", pm(500), "modal", &eligible),
            Err(SplitError::NoReceiver(pm(500)))
        );
    }

    #[test]
    fn json_keeps_order() {
        let s = Split::from_weights([("runpod", 1), ("modal", 999)]).unwrap();
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(text, r#"{"runpod":1,"modal":999}"#);
        assert_eq!(serde_json::from_str::<Split>(&text).unwrap(), s);
        assert!(serde_json::from_str::<Split>(r#"{"a":1}"#).is_err());
    }
}
