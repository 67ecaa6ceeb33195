//! The report's charts, drawn by plotters into SVG text. Every chart draws its axes, grid and
//! labels in black, grey or white, and its data (lines, bars, points, intervals, event marks)
//! in the colours of [`SERIES`] and [`super::lanes::LANES`], so that a data mark can be told
//! from the frame by its colour alone (docs/report.md, and the tests that parse the SVG).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::ReportError;

/// The data colours, in the order series take them (Tableau's palette and its light and dark
/// shades; none is grey, and none is one of the event lanes' colours).
pub const SERIES: [RGBColor; 14] = [
    RGBColor(0x1F, 0x77, 0xB4),
    RGBColor(0xFF, 0x7F, 0x0E),
    RGBColor(0x2C, 0xA0, 0x2C),
    RGBColor(0xE3, 0x77, 0xC2),
    RGBColor(0x39, 0x3B, 0x79),
    RGBColor(0xAE, 0xC7, 0xE8),
    RGBColor(0xFF, 0xBB, 0x78),
    RGBColor(0x98, 0xDF, 0x8A),
    RGBColor(0xC5, 0xB0, 0xD5),
    RGBColor(0x63, 0x79, 0x39),
    RGBColor(0x8C, 0x6D, 0x31),
    RGBColor(0x84, 0x3C, 0x39),
    RGBColor(0x7B, 0x41, 0x73),
    RGBColor(0x9E, 0xDA, 0xE5),
];

/// The `i`-th data colour (repeating after [`SERIES`]'s end).
pub fn color(i: usize) -> RGBColor {
    SERIES[i % SERIES.len()]
}

/// `#RRGGBB`, as plotters writes colours into SVG.
pub fn hex(c: RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

/// The drawing area charts draw on.
pub type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type DResult = Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// Chart width in pixels.
pub const WIDTH: u32 = 860;
const FONT: &str = "sans-serif";

/// Draw `w` x `h` pixels with `f` and return the SVG text.
///
/// # Errors
/// What plotters reports.
pub fn svg(w: u32, h: u32, f: impl FnOnce(&Area<'_>) -> DResult) -> Result<String, ReportError> {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (w, h)).into_drawing_area();
        let r = root.fill(&WHITE).and_then(|()| f(&root));
        r.and_then(|()| root.present())
            .map_err(|e| ReportError::Plot(e.to_string()))?;
    }
    Ok(buf)
}

/// One line (or set of points) of an x-y chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Its name (the legend beside the chart says which colour is which).
    pub name: String,
    /// Its colour.
    pub color: RGBColor,
    /// The points, in x order.
    pub points: Vec<(f64, f64)>,
    /// A 95 % interval per point (same length as `points`), drawn as whiskers; empty: none.
    pub intervals: Vec<Option<(f64, f64)>>,
    /// Draw a marker at every point (besides the line).
    pub markers: bool,
}

impl Series {
    /// A plain line.
    pub fn line(name: impl Into<String>, color: RGBColor, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.into(),
            color,
            points,
            intervals: Vec::new(),
            markers: false,
        }
    }
}

/// Range of `values` padded for drawing; `zero` includes 0.
fn range(values: impl Iterator<Item = f64>, zero: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if zero {
        lo = lo.min(0.0);
        hi = hi.max(0.0);
    }
    if hi - lo < 1e-12 {
        let pad = if hi.abs() > 0.0 { hi.abs() * 0.1 } else { 1.0 };
        return (lo - pad, hi + pad);
    }
    let pad = (hi - lo) * 0.05;
    (if zero && lo >= 0.0 { lo } else { lo - pad }, hi + pad)
}

fn style(c: RGBColor, width: u32) -> ShapeStyle {
    ShapeStyle {
        color: c.to_rgba(),
        filled: false,
        stroke_width: width,
    }
}

