//! The documents the console writes, read by the official flagd evaluator
//! (PyPI `openfeature-flagd-core`) and validated against the flagd JSON schema:
//! over 10,000 random targeting keys per flag the observed shares match the intent.
// Tests and tools unwrap to fail loudly at the line that broke.
#![allow(clippy::unwrap_used)]

mod common;
#[cfg(feature = "etcd")]
#[path = "common/etcd.rs"]
mod etcd_server;
#[cfg(feature = "etcd")]
use etcd_server::{Setup, setup, shift_on};

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// A Python with the pinned evaluator: `BEACON_FLAGD_PYTHON`, or a venv under
/// `target/` made on first use (inside the clone; nothing cached elsewhere).
fn flagd_python() -> PathBuf {
    if let Some(p) = std::env::var_os("BEACON_FLAGD_PYTHON") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = root.join("target/flagd-venv");
    let python = venv.join("bin/python");
    let requirements = root.join("tests/flagd/requirements.txt");
    let stamp = venv.join("requirements.txt");
    let wanted = std::fs::read(&requirements).unwrap();
    if std::fs::read(&stamp).ok().as_deref() == Some(&wanted[..]) && python.exists() {
        return python;
    }
    std::fs::create_dir_all(root.join("target")).unwrap();
    // Tests of other binaries may race to create it: one at a time.
    let lock = std::fs::File::create(root.join("target/flagd-venv.lock")).unwrap();
    lock.lock().unwrap();
    if std::fs::read(&stamp).ok().as_deref() != Some(&wanted[..]) || !python.exists() {
        let status = Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&venv)
            .status()
            .expect("python3");
        assert!(status.success(), "python3 -m venv failed");
        let status = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&requirements)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "pip install of the flagd evaluator failed"
        );
        std::fs::write(&stamp, &wanted).unwrap();
    }
    python
}

fn evaluate(document: &Path, keys: usize, seed: u64) -> serde_json::Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(flagd_python())
        .arg(root.join("tests/flagd/evaluate.py"))
        .arg(root.join("tests/fixtures/flagd-schema"))
        .arg(document)
        .arg(keys.to_string())
        .arg(seed.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "evaluator refused the document: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn official_evaluator_splits_traffic_as_intended() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    // One split per demo cell, written by the real binary through the file store.
    let targets = [
        ("llama-3.2-1b/us-east", "0", 0u32),
        ("llama-3.2-1b/eu-west", "0.1", 1),
        ("llama-3.2-1b/apac-sg", "1", 10),
        ("qwen-2.5-1.5b/us-east", "5", 50),
        ("qwen-2.5-1.5b/eu-west", "25", 250),
        ("qwen-2.5-1.5b/apac-sg", "50", 500),
        ("mistral-7b/us-east", "75", 750),
        ("mistral-7b/eu-west", "99.9", 999),
        ("mistral-7b/apac-sg", "100", 1000),
    ];
    for (cell, pct, _) in &targets {
        if *pct != "0" {
            shift_cell(state, cell, pct, "evaluator test");
        }
    }
    const KEYS: usize = 10_000;
    let result = evaluate(&doc_path(state), KEYS, 7);
    assert_eq!(result["flag_set_version"], "8");
    for (cell, pct, permille) in &targets {
        let (model, region) = cell.split_once('/').unwrap();
        let key = format!("route.{model}@{region}");
        let counts = &result["flags"][&key];
        let runpod = counts["runpod"].as_u64().unwrap_or(0);
        let modal = counts["modal"].as_u64().unwrap_or(0);
        assert_eq!(
            runpod + modal,
            KEYS as u64,
            "{key}: every key lands on a provider: {counts}"
        );
        let observed = runpod as f64 * 100.0 / KEYS as f64;
        let intended = f64::from(*permille) / 10.0;
        assert!(
            (observed - intended).abs() <= 1.5,
            "{key}: intended {pct}% RunPod, the official evaluator gave {observed:.2}%"
        );
        if *permille == 0 {
            assert_eq!(runpod, 0, "{key}: 0% must send exactly nothing to RunPod");
        }
        if *permille == 1000 {
            assert_eq!(modal, 0, "{key}: 100% must send everything to RunPod");
        }
    }

    // After a rollback the evaluator sends every key to Modal.
    ok(&mut demo(state), &["rollback", "--all", "--yes"]);
    let result = evaluate(&doc_path(state), 2_000, 8);
    for (key, counts) in result["flags"].as_object().unwrap() {
        assert_eq!(counts, &serde_json::json!({"modal": 2000}), "{key}");
    }
}

