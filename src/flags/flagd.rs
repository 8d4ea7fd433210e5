//! Routes <-> flagd flag-definition JSON (DESIGN §3). Encoding is deterministic,
//! and decoding what was encoded gives back exactly the same document.
//!
//! Layout: one flag per line, so a document of 1,000 cells stays small, fast to
//! write and read, and still diffable by hand.

use std::borrow::Cow;
use std::io::Write;

use indexmap::IndexMap;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::record_text::RecordText;
use std::sync::Arc;

use crate::domain::routes::CellIndex;
use crate::domain::{CellId, ChangeRecord, Id, Routes, Split};

/// `flagSetId` of the documents beacon-console writes.
pub const FLAG_SET_ID: &str = "beacon-routes";
pub(super) const SCHEMA: &str = "https://flagd.dev/schema/v0/flags.json";
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
    pub change_record: Option<RecordText>,
    /// Flags this profile does not manage, kept untouched: (key, JSON text).
    pub foreign: Vec<(String, String)>,
    /// Other top-level entries (e.g. `$evaluators` used by foreign flags), kept untouched.
    pub extra: Vec<(String, String)>,
    /// Top-level `metadata` entries this tool does not manage, kept untouched.
    pub metadata_extra: Vec<(String, String)>,
    /// Audit lines of earlier revisions that could not be appended when they
    /// were committed (the audit log was unwritable): JSONL text, written to
    /// the audit log by the next successful append.
    pub pending_audit: Option<String>,
}

/// The `metadata` entry that carries the cutover plan's state (JSON).
pub const PLAN_KEY: &str = "beaconPlan";

impl Document {
    /// The cutover plan's state, as JSON text, when one is under way.
    ///
    /// flagd allows only scalars as metadata values (its schema, and the
    /// official evaluator, refuse an object): the state is a JSON string
    /// inside the string.
    pub fn plan(&self) -> Option<String> {
        let (_, raw) = self
            .metadata_extra
            .iter()
            .find(|(key, _)| key == PLAN_KEY)?;
        serde_json::from_str::<String>(raw).ok()
    }

    /// The record of the change that made this revision, when it has one.
    pub fn last_change(&self) -> Option<&ChangeRecord> {
        self.change_record
            .as_ref()
            .and_then(RecordText::get)
            .filter(|c| c.revision == self.revision)
    }
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

impl From<serde_json::Error> for DecodeError {
    fn from(e: serde_json::Error) -> Self {
        let text = e.to_string();
        DecodeError::Syntax {
            line: e.line(),
            column: e.column(),
            message: text
                .split(" at line")
                .next()
                .unwrap_or_default()
                .to_string(),
        }
    }
}

/// Encodes and decodes documents for one profile's cells and providers.
#[derive(Debug, Clone)]
pub struct FlagCodec {
    fallback: Id,
    providers: Vec<Id>,
    /// The profile's cells, shared by every routing state this codec reads.
    cells: CellIndex,
}

// ---- the wire shapes ----

#[derive(Deserialize)]
struct CellMeta<'a> {
    #[serde(borrow)]
    model: Cow<'a, str>,
    #[serde(borrow)]
    region: Cow<'a, str>,
}

#[derive(Serialize)]
struct MetadataOut<'a> {
    #[serde(rename = "flagSetId")]
    flag_set_id: &'static str,
    version: String,
    #[serde(rename = "previousVersion", skip_serializing_if = "Option::is_none")]
    previous_version: Option<String>,
    #[serde(rename = "updatedAt", skip_serializing_if = "Option::is_none")]
    updated_at: Option<&'a str>,
    #[serde(rename = "updatedBy", skip_serializing_if = "Option::is_none")]
    updated_by: Option<String>,
    #[serde(rename = "updateAction", skip_serializing_if = "Option::is_none")]
    update_action: Option<String>,
    #[serde(rename = "updateReason", skip_serializing_if = "Option::is_none")]
    update_reason: Option<&'a str>,
    generator: &'static str,
}

