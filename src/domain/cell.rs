use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Id;

/// One model in one region: the unit that the routers split.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CellId {
    pub model: Id,
    pub region: Id,
}

impl CellId {
    pub fn new(model: impl Into<Id>, region: impl Into<Id>) -> Self {
        Self {
            model: model.into(),
            region: region.into(),
        }
    }

    /// Parses the `MODEL/REGION` form used on the command line.
    pub fn parse(text: &str) -> Option<Self> {
        let (model, region) = text.split_once('/')?;
        if model.is_empty() || region.is_empty() || region.contains('/') {
            return None;
        }
        Some(Self::new(model, region))
    }
}

/// A borrowed cell id, to look a cell up without building a `CellId`.
/// Hashes exactly like `CellId` (model, then region).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CellKey<'a> {
    pub model: &'a str,
    pub region: &'a str,
}

impl indexmap::Equivalent<CellId> for CellKey<'_> {
    fn equivalent(&self, key: &CellId) -> bool {
        *key.model == *self.model && *key.region == *self.region
    }
}

impl fmt::Display for CellId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.model, self.region)
    }
}

impl Serialize for CellId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut text = String::with_capacity(self.model.len() + self.region.len() + 1);
        text.push_str(&self.model);
        text.push('/');
        text.push_str(&self.region);
        s.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for CellId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        CellId::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("expected MODEL/REGION, got {text:?}")))
    }
}
