//! Every profile error names file:line:col and what was expected.
// Tests and tools unwrap to fail loudly at the line that broke.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use beacon_console::config::Profile;
use common::*;

/// 1-based line and column of the `nth` occurrence of `marker` in `text`.
fn position(text: &str, marker: &str, nth: usize) -> (usize, usize) {
    let offset = text
        .match_indices(marker)
        .nth(nth)
        .unwrap_or_else(|| panic!("no {marker:?}"))
        .0;
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

/// Parses `text`, expects an error at the `nth` `marker` whose message contains `needle`.
fn expect_error(text: &str, marker: &str, nth: usize, needle: &str) {
    let err = Profile::parse("p.toml", text, Path::new("/tmp")).expect_err("should be refused");
    let (line, col) = position(text, marker, nth);
    assert_eq!(
        (err.line, err.col),
        (line, col),
        "position of {needle:?}: {err}"
    );
    assert!(err.message.contains(needle), "expected {needle:?} in {err}");
    assert!(
        err.to_string()
            .starts_with(&format!("p.toml:{line}:{col}: ")),
        "{err}"
    );
}

fn with(replace: &str, by: &str) -> String {
    assert!(SMALL_PROFILE.contains(replace), "{replace}");
    SMALL_PROFILE.replacen(replace, by, 1)
}

#[test]
fn the_small_profile_is_valid() {
    let p = Profile::parse("p.toml", SMALL_PROFILE, Path::new("/tmp")).unwrap();
    assert_eq!(p.cells().len(), 4);
    let cells = p.cells();
    let count = cells
        .iter()
        .flat_map(|c| ["modal", "runpod"].map(|pr| p.has_endpoint(c, pr)))
        .filter(|h| *h)
        .count();
    assert_eq!(count, 8);
    assert_eq!(
        p.endpoint(&cells[3], "runpod"),
        Some(beacon_console::config::Endpoint::RunPod {
            api_base: "https://api.runpod.ai/v2".into(),
            endpoint_id: "ep-m.2-r2".into()
        })
    );
    assert_eq!(p.store_path(), Some(Path::new("/tmp/state/routes.json")));
    assert_eq!(p.audit_path, Path::new("/tmp/state/routes.audit.jsonl"));
}

#[test]
fn syntax_and_type_errors() {
    // Unterminated string: reported at the end of its line.
    expect_error(
        &with("name = \"test\"", "name = \"test"),
        "\n",
        0,
        "expected `\"`",
    );
    expect_error(
        &with("price_per_second = 0.0003", "price_per_second = \"cheap\""),
        "\"cheap\"",
        0,
        "expected f64",
    );
    expect_error(
        &with("fallback = \"modal\"", "fallbak = \"modal\""),
        "fallbak",
        0,
        "unknown field `fallbak`",
    );
}

#[test]
fn duplicate_and_invalid_ids() {
    expect_error(
        &with("{ id = \"r2\" }", "{ id = \"r1\" }"),
        "\"r1\"",
        1,
        "duplicate region id \"r1\"",
    );
    expect_error(
        &with("{ id = \"m1\" }", "{ id = \"M/1\" }"),
        "\"M/1\"",
        0,
        "invalid model id",
    );
    expect_error(
        &with("id = \"runpod\"", "id = \"modal\""),
        "\"modal\"",
        3,
        "duplicate provider id \"modal\"",
    );
}

#[test]
fn cross_references_name_the_bad_id() {
    let endpoint = |model: &str, region: &str, provider: &str| {
        format!(
            "{SMALL_PROFILE}\n[[endpoints]]\nmodel = \"{model}\"\nregion = \"{region}\"\nprovider = \"{provider}\"\nendpoint_id = \"x\"\n"
        )
    };
    expect_error(
        &endpoint("gpt-9", "r1", "runpod"),
        "\"gpt-9\"",
        0,
        "endpoint for undeclared model \"gpt-9\"",
    );
    expect_error(
        &endpoint("m1", "mars", "runpod"),
        "\"mars\"",
        0,
        "endpoint for undeclared region \"mars\"",
    );
    expect_error(
        &endpoint("m1", "r1", "fal"),
        "\"fal\"",
        0,
        "endpoint for undeclared provider \"fal\"",
    );
    expect_error(
        &with("fallback = \"modal\"", "fallback = \"replicate\""),
        "\"replicate\"",
        0,
        "fallback \"replicate\" is not a declared provider",
    );
    // The fallback (modal) has no template and only one explicit endpoint.
    let text = with(
        "url_template = \"https://ws--{model}-{region}.modal.run\"\n",
        "",
    ) + "\n[[endpoints]]\nmodel = \"m1\"\nregion = \"r1\"\nprovider = \"modal\"\nurl = \"https://a.modal.run\"\n";
    expect_error(
        &text,
        "\"modal\"",
        0,
        "cell m1/r2 has no endpoint for the fallback provider \"modal\"",
    );
    let dup = endpoint("m1", "r1", "runpod")
        + "\n[[endpoints]]\nmodel = \"m1\"\nregion = \"r1\"\nprovider = \"runpod\"\nendpoint_id = \"y\"\n";
    expect_error(&dup, "\"m1\"", 2, "duplicate endpoint for m1/r1 on runpod");
}

#[test]
fn ladder_and_ranges() {
    let ladder = |l: &str| {
        with(
            "fallback = \"modal\"",
            &format!("fallback = \"modal\"\nladder = {l}"),
        )
    };
    expect_error(&ladder("[0, 10, 150]"), "150", 0, "out of range");
    expect_error(&ladder("[0, -1, 100]"), "-1", 0, "out of range");
    expect_error(&ladder("[0, 0.05, 100]"), "0.05", 0, "finer than 0.1%");
    expect_error(
        &ladder("[0, 50, 25, 100]"),
        "[0, 50",
        0,
        "steps must increase",
    );
    expect_error(
        &with("price_per_second = 0.0003", "price_per_second = -1.0"),
        "-1.0",
        0,
        "price_per_second must be between 0",
    );
    let slo = format!("{SMALL_PROFILE}\n[slo]\nerror_rate_percent = 250\n");
    expect_error(
        &slo,
        "250",
        0,
        "slo.error_rate_percent must be between 0 and 100",
    );
}

#[test]
fn kinds_urls_and_stores() {
    expect_error(
        &with("kind = \"runpod\"", "kind = \"replicate\""),
        "\"replicate\"",
        0,
        "expected \"runpod\" or \"modal\"",
    );
    expect_error(
        &with("https://ws--{model}", "http://ws--{model}"),
        "\"http://ws",
        0,
        "must use https://",
    );
    expect_error(
        &with("ep-{model}-{region}", "ep-{model}-{zone}"),
        "\"ep-{model}",
        0,
        "unknown placeholder {zone}",
    );
    expect_error(
        &with("kind = \"file\"", "kind = \"s3\""),
        "\"s3\"",
        0,
        "unknown store kind \"s3\"",
    );
    expect_error(
        &with("environment = \"staging\"", "environment = \"prod\""),
        "\"prod\"",
        0,
        "expected \"demo\", \"staging\" or \"production\"",
    );
}

#[test]
fn telemetry_settings_and_routers() {
    let tele = |body: &str| with("[store]", &format!("[telemetry]\n{body}\n\n[store]"));
    expect_error(
        &tele("probe_interval_ms = 10"),
        "10",
        0,
        "telemetry.probe_interval_ms must be between 100 and 3600000, got 10",
    );
    expect_error(
        &tele("probe_jitter_percent = 80"),
        "80",
        0,
        "telemetry.probe_jitter_percent must be between 0 and 50",
    );
    expect_error(
        &tele("probe_concurrency = 0"),
        "0\n\n[store]",
        0,
        "telemetry.probe_concurrency",
    );
    expect_error(&tele("probes = 3"), "probes", 0, "unknown field `probes`");
    let routers = |entries: &str| with("[store]", &format!("{entries}\n[store]"));
    let r1 = "[[routers]]\nregion = \"r1\"\nmetrics_url = \"https://router-r1/metrics\"\n";
    expect_error(
        &routers("[[routers]]\nregion = \"mars\"\nmetrics_url = \"https://x/metrics\"\n"),
        "\"mars\"",
        0,
        "router for unknown region \"mars\" (declared: r1, r2)",
    );
    expect_error(
        &routers(&format!("{r1}{r1}")),
        "\"r1\"\nm",
        1,
        "a second router for region \"r1\"",
    );
    expect_error(
        &routers("[[routers]]\nregion = \"r1\"\nmetrics_url = \"http://10.0.0.5:9464/metrics\"\n"),
        "\"http://10",
        0,
        "must use https://",
    );
    let ok = Profile::parse(
        "p.toml",
        &routers(&format!(
            "{r1}[[routers]]\nregion = \"r2\"\nmetrics_url = \"http://127.0.0.1:9464/metrics\"\n"
        )),
        Path::new("/tmp"),
    )
    .unwrap();
    assert_eq!(ok.routers.len(), 2);
    assert_eq!(&*ok.routers[1].region, "r2");
    let t = Profile::parse(
        "p.toml",
        &tele("probe_interval_ms = 2500"),
        Path::new("/tmp"),
    )
    .unwrap()
    .telemetry;
    assert_eq!(t.probe_interval, std::time::Duration::from_millis(2500));
    assert_eq!(t.probe_concurrency, 16, "default");
}

#[test]
fn readable_secret_files_are_refused_where_they_are_read_with_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("runpod.key");
    std::fs::write(&secret, "rp_live_s3cr3t_value\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let text = with(
        "endpoint_template = \"ep-{model}-{region}\"",
        "endpoint_template = \"ep-{model}-{region}\"\napi_key = { file = \"runpod.key\" }",
    );
    // The profile loads (writing the flags needs no provider secret) …
    let p = Profile::parse("p.toml", &text, dir.path()).unwrap();
    let source = p.provider("runpod").unwrap().api_key.clone().unwrap();
    // … and reading the secret is refused, with the fix and without the value.
    let err = source.read().unwrap_err();
    assert!(
        err.contains("readable by group or others (mode 644)"),
        "{err}"
    );
    assert!(
        err.contains(&format!("chmod 600 {}", secret.display())),
        "{err}"
    );
    assert!(!err.contains("s3cr3t"), "{err}");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(source.read().is_ok());
    // Both or neither source is an error too.
    let both = with(
        "endpoint_template = \"ep-{model}-{region}\"",
        "api_key = { env = \"A\", file = \"b\" }",
    );
    expect_error(&both, "{ env", 0, "exactly one of");
}