/// Numbers on axes: short, without trailing zeros.
pub fn tick(v: f64) -> String {
    // A tick computed as a multiple of a step can be -5e-17 for 0.
    if v.abs() < 1e-12 {
        return "0".into();
    }
    let a = v.abs();
    let s = if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    if s.contains('.') && !s.ends_with(['k', 'M']) {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// An x-y chart: lines with optional markers and interval whiskers.
#[derive(Debug, Clone)]
pub struct Xy {
    /// Caption above the plot.
    pub title: String,
    /// X axis description.
    pub x_label: String,
    /// Y axis description.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
    /// Category names of the x values 0, 1, ... (an axis of values that are not numbers).
    pub x_names: Option<Vec<String>>,
    /// Height in pixels.
    pub height: u32,
}

/// Draw an [`Xy`] chart.
///
/// # Errors
/// What plotters reports.
pub fn xy(spec: &Xy) -> Result<String, ReportError> {
    svg(WIDTH, spec.height, |root| {
        let xs = spec
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0));
        let (x0, x1) = range(xs, false);
        let ys = spec.series.iter().flat_map(|s| {
            s.points
                .iter()
                .map(|p| p.1)
                .chain(s.intervals.iter().flatten().flat_map(|&(a, b)| [a, b]))
        });
        let (y0, y1) = range(ys, true);
        let mut chart = ChartBuilder::on(root)
            .caption(&spec.title, (FONT, 15))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        let names = spec.x_names.clone();
        let xfmt = move |v: &f64| match &names {
            Some(n) if (v - v.round()).abs() < 1e-9 && *v >= 0.0 => {
                n.get(v.round() as usize).cloned().unwrap_or_default()
            }
            Some(_) => String::new(),
            None => tick(*v),
        };
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(&spec.x_label)
            .y_desc(&spec.y_label)
            .x_label_formatter(&xfmt)
            .y_label_formatter(&|v| tick(*v));
        if let Some(n) = &spec.x_names {
            mesh.x_labels(n.len() * 2 + 1);
        }
        mesh.draw()?;
        for s in &spec.series {
            if s.points.len() > 1 {
                chart.draw_series(LineSeries::new(s.points.iter().copied(), style(s.color, 2)))?;
            }
            if s.markers || s.points.len() == 1 {
                chart.draw_series(
                    s.points
                        .iter()
                        .map(|&p| Circle::new(p, 3, s.color.filled())),
                )?;
            }
            let whisker = (x1 - x0) * 0.006;
            for (p, ci) in s.points.iter().zip(&s.intervals) {
                if let Some((lo, hi)) = *ci {
                    let st = style(s.color, 1);
                    chart.draw_series([
                        PathElement::new(vec![(p.0, lo), (p.0, hi)], st),
                        PathElement::new(vec![(p.0 - whisker, lo), (p.0 + whisker, lo)], st),
                        PathElement::new(vec![(p.0 - whisker, hi), (p.0 + whisker, hi)], st),
                    ])?;
                }
            }
        }
        Ok(())
    })
}

/// A cumulative distribution per series on a logarithmic x axis (y from 0 to 1).
///
/// # Errors
/// What plotters reports.
pub fn cdf(title: &str, x_label: &str, series: &[Series]) -> Result<String, ReportError> {
    svg(WIDTH, 380, |root| {
        let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
        let (mut x0, mut x1) = (f64::INFINITY, 0.0f64);
        for x in xs.filter(|x| *x > 0.0) {
            x0 = x0.min(x);
            x1 = x1.max(x);
        }
        if !x0.is_finite() {
            (x0, x1) = (0.001, 1.0);
        }
        if x1 <= x0 * 1.01 {
            x1 = x0 * 1.1;
        }
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 15))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d((x0 / 1.05..x1 * 1.05).log_scale(), 0.0..1.0)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc("share of answered requests <= x")
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| format!("{v:.1}"))
            .draw()?;
        for s in series {
            let pts: Vec<(f64, f64)> = s.points.iter().copied().filter(|p| p.0 > 0.0).collect();
            if pts.len() > 1 {
                chart.draw_series(LineSeries::new(pts, style(s.color, 2)))?;
            } else {
                chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, s.color.filled())))?;
            }
        }
        Ok(())
    })
}

