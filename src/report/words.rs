//! Pictures of what a text model learnt: words ranked by a score, per class, and attention
//! maps with the words of a sentence on both axes.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::plot::{PALETTE, render_png};
use crate::error::Result;

/// Text of `size` points, anchored at its vertical middle and at `h`.
fn font(size: u32, h: HPos) -> TextStyle<'static> {
    TextStyle::from(("sans-serif", size).into_font()).pos(Pos::new(h, VPos::Center))
}

/// One column of a [`ranked_words`] chart: a heading and its words with their scores in 0..=1.
pub struct WordColumn {
    pub heading: String,
    pub words: Vec<(String, f64)>,
}

/// Columns of words, each drawn as horizontal bars of its score (0 to 1), best first.
pub fn ranked_words(path: &Path, title: &str, columns: &[WordColumn]) -> Result<()> {
    let rows = columns.iter().map(|c| c.words.len()).max().unwrap_or(0) as i32;
    let (column_width, row_height, top) = (330i32, 24i32, 80i32);
    let size = (
        (column_width * columns.len().max(1) as i32 + 20) as u32,
        (top + row_height * rows + 20) as u32,
    );
    render_png(path, size, |root| {
        root.fill(&WHITE)?;
        root.draw(&Text::new(
            title,
            (size.0 as i32 / 2, 20),
            font(20, HPos::Center),
        ))?;
        for (k, column) in columns.iter().enumerate() {
            let left = 10 + k as i32 * column_width;
            let color = PALETTE[k % PALETTE.len()];
            root.draw(&Text::new(
                column.heading.as_str(),
                (left + column_width / 2, 55),
                font(16, HPos::Center),
            ))?;
            let (label_width, bar_width) = (130, column_width - 130 - 60);
            for (i, (word, score)) in column.words.iter().enumerate() {
                let y = top + i as i32 * row_height;
                root.draw(&Text::new(
                    word.as_str(),
                    (left + label_width - 6, y + row_height / 2),
                    font(14, HPos::Right),
                ))?;
                let length = (score.clamp(0.0, 1.0) * bar_width as f64).round() as i32;
                root.draw(&Rectangle::new(
                    [
                        (left + label_width, y + 4),
                        (left + label_width + length.max(1), y + row_height - 4),
                    ],
                    color.filled(),
                ))?;
                root.draw(&Text::new(
                    format!("{score:.2}"),
                    (left + label_width + length + 5, y + row_height / 2),
                    font(12, HPos::Left),
                ))?;
            }
        }
        Ok(())
    })
}

/// The attention of one sentence: its words, and per head a `[query][key]` matrix of weights.
pub struct SentenceAttention {
    pub words: Vec<String>,
    pub heads: Vec<Vec<Vec<f32>>>,
}

/// One row of panels per sentence, one panel per head: cell (i, j) shaded by how much word i
/// (row, the query) attends to word j (column, the key); each row of a panel sums to 1.
pub fn attention_maps(path: &Path, title: &str, sentences: &[SentenceAttention]) -> Result<()> {
    let heads = sentences
        .iter()
        .map(|s| s.heads.len())
        .max()
        .unwrap_or(1)
        .max(1) as i32;
    let cell = 18i32;
    let label = 90i32;
    let panel = |s: &SentenceAttention| s.words.len() as i32 * cell;
    let widest = sentences.iter().map(panel).max().unwrap_or(cell);
    let (panel_width, panel_height) = (label + widest + 20, label + widest + 30);
    let size = (
        (panel_width * heads + 20) as u32,
        (50 + panel_height * sentences.len().max(1) as i32) as u32,
    );
    render_png(path, size, |root| {
        root.fill(&WHITE)?;
        root.draw(&Text::new(
            title,
            (size.0 as i32 / 2, 20),
            font(18, HPos::Center),
        ))?;
        for (s, sentence) in sentences.iter().enumerate() {
            let top = 50 + s as i32 * panel_height;
            for (h, weights) in sentence.heads.iter().enumerate() {
                let left = 10 + h as i32 * panel_width;
                let (x0, y0) = (left + label, top + label);
                root.draw(&Text::new(
                    format!("head {}", h + 1),
                    (x0 + panel(sentence) / 2, top + 8),
                    font(14, HPos::Center),
                ))?;
                for (i, word) in sentence.words.iter().enumerate() {
                    let middle = i as i32 * cell + cell / 2;
                    root.draw(&Text::new(
                        word.as_str(),
                        (x0 - 4, y0 + middle),
                        font(12, HPos::Right),
                    ))?;
                    let vertical = TextStyle::from(
                        ("sans-serif", 12)
                            .into_font()
                            .transform(FontTransform::Rotate270),
                    )
                    .pos(Pos::new(HPos::Left, VPos::Center));
                    root.draw(&Text::new(word.as_str(), (x0 + middle, y0 - 4), vertical))?;
                }
                for (i, row) in weights.iter().enumerate() {
                    for (j, &w) in row.iter().enumerate() {
                        let shade = (255.0 * (1.0 - w.clamp(0.0, 1.0))).round() as u8;
                        let (x, y) = (x0 + j as i32 * cell, y0 + i as i32 * cell);
                        root.draw(&Rectangle::new(
                            [(x, y), (x + cell, y + cell)],
                            RGBColor(shade, shade, 255).filled(),
                        ))?;
                    }
                }
                root.draw(&Rectangle::new(
                    [(x0, y0), (x0 + panel(sentence), y0 + panel(sentence))],
                    BLACK.mix(0.4),
                ))?;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attention_cells_are_dark_where_the_weight_is_high() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("attention.png");
        let sentence = SentenceAttention {
            words: vec!["good".to_string(), "film".to_string()],
            heads: vec![vec![vec![1.0, 0.0], vec![0.5, 0.5]]],
        };
        attention_maps(&path, "attention", &[sentence]).unwrap();
        let png = image::open(&path).unwrap().to_rgb8();
        // head 1's panel: cells from (10 + 90, 50 + 90), 18 pixels each
        let at = |i: u32, j: u32| png.get_pixel(100 + j * 18 + 9, 140 + i * 18 + 9).0;
        assert_eq!(at(0, 0), [0, 0, 255]);
        assert_eq!(at(0, 1), [255, 255, 255]);
        assert_eq!(at(1, 0), [128, 128, 255]);
    }
}