/// The router's own `fractional` (v3, as the simulated router runs it) picks
/// the same provider as the official evaluator for every one of 10,000 keys.
#[test]
fn the_router_evaluator_agrees_key_by_key() {
    use beacon_console::config::{Profile, ProfileSource};
    use beacon_console::flags::fractional::{Generation, route};
    use beacon_console::flags::{FlagCodec, flag_key};

    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    for (cell, pct) in [
        ("llama-3.2-1b/eu-west", "0.1"),
        ("qwen-2.5-1.5b/us-east", "5"),
        ("qwen-2.5-1.5b/eu-west", "25"),
        ("qwen-2.5-1.5b/apac-sg", "50"),
        ("mistral-7b/us-east", "75"),
        ("mistral-7b/apac-sg", "100"),
    ] {
        shift_cell(state, cell, pct, "agreement");
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(flagd_python())
        .arg(root.join("tests/flagd/assign.py"))
        .arg(doc_path(state))
        .args(["10000", "11"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let official: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&str> = official["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 10_000);

    let profile = Profile::load(&ProfileSource::Demo {
        state_dir: state.to_path_buf(),
    })
    .unwrap();
    let doc = FlagCodec::for_profile(&profile)
        .decode(&std::fs::read(doc_path(state)).unwrap())
        .unwrap();
    let mut compared = 0;
    for (cell, split) in doc.routes.iter() {
        let key = flag_key(cell);
        let theirs = official["flags"][&key].as_array().unwrap();
        for (targeting_key, variant) in keys.iter().zip(theirs) {
            let ours = route(Generation::V3, &key, targeting_key, split);
            assert_eq!(Some(&**ours), variant.as_str(), "{key} / {targeting_key}");
            compared += 1;
        }
    }
    assert_eq!(compared, 9 * 10_000);
}

/// The document in etcd (`etcdctl get KEY`), read by the official evaluator:
/// the shares the console meant.
#[cfg(feature = "etcd")]
#[test]
fn the_document_in_etcd_splits_traffic_as_intended() {
    let Setup { etcd, dir, profile } = setup("");
    for (cell, pct) in [("m1/r1", "25"), ("m.2/r2", "99.9")] {
        assert_eq!(shift_on(&profile, cell, pct, "evaluator").code, 0);
    }
    let document = dir.path().join("from-etcd.json");
    std::fs::write(&document, etcd.get("/beacon/routes").unwrap()).unwrap();
    const KEYS: usize = 10_000;
    let result = evaluate(&document, KEYS, 11);
    assert_eq!(result["flag_set_version"], "2");
    for (key, intended) in [
        ("route.m1@r1", 25.0),
        ("route.m1@r2", 0.0),
        ("route.m.2@r1", 0.0),
        ("route.m.2@r2", 99.9),
    ] {
        let counts = &result["flags"][key];
        let runpod = counts["runpod"].as_u64().unwrap_or(0) as f64 * 100.0 / KEYS as f64;
        assert!(
            (runpod - intended).abs() <= 1.5,
            "{key}: intended {intended}%, got {runpod:.2}% ({counts})"
        );
    }
}

/// A plan's state rides in the document's metadata as a string (flagd's
/// metadata values are scalars): the official evaluator still reads it.
#[test]
fn a_document_carrying_a_plan_is_still_valid_flagd() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    let plan = Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/research-order.toml");
    ok(
        &mut demo(state),
        &["plan", "start", &plan.display().to_string(), "--yes"],
    );
    let result = evaluate(&doc_path(state), 2_000, 9);
    let counts = &result["flags"]["route.llama-3.2-1b@us-east"];
    let runpod = counts["runpod"].as_u64().unwrap_or(0) as f64 / 20.0;
    assert!((runpod - 5.0).abs() <= 2.0, "{counts}");
    // And a plain shift after it keeps the document valid.
    shift_cell(state, "qwen-2.5-1.5b/eu-west", "10", "after the plan");
    evaluate(&doc_path(state), 500, 10);
}
