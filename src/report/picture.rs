//! Pictures made of images: grids of digits with captions, and confusion matrices.

use std::path::Path;

use image::ImageEncoder;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::plot::render_png;
use crate::error::Result;

/// A grey image borrowed as `height` rows of `width` values in 0..=1 (0 is black).
#[derive(Debug, Clone, Copy)]
pub struct GreyImage<'a> {
    pub width: usize,
    pub height: usize,
    pub pixels: &'a [f32],
}

/// Draws images in a grid of `columns`, each `scale` pixels per image pixel, with an optional
/// caption under each (e.g. the predicted label of a misclassified digit).
pub fn image_grid(
    path: &Path,
    images: &[GreyImage],
    columns: usize,
    scale: usize,
    captions: Option<&[String]>,
) -> Result<()> {
    let columns = columns.max(1);
    let rows = images.len().div_ceil(columns).max(1);
    let (w, h) = images
        .first()
        .map(|i| (i.width, i.height))
        .unwrap_or((28, 28));
    let caption_height = if captions.is_some() { 18 } else { 0 };
    let gap = 4;
    let cell_w = w * scale + gap;
    let cell_h = h * scale + gap + caption_height;
    let size = (
        (columns * cell_w + gap) as u32,
        (rows * cell_h + gap) as u32,
    );
    render_png(path, size, |root| {
        root.fill(&WHITE)?;
        for (k, image) in images.iter().enumerate() {
            let (x0, y0) = ((k % columns) * cell_w + gap, (k / columns) * cell_h + gap);
            for y in 0..image.height {
                for x in 0..image.width {
                    let v = image.pixels[y * image.width + x].clamp(0.0, 1.0);
                    let g = (v * 255.0).round() as u8;
                    let (px, py) = ((x0 + x * scale) as i32, (y0 + y * scale) as i32);
                    root.draw(&Rectangle::new(
                        [(px, py), (px + scale as i32, py + scale as i32)],
                        RGBColor(g, g, g).filled(),
                    ))?;
                }
            }
            if let Some(text) = captions.and_then(|c| c.get(k)) {
                let style = TextStyle::from(("sans-serif", 14).into_font())
                    .color(&RED)
                    .pos(Pos::new(HPos::Center, VPos::Top));
                let cx = (x0 + image.width * scale / 2) as i32;
                let cy = (y0 + image.height * scale + 2) as i32;
                root.draw(&Text::new(text.as_str(), (cx, cy), style))?;
            }
        }
        Ok(())
    })
}

/// [`image_grid`] for images held as rows of `width`×`height` floats in 0..=1.
pub fn pixel_grid(
    path: &Path,
    pixels: &[Vec<f32>],
    (width, height): (usize, usize),
    columns: usize,
    scale: usize,
    captions: Option<&[String]>,
) -> Result<()> {
    let images: Vec<GreyImage> = pixels
        .iter()
        .map(|p| GreyImage {
            width,
            height,
            pixels: p,
        })
        .collect();
    image_grid(path, &images, columns, scale, captions)
}

/// Writes a grey image of `width`×`height` values in 0..=1 as a PNG of exactly those pixels
/// (no scale, no frame: a picture `predict` can read back), replacing `path` atomically.
pub fn write_grey_png(path: &Path, pixels: &[f32], width: usize, height: usize) -> Result<()> {
    let bytes: Vec<u8> = pixels
        .iter()
        .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect();
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(
            &bytes,
            width as u32,
            height as u32,
            image::ExtendedColorType::L8,
        )
        .map_err(|e| crate::error::Error::BadImage {
            path: path.to_path_buf(),
            reason: format!("cannot encode the picture: {e}"),
        })?;
    super::write_atomic(path, &png)
}

/// Draws a confusion matrix: rows are true classes, columns predicted ones, each cell shaded by
/// its share of its row and labelled with its count.
pub fn confusion_matrix(
    path: &Path,
    title: &str,
    counts: &[Vec<usize>],
    class_names: &[String],
) -> Result<()> {
    let n = counts.len();
    let cell = 48i32;
    let (left, top) = (110i32, 70i32);
    let size = (
        (left + cell * n as i32 + 20) as u32,
        (top + cell * n as i32 + 50) as u32,
    );
    render_png(path, size, |root| {
        root.fill(&WHITE)?;
        let centered = |size: u32| {
            TextStyle::from(("sans-serif", size).into_font())
                .pos(Pos::new(HPos::Center, VPos::Center))
        };
        root.draw(&Text::new(title, (size.0 as i32 / 2, 18), centered(20)))?;
        root.draw(&Text::new(
            "predicted",
            (left + cell * n as i32 / 2, 45),
            centered(15),
        ))?;
        root.draw(&Text::new(
            "true",
            (22, top + cell * n as i32 / 2),
            centered(15),
        ))?;
        for (i, row) in counts.iter().enumerate() {
            let total = row.iter().sum::<usize>().max(1) as f64;
            let y = top + i as i32 * cell;
            let name = class_names.get(i).map(String::as_str).unwrap_or("?");
            root.draw(&Text::new(name, (left - 40, y + cell / 2), centered(13)))?;
            for (j, &count) in row.iter().enumerate() {
                let x = left + j as i32 * cell;
                let share = count as f64 / total;
                let shade = (255.0 * (1.0 - share)).round() as u8;
                let fill = RGBColor(shade, shade, 255);
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell, y + cell)],
                    fill.filled(),
                ))?;
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell, y + cell)],
                    BLACK.mix(0.2),
                ))?;
                let ink = if share > 0.5 { WHITE } else { BLACK };
                let style = centered(13).color(&ink);
                root.draw(&Text::new(
                    count.to_string(),
                    (x + cell / 2, y + cell / 2),
                    style,
                ))?;
            }
        }
        for j in 0..n {
            let name = class_names.get(j).map(String::as_str).unwrap_or("?");
            let x = left + j as i32 * cell + cell / 2;
            root.draw(&Text::new(
                name,
                (x, top + cell * n as i32 + 14),
                centered(13),
            ))?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_grid_has_the_expected_size_and_pixels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grid.png");
        let white = vec![1.0f32; 4];
        let black = vec![0.0f32; 4];
        let images = [
            GreyImage {
                width: 2,
                height: 2,
                pixels: &white,
            },
            GreyImage {
                width: 2,
                height: 2,
                pixels: &black,
            },
        ];
        image_grid(&path, &images, 2, 10, None).unwrap();
        let png = image::open(&path).unwrap().to_rgb8();
        // two cells of 2×10 pixels plus 4-pixel gaps
        assert_eq!(png.dimensions(), (2 * 24 + 4, 24 + 4));
        assert_eq!(png.get_pixel(4 + 5, 4 + 5).0, [255, 255, 255]);
        assert_eq!(png.get_pixel(4 + 24 + 5, 4 + 5).0, [0, 0, 0]);
    }
}