/// The metadata keys this tool writes (and so owns).
const MANAGED_METADATA: [&str; 10] = [
    "flagSetId",
    "version",
    "previousVersion",
    "updatedAt",
    "updatedBy",
    "updateAction",
    "updateReason",
    "generator",
    "lastChange",
    "pendingAudit",
];

#[derive(Default)]
pub(super) struct MetadataIn<'a> {
    pub(super) version: Option<&'a RawValue>,
    /// The record literal, kept raw: unescaped only if someone reads it.
    pub(super) last_change: Option<&'a RawValue>,
    pub(super) pending_audit: Option<&'a RawValue>,
    /// Keys someone else put there: kept as (key, JSON text).
    pub(super) extra: Vec<(String, String)>,
}

impl<'de: 'a, 'a> Deserialize<'de> for MetadataIn<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(MetadataVisitor(std::marker::PhantomData))
    }
}

struct MetadataVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for MetadataVisitor<'a> {
    type Value = MetadataIn<'a>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a metadata object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut meta = MetadataIn::default();
        let mut seen = KeySet::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            seen.insert::<A::Error>("metadata", &key)?;
            let raw: &'de RawValue = map.next_value()?;
            match key.as_ref() {
                "version" => meta.version = Some(raw),
                "lastChange" => meta.last_change = Some(raw),
                "pendingAudit" => meta.pending_audit = Some(raw),
                k if MANAGED_METADATA.contains(&k) => {}
                _ => meta.extra.push((key.into_owned(), raw.get().to_string())),
            }
        }
        Ok(meta)
    }
}

/// Keys seen in one JSON object: a key given twice is refused, since JSON
/// readers differ on which of the two wins (a router could read the other).
#[derive(Default)]
struct KeySet(rustc_hash::FxHashSet<String>);

impl KeySet {
    fn insert<E: de::Error>(&mut self, object: &str, key: &str) -> Result<(), E> {
        if self.0.insert(key.to_string()) {
            Ok(())
        } else {
            Err(E::custom(format!("{object} has the key {key:?} twice")))
        }
    }
}

#[derive(Deserialize)]
struct FlagIn<'a> {
    #[serde(default, borrow)]
    state: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    variants: Option<IndexMap<Cow<'a, str>, Cow<'a, str>>>,
    #[serde(rename = "defaultVariant", default, borrow)]
    default_variant: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    targeting: Option<TargetingIn<'a>>,
    #[serde(default, borrow)]
    metadata: Option<CellMeta<'a>>,
}

/// Only `{}` or `{"fractional": [[provider, weight], …]}` (shorthand) is a routing rule.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetingIn<'a> {
    #[serde(default, borrow)]
    fractional: Option<Vec<(Cow<'a, str>, u64)>>,
}

/// Reads the top level in one pass, routing flags typed and the rest kept raw.
struct DocSeed<'c> {
    codec: &'c FlagCodec,
}

struct DocParts<'de> {
    metadata: Option<MetadataIn<'de>>,
    flags: Option<(Routes, Vec<(String, String)>)>,
    extra: Vec<(String, String)>,
}

impl<'de> DeserializeSeed<'de> for DocSeed<'_> {
    type Value = DocParts<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DocSeed<'_> {
    type Value = DocParts<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a flagd flag-definition object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut parts = DocParts {
            metadata: None,
            flags: None,
            extra: Vec::new(),
        };
        let mut seen = KeySet::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            seen.insert::<A::Error>("the document", &key)?;
            match key.as_ref() {
                "metadata" => parts.metadata = Some(map.next_value()?),
                "flags" => {
                    parts.flags = Some(map.next_value_seed(FlagsSeed { codec: self.codec })?);
                }
                "$schema" => {
                    map.next_value::<IgnoredAny>()?;
                }
                _ => {
                    let raw: &RawValue = map.next_value()?;
                    parts.extra.push((key.into_owned(), raw.get().to_string()));
                }
            }
        }
        Ok(parts)
    }
}

