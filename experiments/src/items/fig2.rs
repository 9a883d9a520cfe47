//! Figure 2 and Table 2: the field grad d*/d* = grad r / (r (1 + r)) (Theorem C.1) for the four
//! configurations of Table 2, computed by the generic log-space formula and compared with the
//! closed forms of Props C.1-C.4 as printed and as corrected.

use anyhow::Result;
use serde::Deserialize;
use theory::field::{closed_form_discrepancy, Grid2d, Table2Case};

use super::Ctx;
use crate::output::{frame, ItemOutput};
use crate::plot::{Background, Quiver};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    arrows: usize,
    background: usize,
    half_width: f64,
    half_width_case4: f64,
    zoom_half_width: f64,
    comparison_points: usize,
}

pub fn run(ctx: &Ctx, out: &mut ItemOutput) -> Result<()> {
    let s: Settings = ctx.settings("fig2")?;
    let pb = ctx.progress(4, "fig2 cases");
    let mut panels = Vec::new();
    let (mut c_case, mut c_view, mut c_x, mut c_y, mut c_fx, mut c_fy, mut c_d, mut c_lr) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut t_case, mut t_desc, mut t_printed, mut t_corrected, mut t_cf_printed, mut t_cf) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for case in Table2Case::ALL {
        let h = if case == Table2Case::Case4 { s.half_width_case4 } else { s.half_width };
        let m = if case == Table2Case::Case4 { -3.0 } else { -1.0 };
        let z = s.zoom_half_width;
        for (view, (lo, hi), (ylo, yhi)) in [("full", (-h, h), (-h, h)), ("zoom", (m - z, m + z), (m - z, m + z))] {
            let arrows = case.field_grid(&Grid2d::new((lo, hi), (ylo, yhi), s.arrows, s.arrows)?)?;
            let bg = case.field_grid(&Grid2d::new((lo, hi), (ylo, yhi), s.background, s.background)?)?;
            for r in &arrows {
                c_case.push(case.index() as i64);
                c_view.push(view.to_string());
                c_x.push(r.x);
                c_y.push(r.y);
                c_fx.push(r.field_x);
                c_fy.push(r.field_y);
                c_d.push(r.d_star);
                c_lr.push(r.log_r);
            }
            panels.push((case, view, (lo, hi), (ylo, yhi), arrows, bg));
        }
        // Closed forms against the generic computation on a fine grid of the full view.
        let grid = Grid2d::new((-h, h), (-h, h), s.comparison_points, s.comparison_points)?;
        let (printed, corrected) = (case.closed_form_as_printed(), case.closed_form());
        t_case.push(case.index() as i64);
        t_desc.push(case.description().to_string());
        t_cf_printed.push(printed.label.to_string());
        t_cf.push(corrected.label.to_string());
        t_printed.push(closed_form_discrepancy(case, &printed, &grid)?);
        t_corrected.push(closed_form_discrepancy(case, &corrected, &grid)?);
        pb.inc(1);
    }
    pb.finish_and_clear();

    out.png(
        "fig2.png",
        "The field grad d*/d* (arrows, lengths to scale within a panel; orange arrows clipped at 1.5 grid spacings) over d* (colour) for Table 2's \
         cases 1-4 (rows); left: full view, right: zoom around the bottom-left mode",
        (1500, 2400),
        |area| {
            let rows = area.split_evenly((4, 2));
            for (cell, (case, view, xr, yr, arrows, bg)) in rows.iter().zip(&panels) {
                let quiv: Vec<(f64, f64, f64, f64)> = arrows.iter().map(|r| (r.x, r.y, r.field_x, r.field_y)).collect();
                let cells: Vec<(f64, f64, f64)> = bg.iter().map(|r| (r.x, r.y, r.d_star)).collect();
                // Lengths to scale within a panel: the 90th-percentile arrow spans one grid
                // spacing; the few longer than 1.5 spacings are clipped and drawn in orange.
                let mut norms: Vec<f64> = quiv.iter().map(|a| a.2.hypot(a.3)).filter(|v| v.is_finite()).collect();
                norms.sort_by(f64::total_cmp);
                let p90 = norms.get(norms.len() * 90 / 100).copied().unwrap_or(1.0).max(1e-300);
                let spacing = (xr.1 - xr.0) / (s.arrows - 1) as f64;
                let scale = spacing / p90;
                let (dmin, dmax) = cells.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), c| (a.min(c.2), b.max(c.2)));
                let cell_w = (xr.1 - xr.0) / (s.background - 1) as f64;
                let modes: Vec<(f64, f64)> = {
                    let a = if *case == Table2Case::Case4 { 3.0 } else { 1.0 };
                    vec![(a, a), (a, -a), (-a, a), (-a, -a)]
                };
                Quiver {
                    title: format!("case {} ({view}): arrows x{:.3}", case.index(), scale),
                    arrows: &quiv,
                    scale,
                    background: Some(Background { cells: &cells, cell: cell_w, range: (dmin, dmax), label: "d*".into() }),
                    x_range: *xr,
                    y_range: *yr,
                    markers: modes,
                    clip: Some(1.5 * spacing),
                }
                .draw(cell)?;
            }
            Ok(())
        },
    )?;
    out.csv(
        "fig2_field.csv",
        "The field and d* at every arrow of every panel (generic Theorem C.1 computation)",
        frame(vec![
            ("case", c_case.into()),
            ("view", c_view.into()),
            ("x", c_x.into()),
            ("y", c_y.into()),
            ("field_x", c_fx.into()),
            ("field_y", c_fy.into()),
            ("d_star", c_d.into()),
            ("log_r", c_lr.into()),
        ])?,
    )?;
    let mut md = String::from(
        "**Table 2, with the closed forms of Props C.1-C.4 checked against the generic Theorem C.1 field** \
         (largest relative difference of the field over the full-view grid):\n\n\
         | case | description | closed form as printed | max rel. diff | corrected closed form | max rel. diff |\n|---|---|---|---|---|---|\n",
    );
    for i in 0..t_case.len() {
        md.push_str(&format!(
            "| {} | {} | {} | {:.2e} | {} | {:.2e} |\n",
            t_case[i], t_desc[i], t_cf_printed[i], t_printed[i], t_cf[i], t_corrected[i]
        ));
    }
    out.markdown(md);
    out.csv(
        "table2.csv",
        "Table 2's cases; largest relative difference between the closed-form field (as printed / corrected) and the generic computation",
        frame(vec![
            ("case", t_case.into()),
            ("description", t_desc.into()),
            ("closed_form_as_printed", t_cf_printed.into()),
            ("max_rel_diff_as_printed", t_printed.into()),
            ("closed_form_corrected", t_cf.into()),
            ("max_rel_diff_corrected", t_corrected.into()),
        ])?,
    )?;
    Ok(())
}
