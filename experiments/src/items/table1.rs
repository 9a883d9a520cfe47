//! Table 1: the two phases and the roles of the two gradients, as the paper states them. The
//! column of measured evidence needs the Gaussian-mixture training runs (issue #4); until they
//! exist the item says so in the table instead of inventing numbers.

use anyhow::Result;
use serde::Deserialize;

use super::Ctx;
use crate::output::{frame, ItemOutput};
use crate::plot::{err, font};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    width: u32,
    height: u32,
}

/// (aspect, fitting, collapse) as printed in the paper's Table 1.
const ROWS: [(&str, &str, &str); 3] = [
    (
        "Description",
        "Particles move toward and converge around the modes, reducing their spread and mitigating mode mixture.",
        "Particles near mode boundaries are pushed away, eventually leading to mode collapse.",
    ),
    (
        "Discriminator gradient",
        "Guides particles from the initial noise prior toward regions close to the modes.",
        "Pushes particles near mode boundaries away with significant force and magnitude.",
    ),
    (
        "Generator gradient",
        "Measures how the generator maps nearby points in the latent space to distant points in the output space, quantitatively measure the severity of mode mixture.",
        "Drops in magnitude as particles near mode boundaries are pushed away and concentrate around fewer modes.",
    ),
];

const PENDING: &str = "not measured yet: needs the GMM training runs (issue #4)";

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for w in text.split_whitespace() {
        let last = lines.last_mut().expect("non-empty");
        if !last.is_empty() && last.len() + 1 + w.len() > width {
            lines.push(w.to_string());
        } else {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(w);
        }
    }
    lines
}

pub fn run(ctx: &Ctx, out: &mut ItemOutput) -> Result<()> {
    let s: Settings = ctx.settings("table1")?;
    let mut phase = Vec::new();
    let mut aspect = Vec::new();
    let mut paper = Vec::new();
    let mut measured = Vec::new();
    for (a, fit, col) in ROWS {
        for (ph, text) in [("fitting", fit), ("collapse", col)] {
            phase.push(ph);
            aspect.push(a);
            paper.push(text);
            measured.push(PENDING);
        }
    }
    out.csv(
        "table1.csv",
        "Table 1 as printed, one row per (phase, aspect), with the measured-evidence column",
        frame(vec![
            ("phase", phase.into()),
            ("aspect", aspect.into()),
            ("paper", paper.into()),
            ("measured_evidence", measured.into()),
        ])?,
    )?;
    let mut md = String::from("| | Fitting | Collapse |\n|---|---|---|\n");
    for (a, fit, col) in ROWS {
        md.push_str(&format!("| {a} | {fit} | {col} |\n"));
    }
    md.push_str(&format!("| Measured evidence | {PENDING} | {PENDING} |\n"));
    out.markdown(md);
    out.png("table1.png", "Table 1 as printed; the measured-evidence row awaits the GMM runs", (s.width, s.height), |area| {
        let col_x = [12, 190, 700];
        let mut y = 14;
        for (x, h) in col_x.iter().zip(["", "Fitting", "Collapse"]) {
            area.draw_text(h, &font(18), (*x, y)).map_err(err)?;
        }
        y += 34;
        let rows: Vec<(&str, &str, &str)> = ROWS.iter().copied().chain([("Measured evidence", PENDING, PENDING)]).collect();
        for (a, fit, col) in rows {
            let cells = [wrap(a, 20), wrap(fit, 62), wrap(col, 62)];
            let n = cells.iter().map(|c| c.len()).max().unwrap_or(1);
            for (x, c) in col_x.iter().zip(&cells) {
                for (k, line) in c.iter().enumerate() {
                    area.draw_text(line, &font(15), (*x, y + 20 * k as i32)).map_err(err)?;
                }
            }
            y += 20 * n as i32 + 18;
        }
        Ok(())
    })?;
    Ok(())
}
