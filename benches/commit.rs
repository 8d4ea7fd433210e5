//! In-process costs of the write path: encoding and decoding the flag document,
//! and a whole commit (lock, CAS read, write + fsync + rename + dir fsync,
//! audit append + fsync) for 9 and 1,000 cells. Whole-process timing against a
//! bare atomic write is `scripts/bench-rollback.sh`.
// Tests and tools unwrap to fail loudly at the line that broke.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use beacon_console::domain::{Action, CellId, Operator, Routes, Split};
use beacon_console::flags::audit::AuditLog;
use beacon_console::flags::file::FileStore;
use beacon_console::flags::{CommitRequest, Document, FlagCodec, FlagStore};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

fn matrix(models: usize, regions: usize) -> FlagCodec {
    let cells: Vec<CellId> = (0..models)
        .flat_map(|m| {
            (0..regions)
                .map(move |r| CellId::new(format!("model-{m:02}"), format!("region-{r:02}")))
        })
        .collect();
    FlagCodec::new("modal", vec!["modal".into(), "runpod".into()], cells)
}

fn half(codec: &FlagCodec) -> Routes {
    let split = Split::from_weights([("modal", 500), ("runpod", 500)]).unwrap();
    codec
        .cells()
        .iter()
        .map(|c| (c.clone(), split.clone()))
        .collect()
}

fn request(routes: Routes) -> CommitRequest {
    CommitRequest {
        routes,
        action: Action::Rollback,
        reason: "bench".into(),
        operator: Operator {
            user: "bench".into(),
            host: "localhost".into(),
            ssh_client: None,
        },
        started: Instant::now(),
        note: None,
        plan: None,
    }
}

fn codec_benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("document");
    for (models, regions) in [(3, 3), (50, 20)] {
        let codec = matrix(models, regions);
        let cells = models * regions;
        let doc = Document {
            revision: 42,
            routes: half(&codec),
            ..codec.initial()
        };
        let bytes = codec.encode(&doc);
        group.bench_with_input(BenchmarkId::new("encode", cells), &doc, |b, doc| {
            b.iter(|| codec.encode(black_box(doc)));
        });
        group.bench_with_input(BenchmarkId::new("decode", cells), &bytes, |b, bytes| {
            b.iter(|| codec.decode(black_box(bytes)).unwrap());
        });
        group.bench_with_input(
            BenchmarkId::new("decode_general", cells),
            &bytes,
            |b, bytes| b.iter(|| codec.decode_general(black_box(bytes)).unwrap()),
        );
    }
    group.finish();
}

fn commit_benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("rollback_commit");
    group.measurement_time(Duration::from_secs(8));
    for (models, regions) in [(3, 3), (50, 20)] {
        let dir = tempfile::tempdir().unwrap();
        let codec = matrix(models, regions);
        let all_fallback = codec.all_fallback();
        let at_half = half(&codec);
        let store = FileStore::new(
            dir.path().join("routes.json"),
            AuditLog::new(dir.path().join("audit.jsonl")),
            codec,
            Duration::from_secs(5),
        );
        // Each iteration is a real commit: alternately everything to 50 % and back to Modal.
        let mut flip = false;
        group.bench_function(BenchmarkId::from_parameter(models * regions), |b| {
            b.iter(|| {
                flip = !flip;
                let target = if flip {
                    at_half.clone()
                } else {
                    all_fallback.clone()
                };
                store
                    .commit_latest(&mut |_| Some(request(target.clone())))
                    .unwrap()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, codec_benches, commit_benches);
criterion_main!(benches);
