//! Figure 13: the field grad d/d of the locally linear discriminator of Assumption 4.1 on the 2-D
//! toy (Appendix G.1), unscaled and zoomed with vectors at 1/10, and how many arrows "pass through
//! the mode centres" (the paper's reading of the figure), measured on a grid and in closed form.

use anyhow::Result;
use serde::Deserialize;
use theory::collapse::{field_norm, overshoot_fraction_exact_2d, LocallyLinearDiscriminator};
use theory::field::Grid2d;

use super::Ctx;
use crate::output::{frame, ItemOutput};
use crate::plot::{color, Background, Chart, Quiver, Series};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    variance: f64,
    mode: f64,
    arrows: usize,
    half_width: f64,
    zoom_half_width: f64,
    zoom_scale: f64,
    overshoot_grid: usize,
}

pub fn run(ctx: &Ctx, out: &mut ItemOutput) -> Result<()> {
    let s: Settings = ctx.settings("fig13")?;
    let a = s.mode;
    let sigma = s.variance.sqrt();
    let d = LocallyLinearDiscriminator::new(vec![vec![a, a], vec![a, -a], vec![-a, a], vec![-a, -a]], sigma)?;
    let h = s.half_width;
    let z = s.zoom_half_width;
    // Drawn lengths: arrows of true length 1/(4 sigma - r) >= 1/(4 sigma) would cross the whole
    // panel, so the full view is autoscaled (median arrow = one grid spacing) and the zoom draws
    // them at `zoom_scale` times that, as the paper's right panel does. The true-length statement
    // (does a step of size s cross the centre?) is measured separately below.
    let spacing = 2.0 * h / (s.arrows - 1) as f64;
    let median_norm = {
        let rows = d.field_grid(&Grid2d::new((-h, h), (-h, h), s.arrows, s.arrows)?)?;
        let mut n: Vec<f64> = rows.iter().map(|r| r.field_x.hypot(r.field_y)).collect();
        n.sort_by(f64::total_cmp);
        n.get(n.len() / 2).copied().unwrap_or(1.0)
    };
    let base = spacing / median_norm;
    let views = [
        ("full", (-h, h), (-h, h), base),
        ("zoom", (-a - z, -a + z), (-a - z, -a + z), base * s.zoom_scale),
    ];
    let mut panels = Vec::new();
    let (mut c_view, mut c_x, mut c_y, mut c_fx, mut c_fy, mut c_d, mut c_scale) = (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    for (view, xr, yr, scale) in views {
        let rows = d.field_grid(&Grid2d::new(xr, yr, s.arrows, s.arrows)?)?;
        let bg = d.field_grid(&Grid2d::new(xr, yr, 161, 161)?)?;
        for r in &rows {
            c_view.push(view.to_string());
            c_x.push(r.x);
            c_y.push(r.y);
            c_fx.push(r.field_x);
            c_fy.push(r.field_y);
            c_d.push(r.d_star);
            c_scale.push(scale);
        }
        panels.push((view, xr, yr, scale, rows, bg));
    }
    // Arrows that cross the mode centre, on a fine grid and in closed form, at both scales.
    let fine = Grid2d::new((-h, h), (-h, h), s.overshoot_grid, s.overshoot_grid)?;
    let mut o_scale = vec![];
    let mut o_grid = vec![];
    let mut o_exact = vec![];
    let mut o_n = vec![];
    for scale in [1.0, s.zoom_scale] {
        let st = d.overshoot(&fine, scale)?;
        o_scale.push(scale);
        o_grid.push(st.fraction);
        o_exact.push(overshoot_fraction_exact_2d(sigma, scale)?);
        o_n.push(st.in_balls as i64);
    }
    // The radial profile: a step s * grad d/d from distance r crosses the centre iff
    // s / (4 sigma - r) > r.
    let rs = super::linspace(1e-3 * sigma, 4.0 * sigma * (1.0 - 1e-3), 400);
    let mut profile = Chart::new(
        "A particle step of size s crosses the mode centre where s ||grad d/d|| exceeds r",
        "distance r to the mode centre",
        "length of the step",
    );
    profile.log_y = true;
    for (i, step) in [1.0, s.zoom_scale, 0.01, 0.001].into_iter().enumerate() {
        profile.series.push(Series::line(
            format!("s = {step}: s / (4 sigma - r)"),
            rs.iter().map(|&r| Ok((r, step * field_norm(sigma, r)?))).collect::<Result<Vec<_>>>()?,
            color(i),
        ));
    }
    profile.series.push(Series::dashed("r (distance to the centre)", rs.iter().map(|&r| (r, r)).collect(), color(7)));
    out.png(
        "fig13.png",
        "grad d/d under Assumption 4.1 (4 modes at (+-1,+-1), variance 0.0125): top left autoscaled, top right \
         zoomed around (-1,-1) with arrows at 1/10 of that scale; d = 0 (field undefined) outside the balls of \
         radius 4 sigma. Bottom: true step lengths against the distance to the centre (all steps with s >= 4 sigma^2 cross it)",
        (1500, 1240),
        |area| {
            let (top, bottom) = area.split_vertically(720);
            let cells = top.split_evenly((1, 2));
            for (cell, (view, xr, yr, scale, rows, bgrows)) in cells.iter().zip(&panels) {
                let quiv: Vec<(f64, f64, f64, f64)> = rows.iter().map(|r| (r.x, r.y, r.field_x, r.field_y)).collect();
                let bg: Vec<(f64, f64, f64)> = bgrows.iter().map(|r| (r.x, r.y, r.d_star)).collect();
                let w = (xr.1 - xr.0) / 160.0;
                Quiver {
                    title: format!("{view}: arrows drawn at x{scale:.4} of their length"),
                    arrows: &quiv,
                    scale: *scale,
                    background: Some(Background { cells: &bg, cell: w, range: (0.0, 0.5), label: "d".into() }),
                    x_range: *xr,
                    y_range: *yr,
                    markers: vec![(a, a), (a, -a), (-a, a), (-a, -a)],
                    clip: None,
                }
                .draw(cell)?;
            }
            profile.draw(&bottom)?;
            Ok(())
        },
    )?;
    out.csv(
        "fig13_field.csv",
        "The field grad d/d and d at every arrow (points inside the balls only)",
        frame(vec![
            ("view", c_view.into()),
            ("x", c_x.into()),
            ("y", c_y.into()),
            ("field_x", c_fx.into()),
            ("field_y", c_fy.into()),
            ("d", c_d.into()),
            ("drawn_scale", c_scale.into()),
        ])?,
    )?;
    out.csv(
        "fig13_overshoot.csv",
        "Share of points inside the balls whose arrow (at the given scale) crosses the mode centre: grid count and closed form",
        frame(vec![
            ("scale", o_scale.clone().into()),
            ("fraction_grid", o_grid.clone().into()),
            ("fraction_exact", o_exact.clone().into()),
            ("grid_points_in_balls", o_n.into()),
        ])?,
    )?;
    out.markdown(format!(
        "Arrows that pass through the mode centre (the paper: \"some vectors still pass through the centres\"): \
         {:.1}% at scale 1 and {:.1}% at scale {} (grid of {}^2; closed form {:.1}% and {:.1}%). With 4 sigma = {:.3}, \
         every step s grad d/d crosses the centre once s exceeds 4 sigma^2 = {:.4}.",
        100.0 * o_grid[0],
        100.0 * o_grid[1],
        s.zoom_scale,
        s.overshoot_grid,
        100.0 * o_exact[0],
        100.0 * o_exact[1],
        4.0 * sigma,
        4.0 * sigma * sigma
    ));
    Ok(())
}
