//! Routes <-> flagd flag-definition JSON (DESIGN §3). Encoding is deterministic,
//! and decoding what was encoded gives back exactly the same routes.

use serde_json::{Map, Value, json};

use crate::domain::{CellId, ChangeRecord, Routes, Split};

/// `flagSetId` of the documents beacon-console writes.
pub const FLAG_SET_ID: &str = "beacon-routes";
const KEY_PREFIX: &str = "route.";

/// The flag key of a cell: `route.MODEL@REGION`. Ids cannot contain `@`, so the
/// key is unambiguous even when they contain dots.
pub fn flag_key(cell: &CellId) -> String {
    format!("{KEY_PREFIX}{}@{}", cell.model, cell.region)
}

/// The cell of a `route.MODEL@REGION` key.
pub fn parse_flag_key(key: &str) -> Option<CellId> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    let (model, region) = rest.split_once('@')?;
    (crate::domain::is_valid_id(model) && crate::domain::is_valid_id(region))
        .then(|| CellId::new(model, region))
}

/// One revision of the routing document.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// 0 means "no document yet" (every cell on the fallback).
    pub revision: u64,
    pub routes: Routes,
    /// The change that produced this revision, carried inside the document so
    /// that a crash before the audit append can be reconciled.
    pub last_change: Option<ChangeRecord>,
    /// Flags this profile does not manage, kept untouched.
    pub foreign: Map<String, Value>,
}

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{0}")]
    Invalid(String),
}

/// Encodes and decodes documents for one profile's cells and providers.
#[derive(Debug, Clone)]
pub struct FlagCodec {
    fallback: String,
    providers: Vec<String>,
    cells: Vec<CellId>,
}

impl FlagCodec {
    pub fn new(fallback: impl Into<String>, providers: Vec<String>, cells: Vec<CellId>) -> Self {
        Self {
            fallback: fallback.into(),
            providers,
            cells,
        }
    }

    pub fn for_profile(profile: &crate::config::Profile) -> Self {
        Self::new(
            profile.fallback.clone(),
            profile.provider_ids(),
            profile.cells(),
        )
    }

    pub fn fallback(&self) -> &str {
        &self.fallback
    }

    pub fn cells(&self) -> &[CellId] {
        &self.cells
    }

    /// Every cell on the fallback: the state before any document exists.
    pub fn all_fallback(&self) -> Routes {
        Routes::all_to(self.cells.iter().cloned(), &self.fallback)
    }

    /// The empty document (revision 0).
    pub fn initial(&self) -> Document {
        Document {
            revision: 0,
            routes: self.all_fallback(),
            last_change: None,
            foreign: Map::new(),
        }
    }

    /// Pretty JSON with a trailing newline, ready to be written.
    pub fn encode(&self, doc: &Document) -> Vec<u8> {
        let mut flags = Map::new();
        for (cell, split) in doc.routes.iter() {
            flags.insert(flag_key(cell), self.encode_flag(cell, split));
        }
        for (key, value) in &doc.foreign {
            flags.entry(key.clone()).or_insert_with(|| value.clone());
        }
        let mut metadata = Map::new();
        metadata.insert("flagSetId".into(), json!(FLAG_SET_ID));
        metadata.insert("version".into(), json!(doc.revision.to_string()));
        if let Some(change) = &doc.last_change {
            metadata.insert(
                "previousVersion".into(),
                json!(change.previous_revision.to_string()),
            );
            metadata.insert("updatedAt".into(), json!(change.time));
            metadata.insert("updatedBy".into(), json!(change.operator.to_string()));
            metadata.insert("updateAction".into(), json!(change.action.to_string()));
            metadata.insert("updateReason".into(), json!(change.reason));
            // flagd metadata values are scalars, so the full record travels as JSON text.
            let record = serde_json::to_string(change).unwrap_or_default();
            metadata.insert("lastChange".into(), json!(record));
        }
        metadata.insert(
            "generator".into(),
            json!(concat!("beacon-console ", env!("CARGO_PKG_VERSION"))),
        );
        let document = json!({
            "$schema": "https://flagd.dev/schema/v0/flags.json",
            "metadata": metadata,
            "flags": flags,
        });
        let mut bytes = serde_json::to_vec_pretty(&document).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    fn encode_flag(&self, cell: &CellId, split: &Split) -> Value {
        let mut variants = Map::new();
        for p in &self.providers {
            variants.insert(p.clone(), json!(p));
        }
        for (p, _) in split.weights() {
            variants.entry(p.clone()).or_insert_with(|| json!(p));
        }
        let mut flag = Map::new();
        flag.insert("state".into(), json!("ENABLED"));
        flag.insert("variants".into(), Value::Object(variants));
        flag.insert("defaultVariant".into(), json!(self.fallback));
        // A cell entirely on the fallback needs no targeting.
        if !split.is_all(&self.fallback) {
            let buckets: Vec<Value> = split.weights().iter().map(|(p, w)| json!([p, w])).collect();
            flag.insert("targeting".into(), json!({ "fractional": buckets }));
        }
        flag.insert(
            "metadata".into(),
            json!({ "model": cell.model, "region": cell.region }),
        );
        Value::Object(flag)
    }

    /// Reads a document; profile cells it does not mention are on the fallback.
    pub fn decode(&self, bytes: &[u8]) -> Result<Document, DecodeError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| DecodeError::Syntax {
            line: e.line(),
            column: e.column(),
            message: e
                .to_string()
                .split(" at line")
                .next()
                .unwrap_or_default()
                .to_string(),
        })?;
        let invalid = |m: String| DecodeError::Invalid(m);
        let top = value
            .as_object()
            .ok_or_else(|| invalid("the document is not a JSON object".into()))?;
        let flags = top
            .get("flags")
            .and_then(Value::as_object)
            .ok_or_else(|| invalid("no \"flags\" object".into()))?;
        let revision = revision_of(top)?;
        let last_change = top
            .get("metadata")
            .and_then(|m| m.get("lastChange"))
            .and_then(Value::as_str)
            .and_then(|text| serde_json::from_str::<ChangeRecord>(text).ok())
            .filter(|c| c.revision == revision);

