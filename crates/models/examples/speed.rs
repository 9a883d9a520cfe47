//! Quick timing of the mixture MLP and DCGAN steps on both CPU backends.
//! `cargo run --release -p models --example speed -- [mlp|dcgan] [rounds] [per_block]`
use models::backends::BackendKind;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let what = args.get(1).map(String::as_str).unwrap_or("mlp");
    let rounds: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    let per: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(50);
    for kind in [BackendKind::NdArray, BackendKind::Flex] {
        let r = models::with_backend!(kind, |B, dev| {
            if what == "mlp" {
                for (k, every) in [(64, 0), (64, 1), (8, 1), (64, 16)] {
                    println!("{:?}", models::bench::mixture_mlp_every::<B>(&dev, kind.name(), 64, k, rounds, per, every, false));
                }
                models::bench::mixture_mlp::<B>(&dev, kind.name(), 64, 64, rounds, per)
            } else {
                models::bench::dcgan::<B>(&dev, kind.name(), 32, 32, 64, 4, rounds, per)
            }
        })
        .unwrap();
        println!("{:?}", r);
    }
}
