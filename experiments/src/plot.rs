//! Plotting on plotters' bitmap backend with an embedded DejaVu Sans font (ab_glyph), so figures
//! render identically on any machine without system font libraries. Three kinds of panel cover
//! the catalogue: line/point charts, vector fields over a colour map, and annotated heatmaps.

use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::sync::Once;

pub type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

/// Registers the embedded font under the family name "sans-serif" (once per process).
pub fn ensure_fonts() {
    REGISTER.call_once(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .unwrap_or_else(|_| panic!("embedded DejaVuSans.ttf is not a valid font"));
    });
}

pub fn font(size: u32) -> TextStyle<'static> {
    ("sans-serif", size).into_font().into()
}

/// Converts a plotters error into anyhow.
pub fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing failed: {e:?}")
}

/// A qualitative palette (Tableau 10), so series keep their colours across figures.
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Line,
    /// A 1-pixel line: thick lines through noisy zig-zags get long miter spikes in plotters.
    Thin,
    Dashed,
    Points,
}

#[derive(Clone, Debug)]
pub struct Series {
    pub label: String,
    pub xy: Vec<(f64, f64)>,
    pub color: RGBColor,
    pub kind: Kind,
}

impl Series {
    pub fn line(label: impl Into<String>, xy: Vec<(f64, f64)>, color: RGBColor) -> Self {
        Self { label: label.into(), xy, color, kind: Kind::Line }
    }
    pub fn thin(label: impl Into<String>, xy: Vec<(f64, f64)>, color: RGBColor) -> Self {
        Self { label: label.into(), xy, color, kind: Kind::Thin }
    }
    pub fn dashed(label: impl Into<String>, xy: Vec<(f64, f64)>, color: RGBColor) -> Self {
        Self { label: label.into(), xy, color, kind: Kind::Dashed }
    }
    pub fn points(label: impl Into<String>, xy: Vec<(f64, f64)>, color: RGBColor) -> Self {
        Self { label: label.into(), xy, color, kind: Kind::Points }
    }
}

/// A line/point chart with optional log-10 y axis, shaded polygons and vertical markers.
#[derive(Clone, Debug, Default)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    pub log_y: bool,
    /// Log-10 x axis (fig7/fig21's histograms of ||grad d/d||): series, fills and vertical
    /// lines are given in data units and drawn at log10(x); x <= 0 is dropped.
    pub log_x: bool,
    pub x_range: Option<(f64, f64)>,
    pub y_range: Option<(f64, f64)>,
    /// Filled polygons (e.g. the mode-mixture mass of Figure 3), drawn under the series.
    pub fills: Vec<(Vec<(f64, f64)>, RGBColor)>,
    /// Vertical lines at x with a label.
    pub vlines: Vec<(f64, String)>,
}

fn finite_range(vals: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in vals.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return None;
    }
    if hi - lo < 1e-12 * (1.0 + hi.abs()) {
        return Some((lo - 0.5, hi + 0.5));
    }
    let pad = 0.04 * (hi - lo);
    Some((lo - pad, hi + pad))
}

impl Chart {
    pub fn new(title: impl Into<String>, x_label: impl Into<String>, y_label: impl Into<String>) -> Self {
        Self { title: title.into(), x_label: x_label.into(), y_label: y_label.into(), ..Default::default() }
    }

