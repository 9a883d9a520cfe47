"""Algorithm 2 through the bindings, on the stream file the Rust tests also read
(crates/early-stopping/tests/data/shared_stream.json), plus the Python-side behaviour."""

import copy
import json
import math
import pathlib
import pickle

import numpy as np
import pytest

import gan_early_stopping as ges

STREAM = pathlib.Path(__file__).resolve().parents[2] / "crates" / "early-stopping" / "tests" / "data" / "shared_stream.json"


def _num(v):
    return math.nan if v is None else v


def _close(a, b):
    if b is None:
        return a is None
    return a is not None and abs(a - b) <= 1e-12 * max(abs(b), 1.0)


def test_shared_streams():
    doc = json.loads(STREAM.read_text())
    assert len(doc["cases"]) == 5
    for case in doc["cases"]:
        name = case["name"]
        m = ges.EarlyStopping(**case["config"])
        for i, step in enumerate(case["steps"]):
            if "observe" in step:
                q, s = step["observe"]
                d = m.observe(_num(q), _num(s))
                assert d.fires == step["fires"], f"{name}: step {i}"
                assert bool(d) == d.fires
            else:
                at, score = step["checkpoint"]
                m.register_checkpoint(at, score)
        want, e = case["expected"], m.fired
        if want is None:
            assert e is None, f"{name}: fired at {e.t}"
            continue
        assert e is not None, name
        assert (e.t, e.reason) == (want["t"], want["reason"]), name
        for key in ("q_d", "threshold_d", "steepness", "steepness_prev", "delta_s"):
            assert _close(getattr(e, key), want[key]), f"{name}: {key} = {getattr(e, key)}"
        b = want["best_checkpoint"]
        if b is None:
            assert e.best_checkpoint is None, name
        else:
            assert e.best_checkpoint.at == b["at"] and _close(e.best_checkpoint.score, b["score"]), name
        assert m.refires == want["refires"], name
        assert want["reason"] in str(e) and f"{m.config['granularity']} {want['t']}" in e.description
    for bad in doc["invalid"]:
        with pytest.raises(ValueError, match=f"`{bad['names']}`"):
            ges.EarlyStopping(**bad["config"])


@pytest.mark.parametrize(
    "kwargs, name",
    [({"modes": -1}, "modes"), ({"warmup": -3}, "warmup"), ({"granularity": "batch"}, "granularity"), ({"sigma": math.nan}, "sigma")],
)
def test_invalid_settings_name_the_setting(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        ges.EarlyStopping(**{"k_d": 2.0, "sigma": 0.1, **kwargs})


def test_paper_gmm_defaults_and_threshold():
    m = ges.EarlyStopping.paper_gmm()
    assert m.config == {"k_d": 2.0, "sigma": 0.0125**0.5, "k_g": -0.5, "modes": 8, "warmup": 50, "granularity": "epoch"}
    assert abs(m.threshold - 2 / (2 * 0.0125**0.5)) < 1e-12 and m.quantile_level == 0.875
    # The constructor's defaults are Appendix F's k_g, m, N_w.
    assert ges.EarlyStopping(2.0, 0.0125**0.5).config == m.config


def test_observe_batch_is_quantile_and_mean():
    m = ges.EarlyStopping(2.0, 0.1, modes=4, warmup=0, granularity="iteration")
    d = m.observe_batch(np.arange(1.0, 10.0), np.array([1.0, 3.0]))
    assert d.q_d == np.quantile(np.arange(1.0, 10.0), 0.75) and d.steepness == 2.0 and d.t == 1
    assert ges.mode_quantile([3, 1, 4, 1, 5, 9, 2, 6], 8) == np.quantile([3, 1, 4, 1, 5, 9, 2, 6], 0.875)
    with pytest.raises(ValueError, match=r"shape \(batch,\)"):
        m.observe_batch(np.ones((2, 2)), np.ones(2))
    with pytest.raises(ValueError, match="`modes`"):
        ges.mode_quantile([1.0], 0)


def test_state_round_trips_through_pickle():
    m = ges.EarlyStopping(2.0, 0.1, warmup=1, granularity="iteration")
    m.observe(1.0, 2.0)
    m.register_checkpoint(1, 0.5)
    m2 = pickle.loads(pickle.dumps(m))
    m3 = copy.deepcopy(m)
    for x in (m2, m3):
        assert x.state() == m.state() and x.observed == 1
        # The restored monitor keeps S_prev = 2: a halving at t = 2 fires there too.
        assert x.observe(1.0, 0.9).fires and x.fired.best_checkpoint.at == 1
    with pytest.raises(ValueError, match="`state`"):
        ges.EarlyStopping.from_state("{}")


def test_a_rust_panic_becomes_a_python_exception():
    with pytest.raises(RuntimeError, match="Rust panic"):
        ges._native._panic_for_tests()
