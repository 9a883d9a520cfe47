"""FID, PRDC and PRD through the bindings against scipy (pytorch-fid's formula) and the prdc
package, and the GIL released while they run."""

import threading
import time

import numpy as np
import pytest
import scipy.linalg

import gan_early_stopping as ges


def _pytorch_fid(mu1, s1, mu2, s2):
    # pytorch-fid's calculate_frechet_distance (without its eps retry)
    covmean = np.asarray(scipy.linalg.sqrtm(s1.dot(s2))).real
    diff = mu1 - mu2
    return diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)


def test_frechet_distance_matches_scipy():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 16))
    b = rng.normal(size=(400, 16)) @ rng.normal(size=(16, 16)) * 0.3 + 0.5
    mu1, s1 = a.mean(0), np.cov(a, rowvar=False)
    mu2, s2 = b.mean(0), np.cov(b, rowvar=False)
    ref = _pytorch_fid(mu1, s1, mu2, s2)
    assert abs(ges.frechet_distance(a, b) - ref) < 1e-8 * abs(ref)
    assert abs(ges.frechet_distance_from_moments(mu1, s1, mu2, s2) - ref) < 1e-8 * abs(ref)
    assert abs(ges.frechet_distance(a, a)) < 1e-8


def test_prdc_matches_the_prdc_package():
    prdc = pytest.importorskip("prdc", reason="the prdc package is not installed (pip install prdc)")
    rng = np.random.default_rng(1)
    real = rng.normal(size=(300, 8))
    fake = rng.normal(size=(250, 8)) * 1.3 + 0.2
    for k in (3, 5):
        want = prdc.compute_prdc(real_features=real, fake_features=fake, nearest_k=k)
        got = ges.prdc(real, fake, k)
        assert set(got) == set(want)
        for key in want:
            assert abs(got[key] - want[key]) < 1e-12, (k, key)


def test_prd_from_histograms_matches_the_reference_formula():
    ev = np.array([0.5, 0.3, 0.2, 0.0])
    ref = np.array([0.25, 0.25, 0.25, 0.25])
    got = ges.prd_from_histograms(ev, ref, angles=101)
    # compute_prd of google/compare_gan prd_score.py
    slopes = np.tan(np.linspace(1e-10, np.pi / 2 - 1e-10, num=101))
    prec = np.minimum(ref[None] * slopes[:, None], ev[None]).sum(axis=1)
    rec = prec / slopes
    prec, rec = np.clip(prec, 0, 1), np.clip(rec, 0, 1)
    assert np.allclose(got["precision"], prec, atol=1e-12) and np.allclose(got["recall"], rec, atol=1e-12)
    f = lambda b: np.max((1 + b**2) * prec * rec / (b**2 * prec + rec + 1e-10))
    assert abs(got["f_beta"] - f(8)) < 1e-9 and abs(got["f_beta_inv"] - f(1 / 8)) < 1e-9


def test_prd_on_embeddings_separates_same_from_disjoint():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(400, 4))
    same = ges.prd(a, rng.normal(size=(400, 4)), runs=2, n_init=2)
    far = ges.prd(a, rng.normal(size=(400, 4)) + 50, runs=2, n_init=2)
    assert same["f_beta"] > 0.9 and same["f_beta_inv"] > 0.9
    assert far["f_beta"] < 0.1 and far["f_beta_inv"] < 0.1
    assert len(same["precision"]) == 1001


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: ges.frechet_distance(np.zeros(5), np.zeros((5, 2))), r"`a` must have shape \(n, d\); got shape \(5,\)"),
        (lambda: ges.frechet_distance(np.zeros((5, 2)), np.zeros((5, 3))), "3 features per row, but real has 2"),
        (lambda: ges.prdc(np.array([["a", "b"]]), np.zeros((5, 2))), r"`real` must be a real-valued array of shape \(n, d\)"),
        (lambda: ges.prdc(np.full((6, 2), np.nan), np.zeros((6, 2)), 3), "not finite"),
        (lambda: ges.frechet_distance_from_moments(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2)), r"`sigma1` must have shape \(2, 2\)"),
        (lambda: ges._native.frechet_distance(np.zeros((4, 2), np.float32), np.zeros((4, 2))), r"float64 array of shape \(n, d\); got shape \(4, 2\) and dtype float32"),
    ],
)
def test_wrong_shapes_and_dtypes_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_metrics_release_the_gil():
    rng = np.random.default_rng(4)
    real, fake = rng.normal(size=(4000, 64)), rng.normal(size=(4000, 64))
    span = {}

    def work():
        # One call took 0.16 s on a fast CI machine: repeat it until the span is long enough to
        # tell, whatever the machine (the GIL is retaken only briefly between calls).
        span["start"] = time.perf_counter()
        for _ in range(200):
            ges.prdc(real, fake, 5)
            if time.perf_counter() - span["start"] > 0.6:
                break
        span["end"] = time.perf_counter()

    ticks = []
    t = threading.Thread(target=work)
    t.start()
    while t.is_alive():
        ticks.append(time.perf_counter())
    t.join()
    inside = [x for x in ticks if span["start"] + 0.05 < x < span["end"] - 0.05]
    assert span["end"] - span["start"] > 0.2, "the call was too short to tell"
    # With the GIL held for the whole call, this thread could not run a single iteration inside it.
    assert len(inside) > 10, f"{len(inside)} ticks of this thread during a {span['end'] - span['start']:.2f} s call"