    pub fn draw(&self, area: &Area) -> Result<()> {
        let ty = |y: f64| if self.log_y { y.log10() } else { y };
        let tx = |x: f64| if self.log_x { x.log10() } else { x };
        let series: Vec<(Vec<(f64, f64)>, &Series)> = self
            .series
            .iter()
            .map(|s| {
                let pts = s
                    .xy
                    .iter()
                    .map(|&(x, y)| (tx(x), ty(y)))
                    .filter(|(x, y)| x.is_finite() && y.is_finite())
                    .collect();
                (pts, s)
            })
            .collect();
        let xr = self
            .x_range
            .map(|(a, b)| (tx(a), tx(b)))
            .or_else(|| finite_range(series.iter().flat_map(|(p, _)| p.iter().map(|q| q.0))))
            .unwrap_or((0.0, 1.0));
        let yr = self
            .y_range
            .map(|(a, b)| (ty(a), ty(b)))
            .or_else(|| finite_range(series.iter().flat_map(|(p, _)| p.iter().map(|q| q.1))))
            .unwrap_or((0.0, 1.0));
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, font(17))
            .margin(8)
            .x_label_area_size(36)
            .y_label_area_size(62)
            .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)
            .map_err(err)?;
        let log_y = self.log_y;
        let y_fmt = move |v: &f64| {
            if log_y {
                format!("1e{:.1}", v)
            } else {
                format_tick(*v)
            }
        };
        let log_x = self.log_x;
        let x_fmt = move |v: &f64| if log_x { format_tick(10f64.powf(*v)) } else { format_tick(*v) };
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .label_style(font(12))
            .axis_desc_style(font(14))
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        for (poly, c) in &self.fills {
            let pts: Vec<(f64, f64)> = poly.iter().map(|&(x, y)| (tx(x), ty(y))).filter(|p| p.0.is_finite() && p.1.is_finite()).collect();
            chart
                .draw_series(std::iter::once(Polygon::new(pts, c.mix(0.35).filled())))
                .map_err(err)?;
        }
        for (i, (x, label)) in self.vlines.iter().enumerate() {
            let x = &tx(*x);
            // Labels stepped down one line each so that close vertical lines stay readable.
            let label_y = yr.1 - (i as f64) * 0.05 * (yr.1 - yr.0);
            chart
                .draw_series(std::iter::once(PathElement::new(vec![(*x, yr.0), (*x, yr.1)], BLACK.stroke_width(2))))
                .map_err(err)?;
            chart
                .draw_series(std::iter::once(Text::new(label.clone(), (*x + 0.01 * (xr.1 - xr.0), label_y), font(12))))
                .map_err(err)?;
        }
        let mut any_label = false;
        for (pts, s) in &series {
            let c = s.color;
            let drawn = match s.kind {
                Kind::Line => chart.draw_series(LineSeries::new(pts.clone(), c.stroke_width(2))).map_err(err)?,
                Kind::Thin => chart.draw_series(LineSeries::new(pts.clone(), c.stroke_width(1))).map_err(err)?,
                Kind::Dashed => chart
                    .draw_series(DashedLineSeries::new(pts.clone(), 6, 4, c.stroke_width(2)))
                    .map_err(err)?,
                Kind::Points => chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 2, c.filled())))
                    .map_err(err)?,
            };
            if !s.label.is_empty() {
                any_label = true;
                drawn
                    .label(s.label.clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3)));
            }
        }
        if any_label {
            chart
                .configure_series_labels()
                .label_font(font(12))
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(180, 180, 180))
                .position(SeriesLabelPosition::UpperLeft)
                .draw()
                .map_err(err)?;
        }
        Ok(())
    }
}

/// Compact tick labels: no trailing zeros, scientific beyond 1e4.
pub fn format_tick(v: f64) -> String {
    // Tick positions are sums of floats: a tick meant to be 0 arrives as e.g. -1.1e-16.
    if v.abs() < 1e-12 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e4).contains(&a) {
        return format!("{v:.1e}");
    }
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// Maps t in [0, 1] to the viridis colour map.
pub fn viridis(t: f64) -> RGBColor {
    use plotters::style::colors::colormaps::ViridisRGB;
    ViridisRGB::get_color(t.clamp(0.0, 1.0))
}

/// A scalar field drawn under a [`Quiver`]: cells `(x, y, value)` on a regular grid with spacing
/// `cell`, coloured over `range`, with a colour bar titled `label`.
pub struct Background<'a> {
    pub cells: &'a [(f64, f64, f64)],
    pub cell: f64,
    pub range: (f64, f64),
    pub label: String,
}

/// A vector field panel: arrows `(x, y, u, v)` drawn at `scale` over an optional background.
pub struct Quiver<'a> {
    pub title: String,
    pub arrows: &'a [(f64, f64, f64, f64)],
    pub scale: f64,
    pub background: Option<Background<'a>>,
    pub x_range: (f64, f64),
    pub y_range: (f64, f64),
    pub markers: Vec<(f64, f64)>,
    /// Longest arrow drawn, in data units; longer arrows are drawn at this length in orange so
    /// that a few huge vectors do not hide the rest (the CSV keeps the true values).
    pub clip: Option<f64>,
}