struct FlagsSeed<'c> {
    codec: &'c FlagCodec,
}

impl<'de> DeserializeSeed<'de> for FlagsSeed<'_> {
    type Value = (Routes, Vec<(String, String)>);
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FlagsSeed<'_> {
    type Value = (Routes, Vec<(String, String)>);
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a \"flags\" object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut routes = self.codec.all_fallback();
        let mut foreign = Vec::new();
        let mut seen = KeySet::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            seen.insert::<A::Error>("\"flags\"", &key)?;
            match parse_flag_key(&key).filter(|c| routes.get(c).is_some()) {
                Some(cell) => {
                    let flag: FlagIn = map.next_value()?;
                    let split = self
                        .codec
                        .split_of(&key, &cell, flag)
                        .map_err(|m| de::Error::custom(format!("flag {key:?}: {m}")))?;
                    routes.set(cell, split);
                }
                None => {
                    let raw: &RawValue = map.next_value()?;
                    foreign.push((key.into_owned(), raw.get().to_string()));
                }
            }
        }
        Ok((routes, foreign))
    }
}

impl FlagCodec {
    pub fn new(
        fallback: &str,
        providers: Vec<String>,
        cells: impl IntoIterator<Item = CellId>,
    ) -> Self {
        let providers: Vec<Id> = providers.into_iter().map(Id::from).collect();
        // Share the provider ids, so splits read back hold no copies.
        let fallback = providers
            .iter()
            .find(|p| &***p == fallback)
            .cloned()
            .unwrap_or_else(|| Id::from(fallback));
        Self {
            fallback,
            providers,
            cells: Arc::new(cells.into_iter().collect()),
        }
    }

    pub fn for_profile(profile: &crate::config::Profile) -> Self {
        let cells = profile.models.iter().flat_map(|m| {
            profile
                .regions
                .iter()
                .map(|r| CellId::new(m.id.clone(), r.id.clone()))
        });
        Self::new(&profile.fallback, profile.provider_ids(), cells)
    }

    pub fn fallback(&self) -> &str {
        &self.fallback
    }

    pub fn cells(&self) -> &CellIndex {
        &self.cells
    }

    pub fn providers(&self) -> &[Id] {
        &self.providers
    }

    /// Every cell on the fallback: the state before any document exists.
    pub fn all_fallback(&self) -> Routes {
        Routes::uniform(self.cells.clone(), Split::all(self.fallback.clone()))
    }

    /// The empty document (revision 0).
    pub fn initial(&self) -> Document {
        Document {
            revision: 0,
            routes: self.all_fallback(),
            change_record: None,
            foreign: Vec::new(),
            extra: Vec::new(),
            metadata_extra: Vec::new(),
            pending_audit: None,
        }
    }

