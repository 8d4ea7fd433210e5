//! A change record kept as the JSON text it travels in, parsed only when read.
//! A 1,000-cell rollback record is ~90 KB: most commands never need to parse it.

use std::sync::OnceLock;

use crate::domain::ChangeRecord;

#[derive(Debug, Clone)]
pub struct RecordText {
    json: String,
    parsed: OnceLock<Option<ChangeRecord>>,
}

impl RecordText {
    /// From a record just made (serialized once, reused for document and audit).
    pub fn new(record: ChangeRecord) -> Self {
        let json = serde_json::to_string(&record).unwrap_or_default();
        let parsed = OnceLock::new();
        let _ = parsed.set(Some(record));
        Self { json, parsed }
    }

    /// From text found in a document.
    pub fn from_json(json: String) -> Self {
        Self {
            json,
            parsed: OnceLock::new(),
        }
    }

    pub fn json(&self) -> &str {
        &self.json
    }

    /// The record, or `None` if the text is not a valid record.
    pub fn get(&self) -> Option<&ChangeRecord> {
        self.parsed
            .get_or_init(|| serde_json::from_str(&self.json).ok())
            .as_ref()
    }

    /// The audit line of this record: `{"event":"commit",…}` and a newline.
    pub fn audit_line(&self) -> Vec<u8> {
        let body = self.json.strip_prefix('{').unwrap_or(&self.json);
        let mut line = Vec::with_capacity(self.json.len() + 20);
        line.extend_from_slice(b"{\"event\":\"commit\",");
        line.extend_from_slice(body.as_bytes());
        line.push(b'\n');
        line
    }
}

impl PartialEq for RecordText {
    fn eq(&self, other: &Self) -> bool {
        self.json == other.json
    }
}