impl Quiver<'_> {
    pub fn draw(&self, area: &Area) -> Result<()> {
        let (plot_area, bar_area) = if self.background.is_some() {
            let w = area.dim_in_pixel().0;
            area.split_horizontally(w.saturating_sub(80))
        } else {
            (area.clone(), area.clone().shrink((0, 0), (0, 0)))
        };
        let mut chart = ChartBuilder::on(&plot_area)
            .caption(&self.title, font(16))
            .margin(6)
            .x_label_area_size(30)
            .y_label_area_size(44)
            .build_cartesian_2d(self.x_range.0..self.x_range.1, self.y_range.0..self.y_range.1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .label_style(font(11))
            .x_label_formatter(&|v| format_tick(*v))
            .y_label_formatter(&|v| format_tick(*v))
            .draw()
            .map_err(err)?;
        if let Some(Background { cells, cell, range: (lo, hi), .. }) = &self.background {
            let h = cell / 2.0;
            chart
                .draw_series(cells.iter().map(|&(x, y, v)| {
                    let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
                    Rectangle::new([(x - h, y - h), (x + h, y + h)], viridis(t).filled())
                }))
                .map_err(err)?;
        }
        let arrow_color = if self.background.is_some() { WHITE } else { RGBColor(20, 20, 20) };
        for &(x, y, u, v) in self.arrows {
            let (mut dx, mut dy) = (u * self.scale, v * self.scale);
            if !(dx.is_finite() && dy.is_finite()) {
                continue;
            }
            let mut colour = arrow_color;
            if let Some(c) = self.clip {
                let l = dx.hypot(dy);
                if l > c {
                    dx *= c / l;
                    dy *= c / l;
                    colour = RGBColor(255, 140, 0);
                }
            }
            let (ex, ey) = (x + dx, y + dy);
            let len = (dx * dx + dy * dy).sqrt();
            let mut paths = vec![vec![(x, y), (ex, ey)]];
            if len > 0.0 {
                // Arrow head: two strokes at +-25 degrees, a quarter of the shaft long.
                let (bx, by) = (-dx / len, -dy / len);
                let hl = 0.25 * len;
                for ang in [0.436f64, -0.436] {
                    let (c, s) = (ang.cos(), ang.sin());
                    let hx = ex + hl * (bx * c - by * s);
                    let hy = ey + hl * (bx * s + by * c);
                    paths.push(vec![(ex, ey), (hx, hy)]);
                }
            }
            chart
                .draw_series(paths.into_iter().map(|p| PathElement::new(p, colour.stroke_width(1))))
                .map_err(err)?;
        }
        chart
            .draw_series(
                self.markers
                    .iter()
                    .filter(|p| (self.x_range.0..=self.x_range.1).contains(&p.0) && (self.y_range.0..=self.y_range.1).contains(&p.1))
                    .map(|&p| Cross::new(p, 5, RED.stroke_width(2))),
            )
            .map_err(err)?;
        if let Some(Background { range: (lo, hi), label, .. }) = &self.background {
            colour_bar(&bar_area, *lo, *hi, label)?;
        }
        Ok(())
    }
}

/// A vertical viridis colour bar from `lo` to `hi`.
pub fn colour_bar(area: &Area, lo: f64, hi: f64, label: &str) -> Result<()> {
    let mut chart = ChartBuilder::on(area)
        .margin_top(30)
        .margin_bottom(36)
        .margin_right(4)
        .y_label_area_size(46)
        .caption(label, font(12))
        .build_cartesian_2d(0.0..1.0, lo..hi.max(lo + 1e-12))
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .label_style(font(11))
        .y_label_formatter(&|v| format_tick(*v))
        .draw()
        .map_err(err)?;
    let n = 100;
    let step = (hi - lo) / n as f64;
    chart
        .draw_series((0..n).map(|i| {
            let a = lo + i as f64 * step;
            Rectangle::new([(0.0, a), (1.0, a + step)], viridis(i as f64 / (n - 1) as f64).filled())
        }))
        .map_err(err)?;
    Ok(())
}