        let mut routes = self.all_fallback();
        let mut foreign = Map::new();
        for (key, flag) in flags {
            match parse_flag_key(key).filter(|c| self.cells.contains(c)) {
                Some(cell) => {
                    let split = self
                        .decode_flag(key, &cell, flag)
                        .map_err(|m| invalid(format!("flag {key:?}: {m}")))?;
                    routes.set(cell, split);
                }
                None => {
                    foreign.insert(key.clone(), flag.clone());
                }
            }
        }
        Ok(Document {
            revision,
            routes,
            last_change,
            foreign,
        })
    }

    fn decode_flag(&self, key: &str, cell: &CellId, flag: &Value) -> Result<Split, String> {
        let flag = flag.as_object().ok_or("not an object")?;
        match flag.get("state").and_then(Value::as_str) {
            Some("ENABLED") => {}
            Some("DISABLED") => return Err("is DISABLED: the routers would ignore it".into()),
            _ => return Err("\"state\" must be \"ENABLED\"".into()),
        }
        let variants = flag
            .get("variants")
            .and_then(Value::as_object)
            .ok_or("no \"variants\" object")?;
        let variant = |name: &str| -> Result<String, String> {
            match variants.get(name) {
                Some(Value::String(v)) if v == name => {}
                Some(_) => return Err(format!("variant {name:?} must have the value {name:?}")),
                None => return Err(format!("{name:?} is not one of its variants")),
            }
            if !self.providers.iter().any(|p| p == name) {
                return Err(format!(
                    "variant {name:?} is not a provider of this profile ({})",
                    self.providers.join(", ")
                ));
            }
            Ok(name.to_string())
        };
        let default = flag
            .get("defaultVariant")
            .and_then(Value::as_str)
            .ok_or("no \"defaultVariant\"")?;
        let default = variant(default)?;
        if let Some(meta) = flag.get("metadata") {
            let model = meta.get("model").and_then(Value::as_str);
            let region = meta.get("region").and_then(Value::as_str);
            if model != Some(cell.model.as_str()) || region != Some(cell.region.as_str()) {
                return Err(format!(
                    "metadata model/region do not match the key {key:?}"
                ));
            }
        }
        let targeting = match flag.get("targeting") {
            None | Some(Value::Null) => return Ok(Split::all(&default)),
            Some(Value::Object(t)) if t.is_empty() => return Ok(Split::all(&default)),
            Some(t) => t,
        };
        let buckets = targeting
            .get("fractional")
            .and_then(Value::as_array)
            .filter(|_| targeting.as_object().is_some_and(|t| t.len() == 1))
            .ok_or("targeting must be {\"fractional\": [[provider, weight], …]}")?;
        let mut weights: Vec<(String, u64)> = Vec::new();
        for bucket in buckets {
            let pair = bucket
                .as_array()
                .filter(|b| b.len() == 2)
                .ok_or("each fractional bucket must be [provider, weight]")?;
            let name = pair[0]
                .as_str()
                .ok_or("bucket variant must be a provider id")?;
            let weight = pair[1]
                .as_u64()
                .ok_or("bucket weight must be a non-negative integer")?;
            weights.push((variant(name)?, weight));
        }
        let total: u64 = weights.iter().map(|(_, w)| w).sum();
        if total == 0 {
            return Err("fractional weights sum to 0".into());
        }
        let mut per_mille = Vec::with_capacity(weights.len());
        for (p, w) in weights {
            let scaled = w.checked_mul(1000).ok_or("weight too large")?;
            if scaled % total != 0 {
                return Err(format!(
                    "weights {w}/{total} cannot be expressed in 0.1% steps"
                ));
            }
            per_mille.push((p, (scaled / total) as u16));
        }
        Split::from_weights(per_mille).map_err(|e| e.to_string())
    }
}

