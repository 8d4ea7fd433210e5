//! The fast path for reading a document in exactly the layout the encoder
//! writes (one flag per line). Each flag line is checked byte for byte against
//! the canonical form of what it is read as, so the result is the one the
//! general decoder would give; anything else (hand edits, foreign flags,
//! escapes, odd spacing) returns `None` and the general decoder takes over.

use super::flagd::{Document, FlagCodec, MetadataIn, SCHEMA, parse_revision, record_of, string_of};
use crate::domain::{CellKey, Id, Routes, Split};

impl FlagCodec {
    /// The fast path alone (`None`: not in the canonical layout). `decode` uses it first.
    pub fn decode_fast(&self, bytes: &[u8]) -> Option<Document> {
        let head = format!("{{\n\"$schema\": \"{SCHEMA}\",\n\"metadata\": ");
        let rest = bytes.strip_prefix(head.as_bytes())?;
        let mut stream = serde_json::Deserializer::from_slice(rest).into_iter::<MetadataIn>();
        let metadata = stream.next()?.ok()?;
        let rest = &rest[stream.byte_offset()..];
        let revision = parse_revision(metadata.version).ok()?;
        let body = rest
            .strip_prefix(b",\n\"flags\": {\n")?
            .strip_suffix(b"\n}\n}\n")?;
        let middle = self.canonical_middle();
        let routes = self
            .flags_in_order(body, &middle)
            .or_else(|| self.flags_by_key(body, &middle))?;
        Some(Document {
            revision,
            routes,
            change_record: record_of(metadata.last_change),
            pending_audit: string_of(metadata.pending_audit),
            metadata_extra: metadata.extra,
            foreign: Vec::new(),
            extra: Vec::new(),
        })
    }

    /// The usual case: one line per profile cell, in the profile's order.
    fn flags_in_order(&self, body: &[u8], middle: &[u8]) -> Option<Routes> {
        let cells = self.cells();
        let mut splits = Vec::with_capacity(cells.len());
        // Neighbouring cells usually share a split: reuse it rather than re-read it.
        let mut memo: Option<(&[u8], Split)> = None;
        for (line, cell) in split_lines(body).zip(cells.iter()) {
            let (key, split) = self.flag_line(line, middle, &mut memo)?;
            if *cell.model != *key.model || *cell.region != *key.region {
                return None;
            }
            splits.push(split);
        }
        if split_lines(body).count() != cells.len() {
            return None;
        }
        Routes::from_splits(cells.clone(), splits)
    }

    /// Any order, or only some cells (the others on the fallback).
    fn flags_by_key(&self, body: &[u8], middle: &[u8]) -> Option<Routes> {
        let mut routes = self.all_fallback();
        let mut memo: Option<(&[u8], Split)> = None;
        for line in split_lines(body) {
            let (key, split) = self.flag_line(line, middle, &mut memo)?;
            // A cell this profile does not have: the general decoder keeps it as foreign.
            *routes.get_mut(key)? = split;
        }
        Some(routes)
    }

    fn flag_line<'l>(
        &self,
        line: &'l [u8],
        middle: &[u8],
        memo: &mut Option<(&'l [u8], Split)>,
    ) -> Option<(CellKey<'l>, Split)> {
        let rest = line.strip_prefix(b"\"route.")?;
        let key_end = rest.iter().position(|&b| b == b'"')?;
        let key = std::str::from_utf8(&rest[..key_end]).ok()?;
        // No id validation here: only a key naming one of the profile's
        // (valid) cells is accepted, by the lookup in `decode_fast`.
        let (model, region) = key.split_once('@')?;
        let mut rest = rest[key_end..].strip_prefix(middle)?;
        let split = match rest.strip_prefix(b",\"targeting\":{\"fractional\":[") {
            Some(t) => {
                // The buckets end at the first "]]" (weights are plain integers).
                let end = find_pair(t, b']', b']')? + 1;
                let (split, after) = match memo {
                    Some((text, split)) if *text == &t[..end] => (split.clone(), &t[end..]),
                    _ => {
                        let (split, after) = self.fractional(t)?;
                        if after.len() != t.len() - end {
                            return None;
                        }
                        *memo = Some((&t[..end], split.clone()));
                        (split, after)
                    }
                };
                // The encoder never writes targeting for an all-fallback cell.
                if split.is_all(self.fallback()) {
                    return None;
                }
                rest = after.strip_prefix(b"]}")?;
                split
            }
            None => Split::all(self.fallback()),
        };
        let rest = rest.strip_prefix(b",\"metadata\":{\"model\":\"")?;
        let rest = rest.strip_prefix(model.as_bytes())?;
        let rest = rest.strip_prefix(b"\",\"region\":\"")?;
        let rest = rest.strip_prefix(region.as_bytes())?;
        if rest != b"\"}}" {
            return None;
        }
        Some((CellKey { model, region }, split))
    }

    /// `["modal",750],["runpod",250]` (then `]}`): weights as the encoder writes them.
    fn fractional<'b>(&self, mut rest: &'b [u8]) -> Option<(Split, &'b [u8])> {
        let mut weights: Vec<(Id, u16)> = Vec::with_capacity(2);
        loop {
            rest = rest.strip_prefix(b"[\"")?;
            let end = rest.iter().position(|&b| b == b'"')?;
            let name = std::str::from_utf8(&rest[..end]).ok()?;
            let provider = self.providers().iter().find(|p| &***p == name)?;
            rest = rest[end..].strip_prefix(b"\",")?;
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            // Canonical integers: no leading zero, no zero weight, at most 1000.
            if digits == 0 || digits > 4 || rest[0] == b'0' {
                return None;
            }
            let weight: u16 = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
            weights.push((provider.clone(), weight));
            rest = rest[digits..].strip_prefix(b"]")?;
            match rest.strip_prefix(b",") {
                Some(more) => rest = more,
                None => break,
            }
        }
        Some((Split::from_weights(weights).ok()?, rest))
    }
}

/// Lines of the flags body, separated by `,\n`.
fn split_lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(body);
    std::iter::from_fn(move || {
        let current = rest?;
        // Newlines only end lines (JSON strings cannot hold raw ones).
        match memchr::memchr(b'\n', current)
            .filter(|&i| i > 0)
            .map(|i| i - 1)
            .filter(|&i| current[i] == b',')
        {
            Some(i) => {
                rest = Some(&current[i + 2..]);
                Some(&current[..i])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// The first `a` followed by `b` (two-byte needles are too short for a memmem searcher).
fn find_pair(hay: &[u8], a: u8, b: u8) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = memchr::memchr(a, &hay[from..]) {
        let at = from + i;
        if hay.get(at + 1) == Some(&b) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}