    /// The document as bytes, ready to be written.
    pub fn encode(&self, doc: &Document) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(doc, &mut out);
        out
    }

    /// Encodes into `out` (cleared first), reusing its allocation.
    pub fn encode_into(&self, doc: &Document, out: &mut Vec<u8>) {
        let record = doc.last_change();
        let metadata = MetadataOut {
            flag_set_id: FLAG_SET_ID,
            version: doc.revision.to_string(),
            previous_version: record.map(|c| c.previous_revision.to_string()),
            updated_at: record.map(|c| c.time.as_str()),
            updated_by: record.map(|c| c.operator.to_string()),
            update_action: record.map(|c| c.action.to_string()),
            update_reason: record.map(|c| c.reason.as_str()),
            generator: concat!("beacon-console ", env!("CARGO_PKG_VERSION")),
        };
        let record_len = doc
            .change_record
            .as_ref()
            .map_or(0, RecordText::literal_len_hint);
        out.clear();
        out.reserve(512 + record_len * 5 / 4 + doc.routes.len() * 240);
        // Writing to a Vec cannot fail, and these types always serialize.
        let _ = write!(*out, "{{\n\"$schema\": \"{SCHEMA}\",\n\"metadata\": ");
        let _ = serde_json::to_writer(&mut *out, &metadata);
        // flagd metadata values are scalars, so the full record travels as a
        // JSON string: spliced in as a ready-made literal.
        if doc.change_record.is_some()
            || doc.pending_audit.is_some()
            || !doc.metadata_extra.is_empty()
        {
            out.pop();
            if let Some(record) = &doc.change_record {
                out.extend_from_slice(b",\"lastChange\":");
                record.write_literal(out);
            }
            if let Some(pending) = &doc.pending_audit {
                out.extend_from_slice(b",\"pendingAudit\":");
                let _ = serde_json::to_writer(&mut *out, pending);
            }
            for (key, raw) in &doc.metadata_extra {
                out.push(b',');
                push_json_str(out, key);
                out.push(b':');
                out.extend_from_slice(raw.as_bytes());
            }
            out.push(b'}');
        }
        for (key, raw) in &doc.extra {
            out.extend_from_slice(b",\n");
            push_json_str(out, key);
            out.extend_from_slice(b": ");
            out.extend_from_slice(raw.as_bytes());
        }
        out.extend_from_slice(b",\n\"flags\": {");
        let mut first = true;
        let middle = self.canonical_middle();
        for (cell, split) in doc.routes.iter() {
            out.extend_from_slice(if first { b"\n" } else { b",\n" });
            first = false;
            self.push_flag(out, cell, split, &middle);
        }
        for (key, raw) in &doc.foreign {
            out.extend_from_slice(if first { b"\n" } else { b",\n" });
            first = false;
            push_json_str(out, key);
            out.extend_from_slice(b": ");
            out.extend_from_slice(raw.as_bytes());
        }
        out.extend_from_slice(b"\n}\n}\n");
    }

    /// One flag on one line:
    /// `"route.M@R": {"state":"ENABLED","variants":{…},"defaultVariant":"modal","targeting":{"fractional":[…]},"metadata":{…}}`
    fn push_flag(&self, out: &mut Vec<u8>, cell: &CellId, split: &Split, middle: &[u8]) {
        // Ids are plain text unless proven otherwise: check once, copy thrice.
        let plain = is_plain(&cell.model) && is_plain(&cell.region);
        let push_id = |out: &mut Vec<u8>, id: &str| {
            if plain {
                out.extend_from_slice(id.as_bytes());
            } else {
                push_json_str_body(out, id);
            }
        };
        out.extend_from_slice(b"\"route.");
        push_id(out, &cell.model);
        out.push(b'@');
        push_id(out, &cell.region);
        if split
            .weights()
            .iter()
            .all(|(p, _)| self.providers.contains(p))
        {
            out.extend_from_slice(middle);
        } else {
            self.push_middle(out, split);
        }
        // A cell entirely on the fallback needs no targeting.
        if !split.is_all(&self.fallback) {
            out.extend_from_slice(b",\"targeting\":{\"fractional\":[");
            for (i, (p, w)) in split.weights().iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.push(b'[');
                push_json_str(out, p);
                let _ = write!(out, ",{w}]");
            }
            out.extend_from_slice(b"]}");
        }
        out.extend_from_slice(b",\"metadata\":{\"model\":\"");
        push_id(out, &cell.model);
        out.extend_from_slice(b"\",\"region\":\"");
        push_id(out, &cell.region);
        out.extend_from_slice(b"\"}}");
    }

    /// `": {"state":"ENABLED","variants":{…},"defaultVariant":"…"`: the same for
    /// every flag whose split uses only profile providers.
    pub(super) fn canonical_middle(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        self.push_middle(&mut out, &Split::all(self.fallback.clone()));
        out
    }

    fn push_middle(&self, out: &mut Vec<u8>, split: &Split) {
        out.extend_from_slice(b"\": {\"state\":\"ENABLED\",\"variants\":{");
        let extra = split
            .weights()
            .iter()
            .map(|(p, _)| p)
            .filter(|p| !self.providers.contains(p));
        for (i, p) in self.providers.iter().chain(extra).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_json_str(out, p);
            out.push(b':');
            push_json_str(out, p);
        }
        out.extend_from_slice(b"},\"defaultVariant\":");
        push_json_str(out, &self.fallback);
    }

    /// Reads a document; profile cells it does not mention are on the fallback.
    pub fn decode(&self, bytes: &[u8]) -> Result<Document, DecodeError> {
        if let Some(doc) = self.decode_fast(bytes) {
            return Ok(doc);
        }
        self.decode_general(bytes)
    }

    /// The general decoder: any valid flagd document, with precise errors.
    pub fn decode_general(&self, bytes: &[u8]) -> Result<Document, DecodeError> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let parts = DocSeed { codec: self }.deserialize(&mut de)?;
        de.end()?;
        let metadata = parts
            .metadata
            .ok_or_else(|| DecodeError::Invalid("no metadata.version (the revision)".into()))?;
        let revision = parse_revision(metadata.version)?;
        let (routes, foreign) = parts
            .flags
            .ok_or_else(|| DecodeError::Invalid("no \"flags\" object".into()))?;
        Ok(Document {
            revision,
            routes,
            change_record: record_of(metadata.last_change),
            pending_audit: string_of(metadata.pending_audit),
            metadata_extra: metadata.extra,
            foreign,
            extra: parts.extra,
        })
    }

    /// The split a routing flag expresses, or why it is not a valid one.
    fn split_of(&self, key: &str, cell: &CellId, flag: FlagIn) -> Result<Split, String> {
        match flag.state.as_deref() {
            Some("ENABLED") => {}
            Some("DISABLED") => return Err("is DISABLED: the routers would ignore it".into()),
            _ => return Err("\"state\" must be \"ENABLED\"".into()),
        }
        let variants = flag.variants.ok_or("no \"variants\" object")?;
        let variant = |name: &str| -> Result<Id, String> {
            let value = variants
                .get(name)
                .ok_or_else(|| format!("{name:?} is not one of its variants"))?;
            if value != name {
                return Err(format!("variant {name:?} must have the value {name:?}"));
            }
            self.providers
                .iter()
                .find(|p| &***p == name)
                .cloned()
                .ok_or_else(|| {
                    let known: Vec<&str> = self.providers.iter().map(|p| &**p).collect();
                    format!(
                        "variant {name:?} is not a provider of this profile ({})",
                        known.join(", ")
                    )
                })
        };
        let default = variant(
            flag.default_variant
                .as_deref()
                .ok_or("no \"defaultVariant\"")?,
        )?;
        if let Some(meta) = &flag.metadata
            && (meta.model != *cell.model || meta.region != *cell.region)
        {
            return Err(format!(
                "metadata model/region do not match the key {key:?}"
            ));
        }
        let Some(fractional) = flag.targeting.and_then(|t| t.fractional) else {
            return Ok(Split::all(default));
        };
        let total: u64 = fractional.iter().map(|(_, w)| w).sum();
        if total == 0 {
            return Err("fractional weights sum to 0".into());
        }
        let mut per_mille = Vec::with_capacity(fractional.len());
        for (name, weight) in &fractional {
            let scaled = weight.checked_mul(1000).ok_or("weight too large")?;
            if scaled % total != 0 {
                return Err(format!(
                    "weights {weight}/{total} cannot be expressed in 0.1% steps"
                ));
            }
            per_mille.push((variant(name)?, (scaled / total) as u16));
        }
        Split::from_weights(per_mille).map_err(|e| e.to_string())
    }
}