fn revision_of(top: &Map<String, Value>) -> Result<u64, DecodeError> {
    let version = top
        .get("metadata")
        .and_then(|m| m.get("version"))
        .ok_or_else(|| DecodeError::Invalid("no metadata.version (the revision)".into()))?;
    version
        .as_str()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|v| *v > 0)
        .ok_or_else(|| {
            DecodeError::Invalid(format!(
                "metadata.version must be a revision number as a string, got {version}"
            ))
        })
}

/// The revision of a document that may otherwise be unreadable, if it can be found.
pub fn peek_revision(bytes: &[u8]) -> Option<u64> {
    let value: Value = serde_json::from_slice(bytes).ok()?;
    revision_of(value.as_object()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec() -> FlagCodec {
        let cells = vec![
            CellId::new("llama-3.2-1b", "us-east"),
            CellId::new("m.x", "eu-west"),
        ];
        FlagCodec::new("modal", vec!["modal".into(), "runpod".into()], cells)
    }

    #[test]
    fn keys_are_unambiguous() {
        let cell = CellId::new("llama-3.2-1b", "us.east");
        assert_eq!(flag_key(&cell), "route.llama-3.2-1b@us.east");
        assert_eq!(parse_flag_key(&flag_key(&cell)), Some(cell));
        assert_eq!(parse_flag_key("other"), None);
        assert_eq!(parse_flag_key("route.a@b@c"), None);
    }

    #[test]
    fn fallback_cells_have_no_targeting() {
        let c = codec();
        let mut doc = c.initial();
        doc.revision = 3;
        let cell = CellId::new("m.x", "eu-west");
        doc.routes.set(
            cell.clone(),
            Split::from_weights([("modal", 750), ("runpod", 250)]).unwrap(),
        );
        let bytes = c.encode(&doc);
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        let flags = &v["flags"];
        assert!(
            flags["route.llama-3.2-1b@us-east"]
                .get("targeting")
                .is_none()
        );
        assert_eq!(
            flags["route.m.x@eu-west"]["targeting"],
            json!({"fractional": [["modal", 750], ["runpod", 250]]})
        );
        assert_eq!(v["metadata"]["version"], json!("3"));
        assert_eq!(c.decode(&bytes).unwrap(), doc);
    }

    #[test]
    fn foreign_flags_are_kept() {
        let c = codec();
        let text = r#"{"metadata":{"version":"7"},"flags":{"other-flag":{"state":"ENABLED","variants":{"on":true},"defaultVariant":"on"}}}"#;
        let doc = c.decode(text.as_bytes()).unwrap();
        assert_eq!(doc.revision, 7);
        assert!(doc.foreign.contains_key("other-flag"));
        let again = c.decode(&c.encode(&doc)).unwrap();
        assert_eq!(again, doc);
    }

    #[test]
    fn bad_documents_say_why() {
        let c = codec();
        let err = c.decode(b"{\n  \"flags\": [,]\n}").unwrap_err();
        assert!(matches!(err, DecodeError::Syntax { line: 2, .. }), "{err}");
        let err = c.decode(br#"{"flags":{}}"#).unwrap_err();
        assert!(err.to_string().contains("metadata.version"), "{err}");
        let bad_sum = r#"{"metadata":{"version":"1"},"flags":{"route.m.x@eu-west":{"state":"ENABLED","variants":{"modal":"modal","runpod":"runpod"},"defaultVariant":"modal","targeting":{"fractional":[["runpod",1],["modal",2]]}}}}"#;
        let err = c.decode(bad_sum.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("0.1% steps"), "{err}");
        let unknown = bad_sum
            .replace("[\"runpod\",1]", "[\"fal\",1]")
            .replace("[\"modal\",2]", "[\"modal\",1]");
        let err = c.decode(unknown.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("\"fal\""), "{err}");
    }

    #[test]
    fn percent_weights_are_read_exactly() {
        let c = codec();
        let text = r#"{"metadata":{"version":"1"},"flags":{"route.m.x@eu-west":{"state":"ENABLED","variants":{"modal":"modal","runpod":"runpod"},"defaultVariant":"modal","targeting":{"fractional":[["runpod",25],["modal",75]]}}}}"#;
        let doc = c.decode(text.as_bytes()).unwrap();
        let split = doc.routes.get(&CellId::new("m.x", "eu-west")).unwrap();
        assert_eq!(split.share("runpod").get(), 250);
    }
}
