#!/usr/bin/env python3
"""Reference computations with the usual Python tools, for comparison with the Rust crates.
Not part of CI; needs numpy, scipy, prdc, threadpoolctl (and Pillow for appendix-e):
pip install numpy scipy prdc threadpoolctl pillow

  metrics_reference.py bench --dir target/bench-metrics [--k 5]
      reads fid_real.npy, fid_fake.npy, prdc_real.npy, prdc_fake.npy (written by
      `experiments bench metrics`), prints JSON: pytorch-fid's formula (np.mean, np.cov,
      scipy.linalg.sqrtm of sigma1 @ sigma2, real part) and prdc.compute_prdc, with timings and
      the BLAS numpy runs (threadpoolctl: kernel architecture, threads). `experiments bench
      metrics --python PY` runs it without OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE in its
      environment (set on some processors, they make a current numpy pick a slower kernel).

  metrics_reference.py appendix-e --data data --figures figures
      recomputes fig8/fig9's Appendix E/F numbers with Pillow's BILINEAR resize (what
      torchvision's Resize(64) does to a PIL image) and numpy, and prints them next to the
      values in figures/fig8/appendix_f.csv and figures/fig9/appendix_f.csv.
"""
import argparse, csv, gzip, json, os, sys, time

import numpy as np


def frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """pytorch-fid's calculate_frechet_distance (src/pytorch_fid/fid_score.py), verbatim logic."""
    from scipy import linalg
    diff = mu1 - mu2
    covmean, _ = linalg.sqrtm(sigma1.dot(sigma2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError("Imaginary component {}".format(np.max(np.abs(covmean.imag))))
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def blas_info():
    """Which BLAS numpy runs and with which kernel and thread count (threadpoolctl), so the
    benchmark says what it compared against."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    return [{k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads")} for i in threadpool_info() if i.get("user_api") == "blas"]


def bench(args):
    import warnings
    warnings.filterwarnings("ignore")
    from prdc import compute_prdc
    d = args.dir
    r, f = np.load(os.path.join(d, "fid_real.npy")), np.load(os.path.join(d, "fid_fake.npy"))
    t0 = time.perf_counter()
    mu1, s1 = np.mean(r, axis=0), np.cov(r, rowvar=False)
    mu2, s2 = np.mean(f, axis=0), np.cov(f, rowvar=False)
    t1 = time.perf_counter()
    fid = frechet_distance(mu1, s1, mu2, s2)
    t2 = time.perf_counter()
    pr, pf = np.load(os.path.join(d, "prdc_real.npy")), np.load(os.path.join(d, "prdc_fake.npy"))
    t3 = time.perf_counter()
    with open(os.devnull, "w") as devnull:  # compute_prdc prints its progress
        old, sys.stdout = sys.stdout, devnull
        try:
            p = compute_prdc(real_features=pr, fake_features=pf, nearest_k=args.k)
        finally:
            sys.stdout = old
    t4 = time.perf_counter()
    out = {"fid": fid, "fid_fit_seconds": t1 - t0, "fid_distance_seconds": t2 - t1, "fid_seconds": t2 - t0,
           "prdc_seconds": t4 - t3, **{k: float(v) for k, v in p.items()},
           "numpy": np.__version__, "blas": blas_info(),
           "openblas_env": {v: os.environ.get(v) for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}}
    print(json.dumps(out))


def appendix_e(args):
    from PIL import Image

    def resize(a28):
        return np.asarray(Image.fromarray(a28).resize((64, 64), Image.BILINEAR), dtype=np.float64)

    def stats(imgs, labels):
        x = np.stack([resize(a) for a in imgs]) / 255.0 * 2 - 1  # ToTensor, Normalize(0.5, 0.5)
        x = x.reshape(len(x), -1)
        first = np.stack([x[np.flatnonzero(labels == c)[:10]].mean(0) for c in range(10)])
        allm = np.stack([x[labels == c].mean(0) for c in range(10)])
        dist = lambda m: np.sqrt(((m[:, None, :] - m[None, :, :]) ** 2).sum(-1))
        per_pixel = np.mean([x[labels == c].var(axis=0).mean() for c in range(10)])
        pooled = np.mean([x[labels == c].var() for c in range(10)])
        return {"k_d_first_per_label": dist(first).max(), "k_d_all_images": dist(allm).max(),
                "variance_per_pixel": per_pixel, "variance_pooled": pooled}

    def idx(path):
        b = gzip.open(path).read()
        nd = b[3]
        dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
        return np.frombuffer(b, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)

    sets = []
    m = np.loadtxt(gzip.open(os.path.join(args.data, "mnist", "mnist_5k.csv.gz")), delimiter=",", dtype=np.int64)
    sets.append(("fig8", m[:, :-1].astype(np.uint8).reshape(-1, 28, 28), m[:, -1]))
    fm = os.path.join(args.data, "fashion-mnist")
    sets.append(("fig9", idx(os.path.join(fm, "train-images-idx3-ubyte.gz")), idx(os.path.join(fm, "train-labels-idx1-ubyte.gz"))))
    print("| item | quantity | Python (Pillow + numpy) | Rust (figures/<id>/appendix_f.csv) | relative difference |")
    print("|---|---|---|---|---|")
    for fig, imgs, labels in sets:
        py = stats(imgs, labels)
        rust = {}
        p = os.path.join(args.figures, fig, "appendix_f.csv")
        if os.path.exists(p):
            rust = {row["quantity"]: float(row["value"]) for row in csv.DictReader(open(p))}
        for k, v in py.items():
            r = rust.get(k, float("nan"))
            print(f"| {fig} | {k} | {v:.6f} | {r:.6f} | {abs(v - r) / max(abs(v), abs(r)):.1e} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bench")
    b.add_argument("--dir", required=True)
    b.add_argument("--k", type=int, default=5)
    e = sub.add_parser("appendix-e")
    e.add_argument("--data", default="data")
    e.add_argument("--figures", default="figures")
    args = ap.parse_args()
    {"bench": bench, "appendix-e": appendix_e}[args.cmd](args)


if __name__ == "__main__":
    main()