#[test]
fn check_config_prints_the_position_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_profile(dir.path(), &with("{ id = \"r2\" }", "{ id = \"r1\" }"));
    let before = snapshot_dir(dir.path());
    let r = run(&mut with_profile(&path), &["check-config"]);
    assert_eq!(r.code, 2);
    let (line, col) = position(&with("{ id = \"r2\" }", "{ id = \"r1\" }"), "\"r1\"", 1);
    assert!(
        r.stderr.contains(&format!(
            "{}:{line}:{col}: duplicate region id",
            path.display()
        )),
        "{}",
        r.stderr
    );
    assert_eq!(snapshot_dir(dir.path()), before);
    let missing = run(
        &mut with_profile(&dir.path().join("nope.toml")),
        &["status"],
    );
    assert_eq!(missing.code, 2);
    assert!(
        missing
            .stderr
            .contains("nope.toml: cannot read the profile"),
        "{}",
        missing.stderr
    );

    let good = write_profile(dir.path(), SMALL_PROFILE);
    let r = ok(&mut with_profile(&good), &["check-config", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["cells"], 4);
    assert_eq!(v["environment"], "staging");

    // The console's theme is checked too: by name, and a theme file by position.
    let neon = write_profile(dir.path(), &format!("theme = \"neon\"\n{SMALL_PROFILE}"));
    let r = run(&mut with_profile(&neon), &["check-config"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(":1:9: theme \"neon\": no such theme (themes: default, high-contrast, mono"),
        "{}",
        r.stderr
    );
    let file = dir.path().join("neon.toml");
    std::fs::write(&file, "bar = \"#ff00ff\"\nchart = 300\n").unwrap();
    let r = run(
        &mut with_profile(&good),
        &["--theme", file.to_str().unwrap(), "check-config"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("theme: {}:2:9: ", file.display())),
        "{}",
        r.stderr
    );
}

#[test]
fn shipped_profiles_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for name in [
        "demo.toml",
        "staging.example.toml",
        "production.example.toml",
    ] {
        let path = root.join("profiles").join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        Profile::parse(name, &text, root).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn key_bindings() {
    let keys = |body: &str| with("[store]", &format!("[keys]\n{body}\n\n[store]"));
    expect_error(
        &keys("launch = \"L\""),
        "launch",
        0,
        "unknown command \"launch\" in [keys]",
    );
    expect_error(
        &keys("rollback = \"Ctrl-R\""),
        "\"Ctrl-R\"",
        0,
        "Ctrl and Alt chords cannot be bound",
    );
    expect_error(&keys("undo = \"uu\""), "\"uu\"", 0, "\"uu\" is not a key");
    expect_error(
        &keys("rollback = \"R\"\nundo = [\"U\", \"R\"]"),
        "[\"U\"",
        0,
        "key \"R\" is already bound to rollback",
    );
    let p = Profile::parse(
        "p.toml",
        &keys("rollback = \"R\"\nquit = [\"Q\", \"f10\"]"),
        Path::new("/tmp"),
    )
    .unwrap();
    assert_eq!(
        p.keys,
        vec![
            ("quit".to_string(), vec!["Q".to_string(), "F10".to_string()]),
            ("rollback".to_string(), vec!["R".to_string()]),
        ]
    );
}

#[test]
fn invalid_utf8_and_an_unknown_theme_name_are_reported_at_their_place() {
    let dir = tempfile::tempdir().unwrap();
    // A Latin-1 "é" on line 2, column 12 of the profile.
    let mut bytes = b"name = \"test\"\n# caf\xe9 = 1\n".to_vec();
    bytes.extend_from_slice(
        SMALL_PROFILE
            .trim_start_matches("name = \"test\"\n")
            .as_bytes(),
    );
    let path = dir.path().join("latin1.toml");
    std::fs::write(&path, &bytes).unwrap();
    let at = format!("{}:2:6: invalid UTF-8 (byte 0xE9)", path.display());
    config_refused(&mut with_profile(&path), &[], &at);
    // The same in a theme file.
    let theme = dir.path().join("bad.toml");
    std::fs::write(&theme, b"[colors]\ngood = \"\xff\"\n").unwrap();
    let ok_profile = write_profile(dir.path(), SMALL_PROFILE);
    let flag = ["--theme", theme.to_str().unwrap()];
    let at = "bad.toml:2:9: invalid UTF-8 (byte 0xFF)";
    config_refused(&mut with_profile(&ok_profile), &flag, at);
    // A theme name the profile gives that does not exist: at the profile's line.
    let text = SMALL_PROFILE.replacen(
        "environment = \"staging\"\n",
        "environment = \"staging\"\ntheme = \"neon\"\n",
        1,
    );
    let named = write_profile(dir.path(), &text);
    let at = format!("{}:3:9: theme \"neon\": no such theme", named.display());
    config_refused(&mut with_profile(&named), &[], &at);
}

/// `check-config` (after `flags`) exits 2 with `needle` in its message.
fn config_refused(cmd: &mut std::process::Command, flags: &[&str], needle: &str) {
    let r = run(cmd.args(flags), &["check-config"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(r.stderr.contains(needle), "{needle:?} in {}", r.stderr);
}

#[test]
fn a_cell_may_have_limits_of_its_own() {
    use beacon_console::domain::Id;
    let text = format!(
        "{SMALL_PROFILE}\n[[slo.cells]]\ncell = \"m.2/r2\"\nlatency_p95_ms = 5000\nerror_rate_percent = 2.5\n"
    );
    let p = Profile::parse("p.toml", &text, Path::new("/tmp")).unwrap();
    let own = p.slo.for_cell(&beacon_console::domain::CellId::new(
        Id::from("m.2"),
        Id::from("r2"),
    ));
    assert_eq!((own.latency_p95_ms, own.error_rate_percent), (5000.0, 2.5));
    assert_eq!(own.cold_start_fast_percent, p.slo.cold_start_fast_percent);
    let other = p.slo.for_cell(&beacon_console::domain::CellId::new(
        Id::from("m1"),
        Id::from("r2"),
    ));
    assert_eq!(other.latency_p95_ms, p.slo.latency_p95_ms);
    // An unknown cell, a cell twice, a limit out of range: at their place.
    let bad = format!("{SMALL_PROFILE}\n[[slo.cells]]\ncell = \"m9/r2\"\nlatency_p95_ms = 5000\n");
    expect_error(&bad, "\"m9/r2\"", 0, "unknown model \"m9\"");
    let twice = format!(
        "{SMALL_PROFILE}\n[[slo.cells]]\ncell = \"m1/r1\"\n[[slo.cells]]\ncell = \"m1/r1\"\n"
    );
    expect_error(&twice, "\"m1/r1\"", 1, "limits of its own twice");
    let range =
        format!("{SMALL_PROFILE}\n[[slo.cells]]\ncell = \"m1/r1\"\nerror_rate_percent = 400\n");
    expect_error(&range, "400", 0, "slo.cells.error_rate_percent");
}

/// `[guard.rules]`: a mode per rule, each spelled as `[guard] mode` is.
#[test]
fn guard_rule_modes() {
    let text =
        format!("{SMALL_PROFILE}\n[guard.rules]\nerrors = \"observe\"\ncost = \"sometimes\"\n");
    expect_error(
        &text,
        "\"sometimes\"",
        0,
        "unknown guard.rules.cost \"sometimes\": expected \"disarmed\", \"observe\", \"hold\" or \"rollback\"",
    );
    let text = format!("{SMALL_PROFILE}\n[guard.rules]\nerrors = \"observe\"\nspeed = \"hold\"\n");
    expect_error(&text, "speed", 0, "unknown field `speed`");
    let text = format!("{SMALL_PROFILE}\n[guard.rules]\nerrors = \"observe\"\n");
    let p = Profile::parse("p.toml", &text, Path::new("/tmp")).unwrap();
    assert_eq!(
        p.guard.rules.words(),
        "errors observe, p95 rollback, cold_starts rollback, cost hold"
    );
}

/// A limit of 0 ms or 0× would make every request a breach, and an armed
/// guard roll every cell back: refused where it is written.
#[test]
fn limits_of_zero_are_refused() {
    for (key, needle) in [
        ("latency_p95_ms", "slo.latency_p95_ms must be above 0"),
        ("cost_vs_fallback", "slo.cost_vs_fallback must be above 0"),
        ("cold_start_ms", "slo.cold_start_ms must be above 0"),
    ] {
        let text = format!("{SMALL_PROFILE}\n[slo]\n{key} = 0.00000\n");
        expect_error(&text, "0.00000", 0, needle);
    }
    let text =
        format!("{SMALL_PROFILE}\n[[slo.cells]]\ncell = \"m1/r1\"\nlatency_p95_ms = 0.00000\n");
    expect_error(
        &text,
        "0.00000",
        0,
        "slo.cells.latency_p95_ms must be above 0",
    );
}