/// One group of bars: a value per category.
#[derive(Debug, Clone)]
pub struct Bars {
    /// Its name.
    pub name: String,
    /// Its colour.
    pub color: RGBColor,
    /// One value per category (`None`: no bar).
    pub values: Vec<Option<f64>>,
    /// A 95 % interval per category, drawn as a whisker; empty: none.
    pub intervals: Vec<Option<(f64, f64)>>,
}

/// Horizontal bars, grouped per category (categories top to bottom).
///
/// # Errors
/// What plotters reports.
pub fn hbars(
    title: &str,
    x_label: &str,
    categories: &[String],
    groups: &[Bars],
) -> Result<String, ReportError> {
    let n = categories.len().max(1);
    let g = groups.len().max(1);
    let row = (10 * g as u32 + 8).max(22);
    let height = 80 + row * n as u32;
    let label_w = categories
        .iter()
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(4) as u32
        * 7
        + 16;
    svg(WIDTH, height, |root| {
        let values = groups.iter().flat_map(|b| {
            b.values
                .iter()
                .flatten()
                .copied()
                .chain(b.intervals.iter().flatten().flat_map(|&(a, b)| [a, b]))
        });
        let (x0, x1) = range(values, true);
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 15))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(label_w.min(WIDTH / 2))
            .build_cartesian_2d(x0..x1, 0.0..n as f64)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_label_formatter(&|_| String::new())
            .x_desc(x_label)
            .x_label_formatter(&|v| tick(*v))
            .draw()?;
        let h = 0.8 / g as f64;
        for (gi, b) in groups.iter().enumerate() {
            for (ci, v) in b.values.iter().enumerate() {
                // Category 0 at the top.
                let top = n as f64 - ci as f64 - 0.1 - gi as f64 * h;
                if let Some(v) = *v {
                    chart.draw_series([Rectangle::new(
                        [(0.0f64.max(x0), top - h * 0.9), (v, top)],
                        b.color.filled(),
                    )])?;
                }
                if let Some(Some((lo, hi))) = b.intervals.get(ci) {
                    let y = top - h * 0.45;
                    chart.draw_series([PathElement::new(
                        vec![(*lo, y), (*hi, y)],
                        style(BLACK, 1),
                    )])?;
                }
            }
        }
        let label =
            TextStyle::from((FONT, 12).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
        for (ci, c) in categories.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(x0, n as f64 - ci as f64 - 0.5));
            root.draw(&Text::new(c.clone(), (px - 6, py), label.clone()))?;
        }
        Ok(())
    })
}

/// Rows of event marks under a time chart: one row per lane, a mark per event.
#[derive(Debug, Clone)]
pub struct Lane {
    /// The lane's name (drawn at its left).
    pub name: String,
    /// Its colour.
    pub color: RGBColor,
    /// When its events happened.
    pub times: Vec<f64>,
}

/// One layer of stacked counts: name, colour, (bucket start, count).
pub type Layer = (String, RGBColor, Vec<(f64, u64)>);

/// One panel of a time chart.
#[derive(Debug, Clone)]
pub enum Panel {
    /// Lines over time.
    Lines {
        /// Y axis description.
        y_label: String,
        /// The lines.
        series: Vec<Series>,
    },
    /// Stacked bars of counts per time bucket, on an axis of whole numbers.
    Counts {
        /// Y axis description.
        y_label: String,
        /// Bucket width.
        width: f64,
        /// Layers, bottom first: name, colour, (bucket start, count).
        layers: Vec<Layer>,
    },
}

