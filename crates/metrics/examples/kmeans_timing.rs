//! Wall time of `metrics::clustering::kmeans` at the size a figure uses: 100 clusters on
//! 10,000 points of dimension 784 (MNIST-sized), one run per seeding method. Run:
//! `cargo run --release -p metrics --example kmeans_timing [n_runs]`.
//! Data: 10 well-spread blobs (digit-like classes) of uniform noise in [0, 1]^784, so Lloyd's
//! iterations end by convergence, not by `max_iter`.
use metrics::clustering::{kmeans, Init, KMeansOptions};
use metrics::Rows;
use rand::{Rng, SeedableRng};

fn main() {
    let n_runs: usize = std::env::args().nth(1).map_or(1, |a| a.parse().expect("n_runs"));
    let (n, d, k) = (10_000, 784, 100);
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let protos: Vec<Vec<f64>> = (0..10).map(|_| (0..d).map(|_| rng.random::<f64>()).collect()).collect();
    let x: Vec<f64> = (0..n).flat_map(|i| protos[i % 10].iter().map(|p| 0.5 * p + 0.5 * rng.random::<f64>()).collect::<Vec<_>>()).collect();
    let rows = Rows::new(&x, d, "x").unwrap();
    for init in [Init::Random, Init::KMeansPlusPlus] {
        let t = std::time::Instant::now();
        let fit = kmeans(rows, k, &KMeansOptions { n_runs, init, ..Default::default() }).unwrap();
        let empty = fit.counts().iter().filter(|&&c| c == 0).count();
        println!(
            "k={k} n={n} d={d} n_runs={n_runs} {init:?}: {:.2?} (inertia {:.1}, {empty} empty clusters, {} threads)",
            t.elapsed(),
            fit.inertia,
            rayon::current_num_threads()
        );
    }
}
