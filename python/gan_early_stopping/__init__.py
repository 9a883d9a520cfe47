"""Early stopping for GANs from discriminator and generator gradients.

Algorithm 2 of "Evolution of Discriminator and Generator Gradients in GAN Training: From Fitting to
Collapse" (Section 4.3), Appendix F's thresholds from a labelled data set, and FID / PRDC / PRD,
as thin bindings to the project's Rust crates (``early-stopping``, ``metrics``): the numbers are
the Rust crates' own. The PyTorch probes (q_d and the steepness) are in
:mod:`gan_early_stopping.torch`, imported only when you import it (the package never needs torch).

Algorithm 2, once per epoch (or iteration) t::

    fire when  t > N_w  and  ( q_d > k_d / (2 sigma)  or  (S - S_prev) / S_prev < k_g )

q_d: the (1 - 1/m) quantile over a batch of ||grad_x log d(x)|| at generated samples; S: the mean
steepness ||J_g(z)||_2 over a few latents; then go back to the best earlier checkpoint.

Array arguments are numpy arrays (anything ``numpy.asarray`` accepts) of real numbers; they are
cast to C-contiguous float64 here, and a wrong shape or a non-numeric dtype raises ``ValueError``
saying the expected shape. The Rust work runs without the GIL.
"""

from __future__ import annotations

import numpy as _np

from . import _native
from ._native import Checkpoint, Decision, EarlyStopping, StopEvent, Thresholds

__all__ = [
    "EarlyStopping",
    "Decision",
    "StopEvent",
    "Checkpoint",
    "Thresholds",
    "thresholds",
    "mode_quantile",
    "frechet_distance",
    "frechet_distance_from_moments",
    "prdc",
    "prd",
    "prd_from_histograms",
]


def _real(name: str, a, ndim: int, shape: str) -> _np.ndarray:
    """`a` as a C-contiguous float64 array of `ndim` dimensions, or ValueError naming `shape`."""
    arr = _np.asarray(a)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"`{name}` must be a real-valued array of shape {shape}; got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"`{name}` must have shape {shape}; got shape {arr.shape}")
    return _np.ascontiguousarray(arr, dtype=_np.float64)


def mode_quantile(values, modes: int) -> float:
    """q_d of Algorithm 2 line 3: the (1 - 1/modes) quantile of `values` (shape (n,)), with
    numpy's default linear interpolation."""
    return _native.mode_quantile(_real("values", values, 1, "(n,)"), modes)


def thresholds(images, labels, per_label: int = 10, variance: str = "pooled") -> Thresholds:
    """Appendix F's thresholds from data: ``k_d, sigma, threshold = thresholds(images, labels)``.

    images: shape (n, ...) (each image flattened; preprocess as your GAN sees them, e.g. 64x64 in
    [-1, 1] as Appendix E); labels: integer shape (n,), classes 0..C-1.
    k_d: distance between the two farthest class means, each over the first `per_label` images of
    its label; sigma = sqrt(V / D), V the class variance averaged over classes ("pooled": np.var of
    all pixel values of a class, the reading that gives the paper's MNIST 0.33; "per_pixel" or
    "trace" for the others), D the number of values per image; threshold = k_d / (2 sigma).
    The result also has `.variance`, `.pair` (the farthest labels), `.dims`, `.classes`.
    """
    if int(per_label) < 1:
        raise ValueError(f"`per_label` must be >= 1, got {per_label}")
    arr = _np.asarray(images)
    if arr.ndim < 2:
        raise ValueError(f"`images` must have shape (n, d) or (n, h, w[, c]); got shape {arr.shape}")
    x = _real("images", arr.reshape(arr.shape[0], -1), 2, "(n, d)")
    lab = _np.asarray(labels)
    if lab.dtype.kind not in "iu" or lab.shape != (arr.shape[0],):
        raise ValueError(f"`labels` must be an integer array of shape ({arr.shape[0]},); got dtype {lab.dtype}, shape {lab.shape}")
    return _native.thresholds(x, _np.ascontiguousarray(lab, dtype=_np.int64), per_label, variance)


def frechet_distance(a, b) -> float:
    """Squared Frechet distance between Gaussians fitted to the rows of `a` (n, d) and `b` (m, d):
    pytorch-fid's FID when the rows are Inception pool3 features."""
    return _native.frechet_distance(_real("a", a, 2, "(n, d)"), _real("b", b, 2, "(m, d)"))


def frechet_distance_from_moments(mu1, sigma1, mu2, sigma2) -> float:
    """pytorch-fid's ``calculate_frechet_distance(mu1, sigma1, mu2, sigma2)``."""
    return _native.frechet_distance_from_moments(
        _real("mu1", mu1, 1, "(d,)"), _real("sigma1", sigma1, 2, "(d, d)"), _real("mu2", mu2, 1, "(d,)"), _real("sigma2", sigma2, 2, "(d, d)")
    )


def prdc(real, fake, k: int = 5) -> dict:
    """``prdc.compute_prdc(real, fake, nearest_k=k)``: dict with precision, recall, density, coverage."""
    return _native.prdc(_real("real", real, 2, "(n, d)"), _real("fake", fake, 2, "(m, d)"), k)


def prd(eval, reference, clusters: int = 20, angles: int = 1001, runs: int = 10, n_init: int = 10, max_iter: int = 100, seed: int = 0, beta: float = 8.0) -> dict:
    """PRD curve (Sajjadi et al. 2018) of `eval` against `reference` embeddings: dict with arrays
    precision, recall (one value per angle) and the maxima f_beta, f_beta_inv (F_8, F_1/8)."""
    return _native.prd(_real("eval", eval, 2, "(n, d)"), _real("reference", reference, 2, "(m, d)"), clusters, angles, runs, n_init, max_iter, seed, beta)


def prd_from_histograms(eval_dist, ref_dist, angles: int = 1001, beta: float = 8.0) -> dict:
    """The PRD curve of two histograms over the same bins (the reference's ``compute_prd``)."""
    return _native.prd_from_histograms(_real("eval_dist", eval_dist, 1, "(bins,)"), _real("ref_dist", ref_dist, 1, "(bins,)"), angles, beta)
