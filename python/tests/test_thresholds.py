"""Appendix F's thresholds from data against numpy written out from the paper's recipe."""

import numpy as np
import pytest

import gan_early_stopping as ges


def _numpy_recipe(x, y, per_label=10):
    classes = y.max() + 1
    means = np.stack([x[y == c][:per_label].mean(axis=0) for c in range(classes)])
    dist = np.linalg.norm(means[:, None] - means[None], axis=-1)
    i, j = np.unravel_index(np.argmax(np.triu(dist, 1)), dist.shape)
    pooled = np.mean([np.var(x[y == c]) for c in range(classes)])
    per_pixel = np.mean([np.var(x[y == c], axis=0).mean() for c in range(classes)])
    return dist[i, j], (i, j), pooled, per_pixel


def test_matches_numpy_on_random_labelled_images():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 10, 700)
    x = rng.normal(size=(700, 8, 8)) * (1 + y[:, None, None] / 10) + y[:, None, None] / 3
    k_d, pair, pooled, per_pixel = _numpy_recipe(x.reshape(700, -1), y)
    t = ges.thresholds(x, y)
    a, s, thr = t  # unpacks as (k_d, sigma, threshold)
    assert abs(a - k_d) < 1e-10 and t.pair == pair and (t.dims, t.classes) == (64, 10)
    assert abs(t.variance - pooled) < 1e-10 and abs(s - np.sqrt(pooled / 64)) < 1e-12
    assert abs(thr - k_d / (2 * s)) < 1e-9
    assert abs(ges.thresholds(x, y, variance="per_pixel").variance - per_pixel) < 1e-10
    # float32 images and int32 labels are cast, not refused
    assert abs(ges.thresholds(x.astype(np.float32), y.astype(np.int32)).k_d - k_d) < 1e-4


def test_bad_input_raises_value_error_with_the_expected_shape():
    x, y = np.zeros((20, 4)), np.repeat([0, 1], 10)
    with pytest.raises(ValueError, match=r"shape \(20,\)"):
        ges.thresholds(x, y[:5])
    with pytest.raises(ValueError, match="integer"):
        ges.thresholds(x, y.astype(float))
    with pytest.raises(ValueError, match="real-valued"):
        ges.thresholds(x.astype(complex), y)
    with pytest.raises(ValueError, match="per_label"):
        ges.thresholds(np.random.default_rng(0).normal(size=(20, 4)), y, per_label=11)
    with pytest.raises(ValueError, match="per_label"):
        ges.thresholds(x, y, per_label=-1)
    with pytest.raises(ValueError, match="negative"):
        ges.thresholds(x, -y)
    with pytest.raises(ValueError, match="variance"):
        ges.thresholds(x, y, variance="mean")
    with pytest.raises(ValueError, match="must be > 0"):
        ges.thresholds(x, y)  # identical images: zero variance
