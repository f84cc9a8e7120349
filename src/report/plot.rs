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

/// The palette of series, in order: distinct and readable on white.
pub const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
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

/// Draws curves (e.g. train and test loss per epoch) into one chart.
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    curves: &[Curve],
) -> Result<()> {
    render_png(path, (800, 500), |root| {
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
            chart
                .draw_series(LineSeries::new(
                    curve.points.iter().copied(),
                    color.stroke_width(2),
                ))?
                .label(curve.label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart.draw_series(
                curve
                    .points
                    .iter()
                    .map(|&p| Circle::new(p, 3, color.filled())),
            )?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()?;
        Ok(())
    })
}
