//! flagd's `fractional` operator, as a router evaluates it: MurmurHash3
//! x86-32 (seed 0) over the bucketing bytes, bucket = (hash × total) >> 32.
//! Generation v3 (PyPI `openfeature-flagd-core` 2.0.0, the Rust engine) hashes
//! the canonical CBOR of the bucketing value — `[flagKey, targetingKey]` for
//! the shorthand form; v2 (Go flagd core, mid-2026) hashes the UTF-8 of
//! `flagKey + targetingKey`. Shares are the same; which key lands where is not.
//! Pinned by the flagd-testbed vectors (tests in this module).

use crate::domain::{Id, Split};

/// Which bytes an evaluator hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Generation {
    V2,
    #[default]
    V3,
}

/// The bucketing value of a `fractional` rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketBy<'a> {
    /// A string (an explicit first argument that evaluated to one).
    Text(&'a str),
    /// The shorthand form: flag key and targeting key.
    FlagAndKey(&'a str, &'a str),
}

/// MurmurHash3 x86 32-bit.
pub fn murmur3_32(data: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mut h = seed;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let mut k = 0u32;
        for (i, b) in tail.iter().enumerate() {
            k |= u32::from(*b) << (8 * i);
        }
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

/// CBOR head: major type and length, shortest form (canonical).
fn cbor_head(out: &mut Vec<u8>, major: u8, len: u64) {
    let m = major << 5;
    match len {
        0..=23 => out.push(m | len as u8),
        24..=0xff => out.extend_from_slice(&[m | 24, len as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(m | 26);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
}

fn cbor_text(out: &mut Vec<u8>, s: &str) {
    cbor_head(out, 3, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// The hash a generation computes for a bucketing value.
pub fn bucket_hash(generation: Generation, by: BucketBy) -> u32 {
    let mut bytes = Vec::with_capacity(64);
    match (generation, by) {
        (Generation::V2, BucketBy::Text(s)) => bytes.extend_from_slice(s.as_bytes()),
        (Generation::V2, BucketBy::FlagAndKey(flag, key)) => {
            bytes.extend_from_slice(flag.as_bytes());
            bytes.extend_from_slice(key.as_bytes());
        }
        (Generation::V3, BucketBy::Text(s)) => cbor_text(&mut bytes, s),
        (Generation::V3, BucketBy::FlagAndKey(flag, key)) => {
            cbor_head(&mut bytes, 4, 2);
            cbor_text(&mut bytes, flag);
            cbor_text(&mut bytes, key);
        }
    }
    murmur3_32(&bytes, 0)
}

/// The bucket a hash falls in: index into `weights`, or `None` if they sum to 0.
pub fn choose(hash: u32, weights: impl IntoIterator<Item = u64> + Clone) -> Option<usize> {
    let total: u64 = weights.clone().into_iter().sum();
    if total == 0 {
        return None;
    }
    let bucket = (u64::from(hash) * total) >> 32;
    let mut end = 0;
    for (i, w) in weights.into_iter().enumerate() {
        end += w;
        if bucket < end {
            return Some(i);
        }
    }
    None
}

/// The provider a router sends this request to, for a cell's split written as
/// the console writes it (shorthand `fractional`, or none at 100 % fallback).
pub fn route<'s>(
    generation: Generation,
    flag_key: &str,
    targeting_key: &str,
    split: &'s Split,
) -> &'s Id {
    let weights = split.weights();
    if weights.len() == 1 {
        return &weights[0].0;
    }
    let hash = bucket_hash(generation, BucketBy::FlagAndKey(flag_key, targeting_key));
    let i = choose(hash, weights.iter().map(|(_, w)| u64::from(*w))).unwrap_or(0);
    &weights[i].0
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors from flagd-testbed `gherkin/targeting.feature` (3.9.0) with the
    // flags of `flags/custom-ops.json`.

    fn shorthand(generation: Generation, key: &str) -> &'static str {
        let hash = bucket_hash(
            generation,
            BucketBy::FlagAndKey("fractional-flag-shorthand", key),
        );
        // [["heads"], ["tails", 1]]: a missing weight is 1.
        ["heads", "tails"][choose(hash, [1, 1]).unwrap()]
    }

    fn suits(generation: Generation, name: &str) -> &'static str {
        // Bucketing value: cat($flagd.flagKey, user.name).
        let by = format!("fractional-flag{name}");
        let hash = bucket_hash(generation, BucketBy::Text(&by));
        ["clubs", "diamonds", "hearts", "spades"][choose(hash, [25, 25, 25, 25]).unwrap()]
    }

    #[test]
    fn testbed_v3() {
        assert_eq!(shorthand(Generation::V3, "jon@company.com"), "tails");
        assert_eq!(shorthand(Generation::V3, "jane@company.com"), "tails");
        for (name, suit) in [
            ("jack", "diamonds"),
            ("queen", "diamonds"),
            ("ten", "clubs"),
            ("nine", "clubs"),
            ("3", "spades"),
        ] {
            assert_eq!(suits(Generation::V3, name), suit, "{name}");
        }
    }

    #[test]
    fn testbed_v2() {
        assert_eq!(shorthand(Generation::V2, "jon@company.com"), "heads");
        assert_eq!(shorthand(Generation::V2, "jane@company.com"), "tails");
        for (name, suit) in [
            ("jack", "hearts"),
            ("queen", "spades"),
            ("ten", "clubs"),
            ("nine", "diamonds"),
            ("3", "clubs"),
        ] {
            assert_eq!(suits(Generation::V2, name), suit, "{name}");
        }
    }

    #[test]
    fn testbed_hash_edges() {
        for (key, hash) in [
            ("ejOoVL", 0u32),
            ("bY9fO-", 1),
            ("SI7p-", 2_147_483_647),
            ("6LvT0", 2_147_483_648),
            ("ceQdGm", u32::MAX),
        ] {
            assert_eq!(murmur3_32(key.as_bytes(), 0), hash, "{key}");
        }
        let half = |key: &str| {
            ["lower", "upper"]
                [choose(bucket_hash(Generation::V2, BucketBy::Text(key)), [50, 50]).unwrap()]
        };
        assert_eq!(half("SI7p-"), "lower");
        assert_eq!(half("6LvT0"), "upper");
        assert_eq!(half("ceQdGm"), "upper");
    }

    #[test]
    fn all_on_one_provider_needs_no_hash() {
        let split = Split::all("modal");
        assert_eq!(&**route(Generation::V3, "f", "k", &split), "modal");
    }
}
