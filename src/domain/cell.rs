use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One model in one region: the unit that the routers split.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CellId {
    pub model: String,
    pub region: String,
}

impl CellId {
    pub fn new(model: impl Into<String>, region: impl Into<String>) -> Self {
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

impl fmt::Display for CellId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.model, self.region)
    }
}

impl Serialize for CellId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CellId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        CellId::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("expected MODEL/REGION, got {text:?}")))
    }
}
