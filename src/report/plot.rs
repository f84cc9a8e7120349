//! Charts drawn with plotters into PNG files: curves per epoch, points with fitted lines.
//!
//! Text uses the DejaVu Sans font compiled into the binary (plotters' `ab_glyph` feature), so
//! pictures look the same everywhere and need no system font library.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::write_atomic;
use crate::error::{Error, Result};

/// The drawing surface handed to a picture's drawing code.
pub type Canvas<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// A drawing error of plotters, as text (its error types borrow the backend).
pub type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// The palette of series, in order: ten colours distinct and readable on white (matplotlib's
/// "tab10"), enough for one per digit.
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

fn register_font() {
    static FONT: Once = Once::new();
    FONT.call_once(|| {
        // The font is a fixed, valid TTF file shipped by the `dejavu` crate: failure is impossible
        // short of a corrupted build, and pictures would then only lose their text.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

/// Draws a `width`×`height` picture and writes it as a PNG file to `path`, atomically.
pub fn render_png(
    path: &Path,
    (width, height): (u32, u32),
    draw: impl FnOnce(&Canvas) -> DrawResult,
) -> Result<()> {
    register_font();
    let mut rgb = vec![255u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        let drawn = draw(&root).and_then(|_| root.present().map_err(Into::into));
        if let Err(e) = drawn {
            return Err(Error::BadImage {
                path: path.to_path_buf(),
                reason: format!("cannot draw picture: {e}"),
            });
        }
    }
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&rgb, width, height, image::ExtendedColorType::Rgb8)
        .map_err(|e| Error::BadImage {
            path: path.to_path_buf(),
            reason: format!("cannot encode PNG: {e}"),
        })?;
    write_atomic(path, &png)
}

use image::ImageEncoder;

/// How an entry of a legend is drawn.
#[derive(Debug, Clone, Copy)]
pub enum LegendMark {
    Line(RGBColor),
    Dot(RGBColor),
    Ring,
    Cross,
}

/// The strip kept right of a chart for its legend, in pixels: a legend beside the data never
/// covers it.
pub const LEGEND_WIDTH: u32 = 230;

/// Splits a picture into the chart's area and, when there are `entries`, draws them in a strip on
/// its right; returns the chart's area.
pub fn beside_legend<'a>(
    root: &Canvas<'a>,
    entries: &[(String, LegendMark)],
) -> std::result::Result<Canvas<'a>, Box<dyn std::error::Error>> {
    if entries.is_empty() {
        return Ok(root.clone());
    }
    let (width, _) = root.dim_in_pixel();
    let (chart, strip) = root.split_horizontally(width.saturating_sub(LEGEND_WIDTH) as i32);
    let font = ("sans-serif", 14).into_font().color(&BLACK);
    let mut y = 60;
    for (label, mark) in entries {
        let at = (12, y + 8);
        match *mark {
            LegendMark::Line(color) => strip.draw(&PathElement::new(
                vec![(4, at.1), (24, at.1)],
                color.stroke_width(3),
            ))?,
            LegendMark::Dot(color) => strip.draw(&Circle::new((14, at.1), 5, color.filled()))?,
            LegendMark::Ring => strip.draw(&Circle::new((14, at.1), 6, BLACK.stroke_width(2)))?,
            LegendMark::Cross => strip.draw(&Cross::new((14, at.1), 5, BLACK.stroke_width(2)))?,
        }
        // long labels wrap at about 25 characters, by words
        let mut lines = vec![String::new()];
        for word in label.split_whitespace() {
            let line = lines.last_mut().expect("one line at least");
            if !line.is_empty() && line.chars().count() + word.chars().count() > 25 {
                lines.push(word.to_string());
            } else {
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(word);
            }
        }
        for line in &lines {
            strip.draw(&Text::new(line.clone(), (32, y), font.clone()))?;
            y += 18;
        }
        y += 6;
    }
    Ok(chart)
}

/// One named curve of a chart.
pub struct Curve {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// The range that `values` span, padded by 5% so no point sits on the frame.
pub fn padded_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    let pad = ((hi - lo) * 0.05).max(1e-9);
    (lo - pad)..(hi + pad)
}

/// Draws the train and test curves of `metric` (the loss when `None`) over the epochs of `log`.
pub fn learning_curves(
    path: &Path,
    title: &str,
    y_label: &str,
    log: &super::MetricsLog,
    metric: Option<&str>,
) -> Result<()> {
    use super::metrics::Split;
    let curves: Vec<Curve> = [Split::Train, Split::Validation, Split::Test]
        .into_iter()
        .map(|split| Curve {
            label: split.name().to_string(),
            points: log.series(split, metric),
        })
        .filter(|curve| !curve.points.is_empty())
        .collect();
    line_chart(path, title, "epoch", y_label, &curves)
}

/// Draws curves (e.g. train and test loss per epoch) into one chart.
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    curves: &[Curve],
) -> Result<()> {
    render_png(path, (800 + LEGEND_WIDTH, 500), |root| {
        let entries: Vec<(String, LegendMark)> = curves
            .iter()
            .enumerate()
            .map(|(i, c)| {
                (
                    c.label.clone(),
                    LegendMark::Line(PALETTE[i % PALETTE.len()]),
                )
            })
            .collect();
        let root = &beside_legend(root, &entries)?;
        let xs = padded_range(curves.iter().flat_map(|c| c.points.iter().map(|p| p.0)));
        let ys = padded_range(curves.iter().flat_map(|c| c.points.iter().map(|p| p.1)));
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 24))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(xs, ys)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .label_style(("sans-serif", 14))
            .draw()?;
        for (i, curve) in curves.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            chart.draw_series(LineSeries::new(
                curve.points.iter().copied(),
                color.stroke_width(2),
            ))?;
            chart.draw_series(
                curve
                    .points
                    .iter()
                    .map(|&p| Circle::new(p, 3, color.filled())),
            )?;
        }
        Ok(())
    })
}