/// A JSON string literal; ids are plain ASCII, so the common case is a copy.
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    push_json_str_body(out, s);
    out.push(b'"');
}

/// Text that needs no escaping inside a JSON string.
fn is_plain(s: &str) -> bool {
    !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\')
}

fn push_json_str_body(out: &mut Vec<u8>, s: &str) {
    if is_plain(s) {
        out.extend_from_slice(s.as_bytes());
    } else {
        let quoted = serde_json::to_string(s).unwrap_or_default();
        out.extend_from_slice(&quoted.as_bytes()[1..quoted.len() - 1]);
    }
}

pub(super) fn parse_revision(version: Option<&RawValue>) -> Result<u64, DecodeError> {
    let version =
        version.ok_or_else(|| DecodeError::Invalid("no metadata.version (the revision)".into()))?;
    serde_json::from_str::<Cow<str>>(version.get())
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|v| *v > 0)
        .ok_or_else(|| {
            DecodeError::Invalid(format!(
                "metadata.version must be a revision number as a string, got {}",
                version.get()
            ))
        })
}

/// The change record of a document, if `lastChange` is a string.
pub(super) fn record_of(raw: Option<&RawValue>) -> Option<RecordText> {
    raw.filter(|r| r.get().starts_with('"'))
        .map(|r| RecordText::from_literal(r.get().to_string()))
}