/// A time chart: panels over one time axis, then the event lanes; every panel also shows the
/// events as faint vertical lines in their lane's colour.
///
/// # Errors
/// What plotters reports.
pub fn timeline(
    title: &str,
    t_end: f64,
    panels: &[Panel],
    lanes: &[Lane],
) -> Result<String, ReportError> {
    let panel_h = 210u32;
    let lanes_h = 40 + 18 * lanes.len() as u32;
    let height = 30 + panel_h * panels.len() as u32 + lanes_h;
    let x1 = if t_end > 0.0 { t_end } else { 1.0 };
    svg(WIDTH, height, |root| {
        let root = root.titled(title, (FONT, 15))?;
        let mut rest = root.clone();
        let guide =
            |chart: &mut ChartContext<'_, SVGBackend<'_>, _>, y0: f64, y1: f64| -> DResult {
                for l in lanes {
                    let st = ShapeStyle {
                        color: l.color.mix(0.35),
                        filled: false,
                        stroke_width: 1,
                    };
                    chart.draw_series(
                        l.times
                            .iter()
                            .map(|&t| PathElement::new(vec![(t, y0), (t, y1)], st)),
                    )?;
                }
                Ok(())
            };
        for p in panels {
            let (area, below) = rest.split_vertically(panel_h);
            rest = below;
            match p {
                Panel::Lines { y_label, series } => {
                    let ys = series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
                    let (y0, y1) = range(ys, true);
                    let mut chart = ChartBuilder::on(&area)
                        .margin(8)
                        .x_label_area_size(22)
                        .y_label_area_size(70)
                        .build_cartesian_2d(0.0..x1, y0..y1)?;
                    chart
                        .configure_mesh()
                        .y_desc(y_label)
                        .x_label_formatter(&|v| tick(*v))
                        .y_label_formatter(&|v| tick(*v))
                        .draw()?;
                    guide(&mut chart, y0, y1)?;
                    for s in series {
                        chart.draw_series(LineSeries::new(
                            s.points.iter().copied(),
                            style(s.color, 1),
                        ))?;
                    }
                }
                Panel::Counts {
                    y_label,
                    width,
                    layers,
                } => {
                    // Stack the layers per bucket.
                    let mut top: std::collections::BTreeMap<u64, u64> = Default::default();
                    let key = |t: f64| (t * 1e6).round() as u64;
                    let mut rects = Vec::new();
                    for (_, c, pts) in layers {
                        for &(t, n) in pts.iter().filter(|p| p.1 > 0) {
                            let base = top.entry(key(t)).or_insert(0);
                            rects.push((t, *base, *base + n, *c));
                            *base += n;
                        }
                    }
                    let max = top.values().copied().max().unwrap_or(0).max(1);
                    // Whole numbers only: an integer axis; a little room above the highest.
                    let ymax = (max + max.div_ceil(10)) as i64;
                    let mut chart = ChartBuilder::on(&area)
                        .margin(8)
                        .x_label_area_size(22)
                        .y_label_area_size(70)
                        .build_cartesian_2d(0.0..x1, 0i64..ymax)?;
                    chart
                        .configure_mesh()
                        .y_desc(y_label)
                        .y_labels(6.min(ymax as usize + 1))
                        .x_label_formatter(&|v| tick(*v))
                        .y_label_formatter(&|v| format!("{v}"))
                        .draw()?;
                    for l in lanes {
                        let st = ShapeStyle {
                            color: l.color.mix(0.35),
                            filled: false,
                            stroke_width: 1,
                        };
                        chart.draw_series(
                            l.times
                                .iter()
                                .map(|&t| PathElement::new(vec![(t, 0), (t, ymax)], st)),
                        )?;
                    }
                    chart.draw_series(rects.into_iter().map(|(t, lo, hi, c)| {
                        Rectangle::new([(t, lo as i64), (t + width, hi as i64)], c.filled())
                    }))?;
                }
            }
        }
        // The lanes: an integer axis, one row per lane, its name at the left.
        let n = lanes.len() as i64;
        let mut chart = ChartBuilder::on(&rest)
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..x1, -1i64..n)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(2)
            .y_label_formatter(&|_| String::new())
            .x_desc("simulated time (s)")
            .x_label_formatter(&|v| tick(*v))
            .draw()?;
        let label =
            TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
        for (i, l) in lanes.iter().enumerate() {
            let y = n - 1 - i as i64;
            let (px, py) = chart.backend_coord(&(0.0, y));
            root.draw(&Text::new(l.name.clone(), (px - 4, py), label.clone()))?;
            chart.draw_series(
                l.times
                    .iter()
                    .map(|&t| TriangleMarker::new((t, y), 5, l.color.filled())),
            )?;
        }
        Ok(())
    })
}