/// A named group of points, drawn in its own colour (a class, a cluster).
pub struct PointGroup {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// A scatter chart: groups of points, optional curves (fitted lines), optional markers
/// (centroids), and an optional background map of a value in 0..=1 (a probability).
pub struct Scatter<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub groups: Vec<PointGroup>,
    pub curves: Vec<Curve>,
    pub markers: Vec<(f64, f64)>,
    /// Text written beside points (a word at its embedding's place).
    pub annotations: Vec<((f64, f64), String)>,
    pub background: Option<&'a dyn Fn(f64, f64) -> f64>,
}

impl<'a> Scatter<'a> {
    pub fn new(title: &'a str, x_label: &'a str, y_label: &'a str) -> Self {
        Self {
            title,
            x_label,
            y_label,
            groups: Vec::new(),
            curves: Vec::new(),
            markers: Vec::new(),
            annotations: Vec::new(),
            background: None,
        }
    }
}

/// The pieces of a curve that lie inside `ys`, so that a wild fit does not draw across the frame.
fn segments_inside(points: &[(f64, f64)], ys: &std::ops::Range<f64>) -> Vec<Vec<(f64, f64)>> {
    let mut segments = vec![Vec::new()];
    for &(x, y) in points {
        if ys.contains(&y) {
            if let Some(last) = segments.last_mut() {
                last.push((x, y));
            }
        } else if segments.last().is_some_and(|s| !s.is_empty()) {
            segments.push(Vec::new());
        }
    }
    segments.retain(|s| s.len() > 1);
    segments
}

/// Draws a [`Scatter`] chart into a PNG file.
pub fn scatter_chart(path: &Path, plot: &Scatter) -> Result<()> {
    render_png(path, (800 + LEGEND_WIDTH, 600), |root| {
        let mut entries: Vec<(String, LegendMark)> = plot
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g.label.clone(), LegendMark::Dot(PALETTE[i % PALETTE.len()])))
            .collect();
        entries.extend(plot.curves.iter().enumerate().map(|(i, c)| {
            let color = PALETTE[(i + plot.groups.len().max(1)) % PALETTE.len()];
            (c.label.clone(), LegendMark::Line(color))
        }));
        if !plot.markers.is_empty() {
            entries.push(("centroids".to_string(), LegendMark::Cross));
        }
        let root = &beside_legend(root, &entries)?;
        // the frame fits the points and markers (a wild fit is cut at it); a chart of curves
        // alone (paths) fits the curves
        let framed: Vec<(f64, f64)> = if plot.groups.is_empty() && plot.markers.is_empty() {
            plot.curves
                .iter()
                .flat_map(|c| c.points.iter().copied())
                .collect()
        } else {
            plot.groups
                .iter()
                .flat_map(|g| g.points.iter().copied())
                .chain(plot.markers.iter().copied())
                .collect()
        };
        let xs = padded_range(framed.iter().map(|p| p.0));
        let ys = padded_range(framed.iter().map(|p| p.1));
        let mut chart = ChartBuilder::on(root)
            .caption(plot.title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(xs.clone(), ys.clone())?;
        chart
            .configure_mesh()
            .x_desc(plot.x_label)
            .y_desc(plot.y_label)
            .label_style(("sans-serif", 14))
            .draw()?;
        if let Some(value) = plot.background {
            let cells = 120;
            let (dx, dy) = (
                (xs.end - xs.start) / cells as f64,
                (ys.end - ys.start) / cells as f64,
            );
            chart.draw_series((0..cells * cells).map(|k| {
                let (i, j) = (k % cells, k / cells);
                let (x, y) = (xs.start + i as f64 * dx, ys.start + j as f64 * dy);
                let v = value(x + dx / 2.0, y + dy / 2.0).clamp(0.0, 1.0);
                // pale blue (0) to pale red (1), darker where v crosses ½: the decision boundary
                let edge = if (v - 0.5).abs() < 0.02 { 0.55 } else { 1.0 };
                let shade = |lo: f64, hi: f64| ((lo + (hi - lo) * v) * edge) as u8;
                let color = RGBColor(
                    shade(190.0, 255.0),
                    shade(205.0, 190.0),
                    shade(255.0, 190.0),
                );
                Rectangle::new([(x, y), (x + dx, y + dy)], color.filled())
            }))?;
        }
        for (i, group) in plot.groups.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            chart.draw_series(
                group
                    .points
                    .iter()
                    .map(|&p| Circle::new(p, 3, color.filled())),
            )?;
        }
        for (i, curve) in plot.curves.iter().enumerate() {
            let color = PALETTE[(i + plot.groups.len().max(1)) % PALETTE.len()];
            for segment in segments_inside(&curve.points, &ys) {
                // each curve thinner than the one before, so that curves that coincide stay visible
                let width = 4u32.saturating_sub(i as u32).max(1);
                chart.draw_series(LineSeries::new(segment, color.stroke_width(width)))?;
            }
        }
        if !plot.markers.is_empty() {
            chart.draw_series(
                plot.markers
                    .iter()
                    .map(|&p| Cross::new(p, 9, BLACK.stroke_width(3))),
            )?;
        }
        chart.draw_series(
            plot.annotations
                .iter()
                .map(|(p, text)| Text::new(text.clone(), *p, ("sans-serif", 12).into_font())),
        )?;
        Ok(())
    })
}