/// The text of a JSON string value (`None` for anything else).
pub(super) fn string_of(raw: Option<&RawValue>) -> Option<String> {
    raw.and_then(|r| serde_json::from_str::<String>(r.get()).ok())
        .filter(|s| !s.is_empty())
}

/// The revision of a document that may otherwise be unreadable, if it can be found.
pub fn peek_revision(bytes: &[u8]) -> Option<u64> {
    #[derive(Deserialize)]
    struct Peek<'a> {
        #[serde(borrow)]
        metadata: MetadataIn<'a>,
    }
    let peek: Peek = serde_json::from_slice(bytes).ok()?;
    parse_revision(peek.metadata.version).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

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
        assert_eq!(
            flags["route.m.x@eu-west"]["variants"],
            json!({"modal": "modal", "runpod": "runpod"})
        );
        assert_eq!(
            flags["route.m.x@eu-west"]["metadata"],
            json!({"model": "m.x", "region": "eu-west"})
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
        assert_eq!(doc.foreign[0].0, "other-flag");
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
        let disabled = bad_sum.replace("ENABLED", "DISABLED");
        assert!(
            c.decode(disabled.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("DISABLED")
        );
        let other_rule = bad_sum.replace(
            r#"{"fractional":[["runpod",1],["modal",2]]}"#,
            r#"{"if":[true,"runpod","modal"]}"#,
        );
        assert!(
            c.decode(other_rule.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("unknown field `if`")
        );
        assert!(
            c.decode(br#"{"metadata":{"version":3},"flags":{}}"#)
                .unwrap_err()
                .to_string()
                .contains("got 3")
        );
    }

    #[test]
    fn percent_weights_and_empty_targeting_are_read() {
        let c = codec();
        let text = r#"{"metadata":{"version":"1"},"flags":{"route.m.x@eu-west":{"state":"ENABLED","variants":{"modal":"modal","runpod":"runpod"},"defaultVariant":"modal","targeting":{"fractional":[["runpod",25],["modal",75]]}},"route.llama-3.2-1b@us-east":{"state":"ENABLED","variants":{"modal":"modal","runpod":"runpod"},"defaultVariant":"runpod","targeting":{}}}}"#;
        let doc = c.decode(text.as_bytes()).unwrap();
        let split = doc.routes.get(&CellId::new("m.x", "eu-west")).unwrap();
        assert_eq!(split.share("runpod").get(), 250);
        let other = doc
            .routes
            .get(&CellId::new("llama-3.2-1b", "us-east"))
            .unwrap();
        assert!(other.is_all("runpod"));
        assert_eq!(peek_revision(text.as_bytes()), Some(1));
    }
}
