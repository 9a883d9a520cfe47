//! Figure 13: the field grad d/d of the locally linear discriminator of Assumption 4.1 on the 2-D
//! toy (Appendix G.1), unscaled and zoomed with vectors at 1/10, and how many arrows "pass through
//! the mode centres" (the paper's reading of the figure), measured on a grid and in closed form.

use anyhow::Result;
use serde::Deserialize;
use theory::collapse::{overshoot_fraction_exact_2d, LocallyLinearDiscriminator};
use theory::field::Grid2d;

use super::Ctx;
use crate::output::{frame, ItemOutput};
use crate::plot::Quiver;

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
    let views = [
        ("full", (-h, h), (-h, h), 1.0),
        ("zoom", (-a - z, -a + z), (-a - z, -a + z), s.zoom_scale),
    ];
    let mut panels = Vec::new();
    let (mut c_view, mut c_x, mut c_y, mut c_fx, mut c_fy, mut c_d, mut c_scale) = (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    for (view, xr, yr, scale) in views {
        let rows = d.field_grid(&Grid2d::new(xr, yr, s.arrows, s.arrows)?)?;
        for r in &rows {
            c_view.push(view.to_string());
            c_x.push(r.x);
            c_y.push(r.y);
            c_fx.push(r.field_x);
            c_fy.push(r.field_y);
            c_d.push(r.d_star);
            c_scale.push(scale);
        }
        panels.push((view, xr, yr, scale, rows));
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
    out.png(
        "fig13.png",
        "grad d/d under Assumption 4.1 (4 modes at (+-1,+-1), variance 0.0125): left unscaled, right zoomed \
         around (-1,-1) with vectors at 1/10; arrows drawn at their true length times the panel's scale; \
         d = 0 (field undefined) outside the balls of radius 4 sigma",
        (1500, 760),
        |area| {
            let cells = area.split_evenly((1, 2));
            for (cell, (view, xr, yr, scale, rows)) in cells.iter().zip(&panels) {
                let quiv: Vec<(f64, f64, f64, f64)> = rows.iter().map(|r| (r.x, r.y, r.field_x, r.field_y)).collect();
                let bg: Vec<(f64, f64, f64)> = rows.iter().map(|r| (r.x, r.y, r.d_star)).collect();
                let w = (xr.1 - xr.0) / (s.arrows - 1) as f64;
                Quiver {
                    title: format!("{view}: vectors x{scale}"),
                    arrows: &quiv,
                    scale: *scale,
                    background: Some((&bg, w, (0.0, 0.5), "d".into())),
                    x_range: *xr,
                    y_range: *yr,
                    markers: vec![(a, a), (a, -a), (-a, a), (-a, -a)],
                }
                .draw(cell)?;
            }
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
         every arrow of length 1/(4 sigma - r) overshoots once the scale exceeds 4 sigma^2 = {:.4}.",
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
