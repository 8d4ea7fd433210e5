//! Property: encoding then decoding a routing document gives it back exactly,
//! and re-encoding gives the same bytes.
// Tests and tools unwrap to fail loudly at the line that broke.
#![allow(clippy::unwrap_used)]

use beacon_console::domain::{Action, CellChange, CellId, ChangeRecord, Operator, Routes, Split};
use beacon_console::flags::{Document, FlagCodec, RecordText};
use proptest::prelude::*;

const PROVIDERS: [&str; 3] = ["modal", "runpod", "fal.ai"];

fn id() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9._-]{0,12}"
}

/// 1–3 providers in any order, weights summing to 1000 (zeros dropped).
fn split() -> impl Strategy<Value = Split> {
    (
        Just(PROVIDERS.to_vec()).prop_shuffle(),
        1usize..=3,
        0u16..=1000,
        0u16..=1000,
    )
        .prop_map(|(order, n, a, b)| {
            let (lo, hi) = (a.min(b), a.max(b));
            let weights = match n {
                1 => vec![(order[0], 1000)],
                2 => vec![(order[0], lo), (order[1], 1000 - lo)],
                _ => vec![(order[0], lo), (order[1], hi - lo), (order[2], 1000 - hi)],
            };
            Split::from_weights(weights).unwrap()
        })
}

fn document() -> impl Strategy<Value = (FlagCodec, Document)> {
    (
        prop::collection::btree_set(id(), 1..4),
        prop::collection::btree_set(id(), 1..4),
        prop::collection::vec(split(), 16),
        1u64..u64::MAX / 2,
        any::<bool>(),
        "[ -~]{0,40}",
    )
        .prop_map(|(models, regions, splits, revision, with_change, reason)| {
            let cells: Vec<CellId> = models
                .iter()
                .flat_map(|m| {
                    regions
                        .iter()
                        .map(move |r| CellId::new(m.as_str(), r.as_str()))
                })
                .collect();
            let routes: Routes = cells
                .iter()
                .cloned()
                .zip(splits.into_iter().cycle())
                .collect();
            let codec = FlagCodec::new(
                "modal",
                PROVIDERS.iter().map(ToString::to_string).collect(),
                cells.clone(),
            );
            let last_change = with_change.then(|| ChangeRecord {
                revision,
                previous_revision: revision - 1,
                time: "2026-11-28T03:00:00.123Z".into(),
                operator: Operator {
                    user: "alice".into(),
                    host: "bastion-1".into(),
                    ssh_client: Some("10.0.0.1".into()),
                },
                action: Action::Shift,
                reason: reason.clone(),
                changes: vec![CellChange {
                    cell: cells[0].clone(),
                    before: None,
                    after: routes.get(&cells[0]).unwrap().clone(),
                }],
                elapsed_ms: 1.25,
                note: None,
            });
            let doc = Document {
                revision,
                routes,
                change_record: last_change.map(RecordText::new),
                foreign: Default::default(),
                extra: Default::default(),
                // Someone else's metadata entries are kept through a round trip.
                metadata_extra: if revision % 2 == 0 {
                    vec![("team".into(), "\"inference\"".into())]
                } else {
                    Vec::new()
                },
                pending_audit: None,
            };
            (codec, doc)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn encode_decode_round_trip((codec, doc) in document()) {
        let bytes = codec.encode(&doc);
        let decoded = codec.decode(&bytes).expect("decodes what it encoded");
        prop_assert_eq!(&decoded, &doc);
        prop_assert_eq!(codec.encode(&decoded), bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The fast path reads what the encoder writes, and on any damaged document
    /// it either steps aside or agrees with the general decoder.
    #[test]
    fn fast_path_agrees_with_the_general_decoder(
        (codec, doc) in document(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), prop::sample::select(b"0123456789\",[]{}:@ .\nmorunpdal".to_vec())), 1..4),
    ) {
        let bytes = codec.encode(&doc);
        let fast = codec.decode_fast(&bytes);
        prop_assert_eq!(fast.as_ref(), Some(&doc));
        prop_assert_eq!(&codec.decode_general(&bytes).unwrap(), &doc);
        let mut damaged = bytes.clone();
        for (at, byte) in edits {
            let i = at.index(damaged.len());
            damaged[i] = byte;
        }
        if let Some(fast) = codec.decode_fast(&damaged) {
            prop_assert_eq!(Ok(fast), codec.decode_general(&damaged));
        }
    }
}
