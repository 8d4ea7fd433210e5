//! A change record as the text it travels in, converted only when needed.
//!
//! In the document the record is a JSON string literal (flagd metadata values
//! are scalars); in the audit log it is the line itself. A 1,000-cell rollback
//! record is ~20 KB, and most commands never need to parse or unescape the one
//! in the document they replace.

use std::sync::OnceLock;

use crate::domain::ChangeRecord;

#[derive(Debug, Clone, Default)]
pub struct RecordText {
    /// The record as JSON.
    json: OnceLock<String>,
    /// The same, as a JSON string literal (quoted and escaped).
    literal: OnceLock<String>,
    parsed: OnceLock<Option<ChangeRecord>>,
}

impl RecordText {
    /// From a record just made (serialized once, reused for document and audit).
    pub fn new(record: ChangeRecord) -> Self {
        let text = Self::default();
        // Sized for the whole record up front (≈ 20 KB for 1,000 cells).
        let mut json = Vec::with_capacity(512 + record.changes.len() * 32);
        let _ = serde_json::to_writer(&mut json, &record);
        let _ = text.json.set(String::from_utf8(json).unwrap_or_default());
        let _ = text.parsed.set(Some(record));
        text
    }

    /// From the string literal found in a document (kept as is until needed).
    pub fn from_literal(literal: String) -> Self {
        let text = Self::default();
        let _ = text.literal.set(literal);
        text
    }

    pub fn json(&self) -> &str {
        self.json.get_or_init(|| {
            let literal = self.literal.get().map_or("\"\"", String::as_str);
            serde_json::from_str(literal).unwrap_or_default()
        })
    }

    /// Appends the JSON string literal to embed in a document (escaped straight
    /// into `out` unless it was read that way).
    pub fn write_literal(&self, out: &mut Vec<u8>) {
        match self.literal.get() {
            Some(literal) => out.extend_from_slice(literal.as_bytes()),
            None => push_json_string_literal(out, self.json()),
        }
    }

    /// About how long the literal is, for sizing buffers.
    pub fn literal_len_hint(&self) -> usize {
        self.literal
            .get()
            .map_or_else(|| self.json().len() * 5 / 4 + 2, String::len)
    }

    /// The record, or `None` if the text is not a valid record.
    pub fn get(&self) -> Option<&ChangeRecord> {
        self.parsed
            .get_or_init(|| serde_json::from_str(self.json()).ok())
            .as_ref()
    }

    /// The record itself, taken out.
    pub fn into_record(self) -> Option<ChangeRecord> {
        let RecordText {
            json,
            literal,
            parsed,
        } = self;
        match parsed.into_inner() {
            Some(parsed) => parsed,
            None => RecordText {
                json,
                literal,
                parsed: OnceLock::new(),
            }
            .get()
            .cloned(),
        }
    }

    /// The audit line of this record: `{"event":"commit",…}` and a newline.
    pub fn audit_line(&self) -> Vec<u8> {
        let json = self.json();
        let body = json.strip_prefix('{').unwrap_or(json);
        let mut line = Vec::with_capacity(json.len() + 20);
        line.extend_from_slice(b"{\"event\":\"commit\",");
        line.extend_from_slice(body.as_bytes());
        line.push(b'\n');
        line
    }
}

impl PartialEq for RecordText {
    fn eq(&self, other: &Self) -> bool {
        self.json() == other.json()
    }
}

/// Appends `"…"` with `"` and `\` escaped: a byte loop, since record text
/// escapes every few bytes (each cell id is quoted). Text with control
/// characters goes the general way.
fn push_json_string_literal(out: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|b| b < 0x20) {
        let _ = serde_json::to_writer(&mut *out, s);
        return;
    }
    out.reserve(s.len() + s.len() / 4 + 2);
    out.push(b'"');
    for &b in s.as_bytes() {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_round_trips() {
        for s in ["", "plain", r#"{"a":"b\\c"}"#, "tab\there", "é ✓ \u{1}"] {
            let mut literal = Vec::new();
            push_json_string_literal(&mut literal, s);
            let literal = String::from_utf8(literal).unwrap();
            assert_eq!(literal, serde_json::to_string(s).unwrap());
            let text = RecordText::from_literal(literal);
            assert_eq!(text.json(), s);
        }
    }
}
