//! Seed 001 section 16.7: forward-KL (mass covering), reverse-KL (mode seeking) and JS optima of
//! one Gaussian fitted to two, as functions of the separation mu/sigma, with the separations at
//! which the reverse-KL and JS optima leave the symmetric solution m = 0 (theory::kl_toy).

use anyhow::Result;
use serde::Deserialize;
use theory::kl_toy::{bifurcation_ratio_global, toy_optimum, toy_target, ToyObjective};
use theory::Mixture1d;

use super::{linspace, Ctx};
use crate::output::{frame, ItemOutput};
use crate::plot::{color, Chart, Series};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    ratio_min: f64,
    ratio_max: f64,
    ratios: usize,
    example_ratio: f64,
    bifurcation_tol: f64,
}

const OBJECTIVES: [(ToyObjective, &str); 3] =
    [(ToyObjective::ForwardKl, "forward KL"), (ToyObjective::ReverseKl, "reverse KL"), (ToyObjective::Js, "JS")];

pub fn run(ctx: &Ctx, out: &mut ItemOutput) -> Result<()> {
    let s: Settings = ctx.settings("kl-toy")?;
    let ratios = linspace(s.ratio_min, s.ratio_max, s.ratios);
    let pb = ctx.progress((ratios.len() * 3 + 2) as u64, "kl-toy optima");
    let (mut c_ratio, mut c_div, mut c_m, mut c_s, mut c_v) = (vec![], vec![], vec![], vec![], vec![]);
    let mut m_chart = Chart::new("Location of the optimum: m* / mu", "separation mu / sigma", "m* / mu");
    let mut s_chart = Chart::new("Width of the optimum: s* / sigma", "separation mu / sigma", "s* / sigma");
    for (i, (obj, name)) in OBJECTIVES.iter().enumerate() {
        let (mut mp, mut sp) = (vec![], vec![]);
        for &r in &ratios {
            let o = toy_optimum(*obj, r, 1.0)?;
            c_ratio.push(r);
            c_div.push(name.to_string());
            c_m.push(o.m);
            c_s.push(o.s);
            c_v.push(o.value);
            mp.push((r, o.m / r));
            sp.push((r, o.s));
            pb.inc(1);
        }
        m_chart.series.push(Series::line(*name, mp, color(i)));
        s_chart.series.push(Series::line(*name, sp, color(i)));
    }
    let mut bif = Vec::new();
    for (obj, name) in [(ToyObjective::ReverseKl, "reverse KL"), (ToyObjective::Js, "JS")] {
        let b = bifurcation_ratio_global(obj, s.ratio_min, s.ratio_max, s.bifurcation_tol)?;
        m_chart.vlines.push((b, format!("{name} splits at {b:.3}")));
        bif.push((name, b));
        pb.inc(1);
    }
    pb.finish_and_clear();

    // The three fits at one separation.
    let p = toy_target(s.example_ratio, 1.0)?;
    let xs = linspace(-s.example_ratio - 5.0, s.example_ratio + 5.0, 600);
    let mut d_chart = Chart::new(format!("Fits at mu/sigma = {}", s.example_ratio), "x", "density");
    d_chart.series.push(Series::line("p (target)", xs.iter().map(|&x| (x, p.pdf(x))).collect(), color(7)));
    let mut example = Vec::new();
    for (i, (obj, name)) in OBJECTIVES.iter().enumerate() {
        let o = toy_optimum(*obj, s.example_ratio, 1.0)?;
        let q = Mixture1d::new(vec![o.m], o.s, None)?;
        d_chart.series.push(Series::dashed(format!("{name}: m = {:.3}, s = {:.3}", o.m, o.s), xs.iter().map(|&x| (x, q.pdf(x))).collect(), color(i)));
        example.push((name, o));
    }

    out.png(
        "kl_toy.png",
        "One Gaussian fitted to 0.5 N(-mu, 1) + 0.5 N(mu, 1): the optimum's location (top left) and width (top right) \
         against the separation for forward KL (mass covering), reverse KL (mode seeking) and JS, with the separations \
         where the reverse-KL and JS optima leave m = 0; bottom: the three fits at one separation",
        (1500, 1100),
        |area| {
            let (top, bottom) = area.split_vertically(560);
            let t = top.split_evenly((1, 2));
            m_chart.draw(&t[0])?;
            s_chart.draw(&t[1])?;
            d_chart.draw(&bottom)?;
            Ok(())
        },
    )?;
    out.csv(
        "kl_toy_optima.csv",
        "Optimum (m, s) and the criterion's value for each separation (sigma = 1) and criterion; m >= 0 (unique up to sign)",
        frame(vec![
            ("mu_over_sigma", c_ratio.into()),
            ("divergence", c_div.into()),
            ("m", c_m.into()),
            ("s", c_s.into()),
            ("value", c_v.into()),
        ])?,
    )?;
    let mut md = format!(
        "Separations where the optimum leaves m = 0: {}. At mu/sigma = {}: ",
        bif.iter().map(|(n, b)| format!("{n} at mu/sigma = {b:.3}")).collect::<Vec<_>>().join(", "),
        s.example_ratio
    );
    md.push_str(
        &example
            .iter()
            .map(|(n, o)| format!("{n} m = {:.4}, s = {:.4}", o.m, o.s))
            .collect::<Vec<_>>()
            .join("; "),
    );
    md.push('.');
    out.markdown(md);
    Ok(())
}