/// An annotated heatmap of `m[row][col]` with row/column labels.
pub fn heatmap(area: &Area, title: &str, m: &[Vec<f64>], labels: &[String], annotate: bool) -> Result<()> {
    let n_r = m.len();
    let n_c = m.first().map_or(0, |r| r.len());
    let (lo, hi) = m
        .iter()
        .flatten()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let w = area.dim_in_pixel().0;
    let (plot_area, bar_area) = area.split_horizontally(w.saturating_sub(80));
    let mut chart = ChartBuilder::on(&plot_area)
        .caption(title, font(16))
        .margin(6)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(0.0..n_c as f64, n_r as f64..0.0)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(0)
        .y_labels(0)
        .draw()
        .map_err(err)?;
    // One label per cell, at its centre (plotters' automatic ticks land on cell edges).
    let (bx, by) = plot_area.get_base_pixel();
    for (k, l) in labels.iter().enumerate() {
        let c = k as f64 + 0.5;
        if k < n_c {
            let (px, py) = chart.backend_coord(&(c, n_r as f64));
            plot_area.draw_text(l, &font(11), (px - bx - 3 * l.len() as i32, py - by + 6)).map_err(err)?;
        }
        if k < n_r {
            let (px, py) = chart.backend_coord(&(0.0, c));
            plot_area.draw_text(l, &font(11), (px - bx - 8 - 7 * l.len() as i32, py - by - 6)).map_err(err)?;
        }
    }
    for (i, row) in m.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
            let (x0, y0) = (j as f64, i as f64);
            chart
                .draw_series(std::iter::once(Rectangle::new([(x0, y0), (x0 + 1.0, y0 + 1.0)], viridis(t).filled())))
                .map_err(err)?;
            if annotate {
                let c = if t > 0.6 { BLACK } else { WHITE };
                chart
                    .draw_series(std::iter::once(Text::new(
                        format_tick(v),
                        (x0 + 0.12, y0 + 0.35),
                        font(10).color(&c),
                    )))
                    .map_err(err)?;
            }
        }
    }
    colour_bar(&bar_area, lo, hi, "")?;
    Ok(())
}

/// A grid of images (`n` images of `channels x size x size` u8 pixels, channel-major as the
/// networks produce them) drawn into `area` under `title`, `cols` per row, scaled by nearest
/// neighbour to fit; framed in red when `frame_red` (Figure 5's best earlier checkpoint).
pub fn image_grid(area: &Area, title: &str, pixels: &[u8], channels: usize, size: usize, cols: usize, frame_red: bool) -> Result<()> {
    let per = channels * size * size;
    let n = if per == 0 { 0 } else { pixels.len() / per };
    let cols = cols.max(1).min(n.max(1));
    let rows = n.div_ceil(cols);
    let (w, h) = area.dim_in_pixel();
    let top = 22u32;
    area.draw_text(title, &font(13), (4, 3)).map_err(err)?;
    if n == 0 {
        return Ok(());
    }
    let cell = ((w.saturating_sub(8)) / cols as u32).min(h.saturating_sub(top + 4) / rows as u32).max(1);
    let scale = cell as f64 / (size as f64 + 1.0);
    let x0 = (w.saturating_sub(cell * cols as u32)) / 2;
    for i in 0..n {
        let img = &pixels[i * per..(i + 1) * per];
        let (gx, gy) = (x0 + (i % cols) as u32 * cell, top + (i / cols) as u32 * cell);
        let side = (size as f64 * scale).floor() as u32;
        for py in 0..side {
            for px in 0..side {
                let (sx, sy) = (((px as f64) / scale) as usize, ((py as f64) / scale) as usize);
                let (sx, sy) = (sx.min(size - 1), sy.min(size - 1));
                let at = |c: usize| img[c * size * size + sy * size + sx];
                let col = if channels >= 3 { RGBColor(at(0), at(1), at(2)) } else { RGBColor(at(0), at(0), at(0)) };
                area.draw_pixel(((gx + px) as i32, (gy + py) as i32), &col).map_err(err)?;
            }
        }
    }
    if frame_red {
        area.draw(&Rectangle::new([(1, 1), (w as i32 - 2, h as i32 - 2)], RED.stroke_width(4))).map_err(err)?;
    }
    Ok(())
}