/// One row of a tolerance chart: a value and the band it must lie in.
#[derive(Debug, Clone)]
pub struct Judged {
    /// The row's name.
    pub name: String,
    /// The value (`None`: not drawn).
    pub value: Option<f64>,
    /// The band `[-tolerance, +tolerance]` (`None`: no band).
    pub tolerance: Option<f64>,
    /// The marker's colour (by verdict).
    pub color: RGBColor,
}

/// Band colour of a tolerance chart.
pub const BAND: RGBColor = SERIES[5];

/// A row per judged value: its band around 0 and a marker at the value.
///
/// # Errors
/// What plotters reports.
pub fn tolerance(title: &str, x_label: &str, rows: &[Judged]) -> Result<String, ReportError> {
    let n = rows.len().max(1);
    let height = 80 + 24 * n as u32;
    let label_w = rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(4) as u32
        * 7
        + 16;
    svg(WIDTH, height, |root| {
        let vals = rows
            .iter()
            .flat_map(|r| [r.value, r.tolerance, r.tolerance.map(|t| -t)])
            .flatten();
        let (x0, x1) = range(vals, true);
        // A few far-off values would squeeze the bands to nothing: the axis reaches twice the
        // widest band (at least ±1), values beyond sit at its edge.
        let widest = rows
            .iter()
            .filter_map(|r| r.tolerance)
            .fold(0.0f64, f64::max);
        let m = x0.abs().max(x1.abs()).min((2.0 * widest).max(1.0));
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 15))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(label_w.min(WIDTH / 2))
            .build_cartesian_2d(-m..m, 0.0..n as f64)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_label_formatter(&|_| String::new())
            .x_desc(x_label)
            .x_label_formatter(&|v| tick(*v))
            .draw()?;
        let label =
            TextStyle::from((FONT, 12).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
        for (i, r) in rows.iter().enumerate() {
            let y = n as f64 - i as f64 - 0.5;
            if let Some(t) = r.tolerance {
                chart
                    .draw_series([Rectangle::new([(-t, y - 0.3), (t, y + 0.3)], BAND.filled())])?;
            }
            if let Some(v) = r.value {
                chart.draw_series([Circle::new((v.clamp(-m, m), y), 5, r.color.filled())])?;
            }
            let (px, py) = chart.backend_coord(&(-m, y));
            root.draw(&Text::new(r.name.clone(), (px - 6, py), label.clone()))?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_short() {
        assert_eq!(tick(0.0), "0");
        assert_eq!(tick(2.5), "2.5");
        assert_eq!(tick(1500.0), "1500");
        assert_eq!(tick(25000.0), "25k");
        assert_eq!(tick(0.125), "0.125");
        assert_eq!(tick(3.0), "3");
    }

    #[test]
    fn series_colours_are_neither_grey_nor_lane_colours() {
        for c in SERIES {
            assert!(!(c.0 == c.1 && c.1 == c.2), "{} is grey", hex(c));
            assert!(super::super::lanes::LANES.iter().all(|l| l.color != c));
        }
    }
}
