//! Exploration of the 3-D mixture dynamics (not part of the runner):
//! `gmm_explore lr_g lr_d batch batches_per_epoch epochs seed [widths]`
use models::backends::FlexAd as B;
use models::gan::{Gan, TrainConfig};
use models::mlp::MlpConfig;
use models::train::{init_seeded, sample_generator, train, InMemoryData, LoopConfig, SteepnessProbe};
use rand::{rngs::StdRng, Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let p = |i: usize, d: f64| a.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (lr_g, lr_d, batch, bpe, epochs, seed) = (p(1, 0.01), p(2, 0.01), p(3, 64.0) as usize, p(4, 16.0) as usize, p(5, 1000.0) as usize, p(6, 1.0) as u64);
    let w = p(7, 128.0) as usize;
    let sigma = 0.0125f64.sqrt();
    let means: Vec<[f32; 3]> = (0..8).map(|m| [if m & 1 == 0 { -1.0 } else { 1.0 }, if m & 2 == 0 { -1.0 } else { 1.0 }, if m & 4 == 0 { -1.0 } else { 1.0 }]).collect();
    let mut rng = StdRng::seed_from_u64(seed + 1000);
    let n = batch * bpe;
    let mut v = Vec::new();
    for _ in 0..n {
        let m = means[rng.random_range(0..8)];
        for c in 0..3 {
            let e: f64 = StandardNormal.sample(&mut rng);
            v.push(m[c] + (sigma * e) as f32);
        }
    }
    let data = InMemoryData::new(v, 3).unwrap();
    let device = models::backends::flex_device();
    let cfg = MlpConfig::new(3).with_g_hidden(vec![w; 3]).with_d_hidden(vec![w; 3]);
    let (g, d) = init_seeded::<B, _>(&device, seed, |dv| (cfg.init_generator::<B>(dv), cfg.init_discriminator::<B>(dv)));
    let mut gan = Gan::new(g, d, TrainConfig::sgd(lr_g, lr_d), device.clone());
    let mut lc = LoopConfig::new(epochs, batch, seed);
    lc.batches_per_epoch = Some(bpe);
    lc.steepness = SteepnessProbe::Exact { latents: 128 };
    lc.monitor = Some(models::EarlyStoppingConfig::paper_gmm());
    let t = std::time::Instant::now();
    let r = train(&mut gan, &data, &lc, |e, gan, rec| {
        if e % 10 == 0 || e < 10 {
            let s = sample_generator(&gan.g, 2000, 7, &gan.device);
            let mut counts = [0usize; 8];
            let mut hq = 0;
            for x in s.chunks(3) {
                let (bi, bd) = means.iter().enumerate().map(|(i, m)| (i, ((x[0] - m[0]).powi(2) + (x[1] - m[1]).powi(2) + (x[2] - m[2]).powi(2)).sqrt())).min_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
                if (bd as f64) <= 3.0 * sigma { hq += 1; counts[bi] += 1; }
            }
            let cov = counts.iter().filter(|c| **c as f64 >= 2000.0 / 8.0 * 0.25).count();
            println!("ep {e:4} ld {:.3} lg {:.3} qd {:7.3} qmax {:7.3} S {:.4} fired {} | cov {cov} hq {:.3} {:?}", rec.loss_d, rec.loss_g, rec.q_d, rec.q_d_max, rec.steepness, rec.fired, hq as f64 / 2000.0, counts);
        }
        Ok(None)
    }).unwrap();
    println!("stop {:?} in {:.1}s", r.stop.map(|s| s.describe("epoch")), t.elapsed().as_secs_f64());
}
