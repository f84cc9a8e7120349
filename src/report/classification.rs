//! The pictures of a classification run: loss and accuracy curves, the confusion matrix, and the
//! misclassified test images with what the model thought they were.

use super::picture::{GreyImage, confusion_matrix, image_grid};
use super::plot::learning_curves;
use super::{MetricsLog, RunDir};
use crate::data::images::ImageSet;
use crate::error::Result;

/// How many misclassified images the grid shows at most.
const MISCLASSIFIED_SHOWN: usize = 40;

/// Draws `loss.png`, `accuracy.png` (every split of `log`) and `confusion-matrix.png` (the
/// test split's true `labels` against the `predicted` classes): what every classifier shows.
pub fn curves_and_confusion(
    run: &RunDir,
    title: &str,
    log: &MetricsLog,
    labels: &[u8],
    classes: &[String],
    predicted: &[u8],
) -> Result<()> {
    for (file, metric, label) in [
        ("loss.png", None, "loss"),
        ("accuracy.png", Some("accuracy"), "accuracy"),
    ] {
        learning_curves(
            &run.file(file),
            &format!("{title}: {label}"),
            label,
            log,
            metric,
        )?;
    }
    confusion_matrix(
        &run.file("confusion-matrix.png"),
        &format!("{title}: confusion matrix (test)"),
        &confusion(labels, predicted, classes.len()),
        classes,
    )
}

/// Draws `loss.png`, `accuracy.png`, `confusion-matrix.png` and `misclassified.png`.
pub fn write_pictures(
    run: &RunDir,
    title: &str,
    log: &MetricsLog,
    test: &ImageSet,
    classes: &[String],
    predicted: &[u8],
) -> Result<()> {
    curves_and_confusion(run, title, log, &test.labels, classes, predicted)?;

    let wrong: Vec<usize> = (0..test.len())
        .filter(|&i| predicted[i] != test.labels[i])
        .take(MISCLASSIFIED_SHOWN)
        .collect();
    let pixels: Vec<Vec<f32>> = wrong.iter().map(|&i| test.image_f32(i)).collect();
    let images: Vec<GreyImage> = pixels
        .iter()
        .map(|p| GreyImage {
            width: test.cols,
            height: test.rows,
            pixels: p,
        })
        .collect();
    let captions: Vec<String> = wrong
        .iter()
        .map(|&i| {
            let name = |k: u8| classes.get(k as usize).cloned().unwrap_or_default();
            format!("{} (true {})", name(predicted[i]), name(test.labels[i]))
        })
        .collect();
    image_grid(
        &run.file("misclassified.png"),
        &images,
        8,
        3,
        Some(&captions),
    )
}

/// The confusion matrix: `counts[true][predicted]`.
pub fn confusion(labels: &[u8], predicted: &[u8], classes: usize) -> Vec<Vec<usize>> {
    let mut counts = vec![vec![0; classes]; classes];
    for (&l, &p) in labels.iter().zip(predicted) {
        counts[l as usize][p as usize] += 1;
    }
    counts
}
