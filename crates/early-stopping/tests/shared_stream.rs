//! The shared Algorithm 2 streams (tests/data/shared_stream.json), checked against the Rust
//! monitor here and against the Python bindings in python/tests/test_monitor.py, so that both
//! sides are held to the same hand-worked expectations.

use early_stopping::{EarlyStopping, EarlyStoppingConfig, Granularity};
use serde_json::Value;

fn config(c: &Value) -> EarlyStoppingConfig {
    EarlyStoppingConfig {
        k_d: c["k_d"].as_f64().unwrap(),
        sigma: c["sigma"].as_f64().unwrap(),
        k_g: c["k_g"].as_f64().unwrap(),
        modes: c["modes"].as_u64().unwrap() as usize,
        warmup: c["warmup"].as_u64().unwrap() as usize,
        granularity: match c["granularity"].as_str().unwrap() {
            "epoch" => Granularity::Epoch,
            _ => Granularity::Iteration,
        },
    }
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN) // null = NaN
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * b.abs().max(1.0)
}

fn opt_close(a: Option<f64>, b: &Value) -> bool {
    match (a, b.as_f64()) {
        (None, None) => true,
        (Some(a), Some(b)) => close(a, b),
        _ => false,
    }
}

#[test]
fn rust_monitor_follows_the_shared_streams() {
    let doc: Value = serde_json::from_str(include_str!("data/shared_stream.json")).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let mut m = EarlyStopping::new(config(&case["config"])).unwrap();
        for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
            if let Some(o) = step.get("observe") {
                let d = m.observe(num(&o[0]), num(&o[1]));
                assert_eq!(d.fires(), step["fires"].as_bool().unwrap(), "{name}: step {i}");
            } else {
                let c = &step["checkpoint"];
                m.register_checkpoint(c[0].as_u64().unwrap() as usize, c[1].as_f64());
            }
        }
        let want = &case["expected"];
        match m.fired() {
            None => assert!(want.is_null(), "{name}: never fired"),
            Some(e) => {
                assert!(!want.is_null(), "{name}: fired at {}", e.t);
                assert_eq!(e.t as u64, want["t"].as_u64().unwrap(), "{name}");
                assert_eq!(e.reason.name(), want["reason"].as_str().unwrap(), "{name}");
                assert!(close(e.q_d, num(&want["q_d"])) && close(e.threshold_d, num(&want["threshold_d"])), "{name}: {e:?}");
                assert!(close(e.steepness, num(&want["steepness"])), "{name}");
                assert!(opt_close(e.steepness_prev, &want["steepness_prev"]) && opt_close(e.delta_s, &want["delta_s"]), "{name}: {e:?}");
                let b = &want["best_checkpoint"];
                match e.best_checkpoint {
                    None => assert!(b.is_null(), "{name}: no checkpoint"),
                    Some(c) => {
                        assert_eq!(c.at as u64, b["at"].as_u64().unwrap(), "{name}");
                        assert!(opt_close(c.score, &b["score"]), "{name}");
                    }
                }
                let refires: Vec<usize> = want["refires"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
                assert_eq!(m.refires, refires, "{name}");
            }
        }
    }
    for bad in doc["invalid"].as_array().unwrap() {
        let err = EarlyStopping::new(config(&bad["config"])).unwrap_err();
        assert_eq!(err.name, bad["names"].as_str().unwrap());
    }
}
