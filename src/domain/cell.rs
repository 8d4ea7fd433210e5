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
        // On the stack: a 1,000-cell record serializes 1,000 of these.
        let (model, region) = (self.model.as_bytes(), self.region.as_bytes());
        let len = model.len() + 1 + region.len();
        let mut buf = [0u8; 160];
        if len > buf.len() {
            return s.collect_str(self);
        }
        buf[..model.len()].copy_from_slice(model);
        buf[model.len()] = b'/';
        buf[model.len() + 1..len].copy_from_slice(region);
        s.serialize_str(std::str::from_utf8(&buf[..len]).map_err(serde::ser::Error::custom)?)
    }
}

impl<'de> Deserialize<'de> for CellId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        CellId::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("expected MODEL/REGION, got {text:?}")))
    }
}
