//! What the image-to-image labs share (`autoencoder`, `pix2pix`, `super-resolution`): a network
//! turns a degraded digit into a whole one, and is measured on the test digits against its
//! baselines (PSNR, SSIM, the judge's accuracy), drawn as rows of pictures, and used by
//! `neurons predict --out`. What each lab degrades, trains and compares stays in the lab.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor};

use super::judge::DigitJudge;
use crate::data::imageops;
use crate::data::images::{ImageBatch, ImageSet, image_loader, images_tensor, read_sized_inputs};
use crate::error::Result;
use crate::labs::PredictRequest;
use crate::models::pix2pix::ImageGenerator;
use crate::report::RunDir;
use crate::report::picture::{GreyImage, image_grid, write_grey_png};
use crate::train::config::TrainingConfig;
use crate::train::fit::{BatchOutcome, Supervised, remove_checkpoints, train_model};
use crate::train::{Console, FloatValues};

/// How many images go through a network at once outside training.
const CHUNK: usize = 500;

/// Applies `network` to images of `rows`×`cols` floats, a chunk at a time, giving its outputs as
/// rows of floats in 0..=1.
pub fn apply_in_chunks(
    images: &[Vec<f32>],
    (rows, cols): (usize, usize),
    device: &Device,
    network: impl Fn(Tensor<4>) -> Tensor<4>,
) -> Vec<Vec<f32>> {
    let mut outputs = Vec::with_capacity(images.len());
    for chunk in images.chunks(CHUNK) {
        let out = network(images_tensor(chunk, rows, cols, device));
        let [n, _, h, w] = out.dims();
        let values: Vec<f32> = out.clamp(0.0, 1.0).floats();
        outputs.extend(values.chunks(h * w).take(n).map(<[f32]>::to_vec));
    }
    outputs
}

/// The data of an image-to-image training: the whole digits (the targets), how a batch of them
/// becomes the network's inputs on the device, and the test pairs (inputs made once, on the host,
/// by the same formula).
pub struct Pairs<'a> {
    pub train: std::sync::Arc<ImageSet>,
    pub degrade: &'a dyn Fn(Tensor<4>) -> Tensor<4>,
    /// The side of the inputs (28, or smaller for `super-resolution`).
    pub input_side: usize,
    pub test_inputs: &'a [Vec<f32>],
    pub test_targets: &'a [Vec<f32>],
}

impl Pairs<'_> {
    /// The training digits of one epoch, shuffled with `shuffle_seed`.
    pub fn loader(
        &self,
        batch_size: usize,
        shuffle_seed: u64,
        device: &Device,
    ) -> std::sync::Arc<dyn burn::data::dataloader::DataLoader<ImageBatch>> {
        image_loader(self.train.clone(), batch_size, Some(shuffle_seed), device)
    }

    /// The test inputs and targets, a chunk at a time, as tensors.
    pub fn test_chunks<'b>(
        &'b self,
        device: &'b Device,
    ) -> impl Iterator<Item = (Tensor<4>, Tensor<4>)> + 'b {
        let side = self.input_side;
        self.test_inputs
            .chunks(CHUNK)
            .zip(self.test_targets.chunks(CHUNK))
            .map(move |(x, y)| {
                (
                    images_tensor(x, side, side, device),
                    images_tensor(y, 28, 28, device),
                )
            })
    }
}

/// The pixel loss of a baseline: L1 (`pix2pix`) or the squared error (`super-resolution`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelLoss {
    L1,
    Mse,
}

impl PixelLoss {
    /// Its column in `metrics.csv`.
    pub fn name(self) -> &'static str {
        match self {
            Self::L1 => "l1",
            Self::Mse => "mse",
        }
    }

    fn names(self) -> &'static [&'static str] {
        match self {
            Self::L1 => &["l1"],
            Self::Mse => &["mse"],
        }
    }

    fn per_pixel(self, error: Tensor<4>) -> Tensor<4> {
        match self {
            Self::L1 => error.abs(),
            Self::Mse => error.powi_scalar(2),
        }
    }

    /// The loss to train on: the mean over the pixels of the batch.
    pub fn loss(self, generated: Tensor<4>, targets: Tensor<4>) -> Tensor<1> {
        self.per_pixel(generated - targets).mean()
    }

    /// Each image's mean error per pixel, its pixels clamped to 0..=1 as they are shown and
    /// measured at the end, summed over the batch.
    pub fn sum(self, generated: Tensor<4>, targets: Tensor<4>) -> f64 {
        let [_, _, h, w] = targets.dims();
        self.per_pixel(generated.clamp(0.0, 1.0) - targets)
            .sum()
            .into_scalar::<f32>() as f64
            / (h * w) as f64
    }
}

/// A generator trained with a pixel loss alone: the baseline of `pix2pix` (L1) and of
/// `super-resolution` (MSE, SRGAN's "SRResNet").
pub struct PixelLossTask<'a, G> {
    pub pairs: &'a Pairs<'a>,
    pub loss: PixelLoss,
    pub generator: std::marker::PhantomData<G>,
}

impl<G: ImageGenerator> Supervised for PixelLossTask<'_, G> {
    type Model = G;
    type Batch = ImageBatch;

    fn metric_names(&self) -> &'static [&'static str] {
        self.loss.names()
    }

    fn train_len(&self) -> usize {
        self.pairs.train.len()
    }

    fn train_loader(
        &self,
        batch_size: usize,
        shuffle_seed: u64,
        device: &Device,
    ) -> std::sync::Arc<dyn burn::data::dataloader::DataLoader<ImageBatch>> {
        self.pairs.loader(batch_size, shuffle_seed, device)
    }

    fn batch(&self, g: &G, batch: ImageBatch) -> BatchOutcome {
        let targets = batch.images;
        let size = targets.dims()[0];
        let generated = g.generate((self.pairs.degrade)(targets.clone()));
        BatchOutcome {
            loss: self.loss.loss(generated.clone(), targets.clone()),
            size,
            sums: vec![self.loss.sum(generated.detach(), targets)],
        }
    }

    fn finish(&self, sums: &[f64], samples: usize) -> Vec<f64> {
        sums.iter().map(|s| s / samples.max(1) as f64).collect()
    }

    fn validate(&self, g: &G, device: &Device) -> Result<(f64, Vec<f64>)> {
        let sum: f64 = self
            .pairs
            .test_chunks(device)
            .map(|(x, y)| self.loss.sum(g.generate(x), y))
            .sum();
        let error = sum / self.pairs.test_targets.len().max(1) as f64;
        Ok((error, vec![error]))
    }
}

/// The training and test digits `--quick` keeps: enough for each lab to beat its baseline in
/// seconds.
const QUICK_SIZES: (usize, usize) = (2000, 500);

/// The digits an image-to-image run learns from: `--data`, `--dataset` or `mnist-10k`, cut to
/// [`QUICK_SIZES`] with `--quick`.
pub fn choose_data(options: &crate::labs::RunOptions) -> Result<crate::data::images::ImageDataset> {
    crate::data::mnist::choose_subset(
        options.dataset.as_deref(),
        options.data.as_deref(),
        options.quick.then_some(QUICK_SIZES),
    )
}

/// The judge a baseline sub-run's `config.toml` records: the run's `--judge`, or the judge
/// trained into `<run>/judge`, made absolute, so that the baseline read alone finds it.
pub fn judge_record(run: &RunDir, named: Option<&Path>) -> Result<PathBuf> {
    match named {
        Some(dir) => Ok(dir.to_path_buf()),
        None => std::path::absolute(run.file("judge"))
            .map_err(|e| crate::error::Error::io(run.path(), e)),
    }
}

/// Every image of a split as floats in 0..=1.
pub fn all_images(set: &ImageSet) -> Vec<Vec<f32>> {
    (0..set.len()).map(|i| set.image_f32(i)).collect()
}

/// How close restored 28×28 digits are to the originals, and how well the judge reads them.
#[derive(Debug, Clone, Copy)]
pub struct Quality {
    /// Mean PSNR in dB (peak 1).
    pub psnr: f64,
    /// Mean SSIM.
    pub ssim: f64,
    pub judge_accuracy: f64,
}

impl Quality {
    pub fn of(
        restored: &[Vec<f32>],
        originals: &[Vec<f32>],
        labels: &[u8],
        judge: &DigitJudge,
    ) -> Self {
        let n = restored.len().max(1) as f64;
        let pairs = || restored.iter().zip(originals);
        Self {
            psnr: pairs().map(|(r, o)| imageops::psnr(r, o)).sum::<f64>() / n,
            ssim: pairs()
                .map(|(r, o)| imageops::ssim(r, o, 28, 28))
                .sum::<f64>()
                / n,
            judge_accuracy: judge.accuracy(restored, labels),
        }
    }
}

/// The first test digit of each class, for the pictures: one column per digit 0…9.
pub fn one_of_each_class(labels: &[u8], classes: usize) -> Vec<usize> {
    (0..classes)
        .filter_map(|c| labels.iter().position(|&l| l as usize == c))
        .collect()
}

/// Draws one row per kind of image (degraded, restored…, original), the same digits in each,
/// the row's name under its first image. Images smaller than the first row's are enlarged
/// (each pixel a block) so that every cell has the same size.
pub fn comparison_grid(path: &Path, rows: &[(&str, Vec<Vec<f32>>)]) -> Result<()> {
    let side = rows
        .iter()
        .flat_map(|(_, images)| images.first())
        .map(|p| (p.len() as f64).sqrt() as usize)
        .max()
        .unwrap_or(28);
    let columns = rows.first().map(|(_, i)| i.len()).unwrap_or(1).max(1);
    let mut cells = Vec::new();
    let mut captions = Vec::new();
    for (name, images) in rows {
        for (k, image) in images.iter().enumerate() {
            let own = (image.len() as f64).sqrt() as usize;
            cells.push(enlarge(image, own, side / own.max(1)));
            captions.push(if k == 0 {
                name.to_string()
            } else {
                String::new()
            });
        }
    }
    let images: Vec<GreyImage> = cells
        .iter()
        .map(|pixels| GreyImage {
            width: side,
            height: side,
            pixels,
        })
        .collect();
    image_grid(path, &images, columns, 3, Some(&captions))
}

/// A square image of `side`×`side` pixels, each pixel made a `factor`×`factor` block.
pub fn enlarge(pixels: &[f32], side: usize, factor: usize) -> Vec<f32> {
    let factor = factor.max(1);
    let big = side * factor;
    (0..big * big)
        .map(|i| pixels[(i / big / factor) * side + (i % big) / factor])
        .collect()
}

/// `neurons predict --run DIR INPUT... --out FILE.png` with an image-to-image network that takes
/// `input` (rows, cols) images: each input restored by `restore`, written with its exact pixels
/// (several side by side, in the order given). Returns the lines to print.
pub fn predict_picture(
    request: &PredictRequest,
    lab: &str,
    input: (usize, usize),
    restore: impl Fn(&[Vec<f32>]) -> Vec<Vec<f32>>,
) -> Result<Vec<String>> {
    let (paths, out) = request.pictures(lab)?;
    crate::report::check_output_file(out, paths)?;
    let inputs = read_sized_inputs(paths, input)?;
    let pixels: Vec<Vec<f32>> = inputs.iter().map(|i| i.pixels.clone()).collect();
    let restored = restore(&pixels);
    let side = restored
        .first()
        .map(|p| (p.len() as f64).sqrt() as usize)
        .unwrap_or(28);
    write_grey_png(
        out,
        &side_by_side(&restored, side),
        side * restored.len(),
        side,
    )?;
    Ok(inputs
        .iter()
        .enumerate()
        .map(|(k, input)| {
            let place = if inputs.len() > 1 {
                format!(" (image {} of {}, from the left)", k + 1, inputs.len())
            } else {
                String::new()
            };
            format!("{}: restored into {}{place}", input.name, out.display())
        })
        .collect())
}

/// Square images of `side` pixels placed left to right, as one image's rows.
fn side_by_side(images: &[Vec<f32>], side: usize) -> Vec<f32> {
    let width = side * images.len();
    (0..side * width)
        .map(|i| {
            let (y, x) = (i / width, i % width);
            images[x / side][y * side + x % side]
        })
        .collect()
}

/// A `--judge` path made absolute, so that the run finds it again from anywhere.
pub fn absolute(path: Option<&Path>) -> Result<Option<PathBuf>> {
    path.map(|p| std::path::absolute(p).map_err(|e| crate::error::Error::io(p, e)))
        .transpose()
}

/// Refuses, before the run directory exists, what no image-to-image lab can run with: bad
/// training flags, data other than 28×28 digits, a `--judge` that is not a finished 28×28 cnn of
/// the run's classes.
pub fn check_image_lab(
    lab: &str,
    options: &crate::labs::RunOptions,
    training: &crate::labs::TrainingArgs,
    judge: Option<&Path>,
) -> Result<()> {
    training.validate()?;
    crate::data::mnist::check_choice(
        options.dataset.as_deref(),
        options.data.as_deref(),
        lab,
        crate::data::images::ImageShape::Exactly(28, 28),
    )?;
    let Some(dir) = judge else {
        return Ok(());
    };
    let judge = RunDir::open(dir)?;
    let data = crate::data::mnist::choose(options.dataset.as_deref(), options.data.as_deref())?;
    DigitJudge::load_for(&judge, &data.classes).map(|_| ())
}

/// The judge of an image-to-image run: the cnn run its `config.toml` names (`--judge`), or one
/// trained into `<run>/judge` on the run's data (and resumed there). Returns it with the test
/// accuracy of a judge trained for the run.
pub fn judge_of(
    run: &RunDir,
    named: Option<&Path>,
    data: &crate::data::images::ImageDataset,
    training: &TrainingConfig,
    console: &Console,
    resume: bool,
) -> Result<(DigitJudge, Option<f64>)> {
    if let Some(dir) = named {
        // checked before the run began: failing now, the run's record is what is wrong
        let judge = RunDir::open(dir)
            .and_then(|judge| DigitJudge::load_for(&judge, &data.classes))
            .map_err(|e| crate::error::Error::BadRunDir {
                path: run.file("config.toml"),
                reason: format!("judge: {e}"),
            })?;
        return Ok((judge, None));
    }
    let (judge, accuracy) =
        trained_cnn(run, "judge", data, training, training.seed, console, resume)?;
    Ok((judge, Some(accuracy)))
}

/// A cnn trained for the run into `<run>/<name>` with `seed` (resumed there), as a judge.
fn trained_cnn(
    run: &RunDir,
    name: &str,
    data: &crate::data::images::ImageDataset,
    training: &TrainingConfig,
    seed: u64,
    console: &Console,
    resume: bool,
) -> Result<(DigitJudge, f64)> {
    DigitJudge::train_in(
        run,
        name,
        data,
        seed,
        &training.device,
        training.quick,
        console,
        resume,
    )
    .map_err(|e| for_the_run(e, run))
}

/// A second cnn, trained like the judge but from another seed, into `<run>/perceptual`: a network
/// whose features a loss may use without the judge then grading what was trained against it.
pub fn perceptual_network(
    run: &RunDir,
    data: &crate::data::images::ImageDataset,
    training: &TrainingConfig,
    console: &Console,
    resume: bool,
) -> Result<(DigitJudge, f64)> {
    let seed = training.seed.wrapping_add(1_000_003);
    trained_cnn(run, "perceptual", data, training, seed, console, resume)
}

/// An interruption inside a training that is part of the run (its judge, its baseline) is
/// resumed by resuming the run, not that part: the hint names the run.
fn for_the_run(error: crate::error::Error, run: &RunDir) -> crate::error::Error {
    use crate::error::Error;
    match error {
        Error::Interrupted { epoch, .. } => Error::Interrupted {
            run_dir: run.path().to_path_buf(),
            epoch,
        },
        Error::CheckpointNotWritten { cause, kept, .. } => Error::CheckpointNotWritten {
            cause,
            run_dir: run.path().to_path_buf(),
            kept,
        },
        other => other,
    }
}

/// The baseline of an image-to-image run (the same generator trained with the pixel loss alone),
/// trained into `<run>/<name>` as a run of its own, with `config` as its `config.toml`, so that
/// `predict` takes it too. When the main run is resumed, so is the baseline; a finished one
/// (its `summary.json` written, the last of its files) is read back. Returns its network, out of
/// autodiff, and the seconds its training took.
#[allow(clippy::too_many_arguments)] // the baseline's run: where, what, how, and the lab's names
pub fn train_baseline<T: Supervised>(
    run: &RunDir,
    name: &str,
    (lab, dataset): (&str, &str),
    config: &impl serde::Serialize,
    training: &TrainingConfig,
    task: &T,
    init: impl Fn(&Device) -> T::Model,
    console: &Console,
    resume: bool,
) -> Result<(T::Model, f64)> {
    let dir = run.file(name);
    if dir.join("summary.json").is_file() {
        let baseline = RunDir::open(&dir)?;
        let model = baseline.load_weights("model.bpk", init(&training.device()?))?;
        let summary: crate::report::Summary = baseline.read_json("summary.json")?;
        remove_checkpoints(&baseline)?;
        console.line(&format!("baseline: read back from {}", dir.display()));
        return Ok((model, summary.train_seconds));
    }
    let resuming = resume && dir.join("config.toml").is_file();
    let baseline = if resuming {
        RunDir::open(&dir)?
    } else {
        let baseline = RunDir::create(Some(&dir), lab)?;
        baseline.write_toml("config.toml", config)?;
        baseline
    };
    console.line(&format!("baseline ({name}), into {}", dir.display()));
    let (trained, device) = train_model(task, training, init, &baseline, console, resuming)
        .map_err(|e| for_the_run(e, run))?;
    let (loss, values) = task.validate(&trained.model, &device)?;
    let metrics = std::iter::once(("loss".to_string(), loss))
        .chain(
            task.metric_names()
                .iter()
                .map(|m| m.to_string())
                .zip(values),
        )
        .collect();
    baseline.write_json(
        "summary.json",
        &trained.summary(lab, dataset, training, metrics),
    )?;
    remove_checkpoints(&baseline)?;
    Ok((trained.model, trained.train_seconds))
}

/// A chart of how the pixels of each kind of image spread between black and white, leaving out
/// the nearly black and nearly white ones (most of every digit): a blurred digit has more grey.
pub fn grey_levels_chart(path: &Path, title: &str, kinds: &[(&str, &[Vec<f32>])]) -> Result<()> {
    use crate::report::plot::{Curve, line_chart};
    const BINS: usize = 20;
    let curves: Vec<Curve> = kinds
        .iter()
        .map(|(name, images)| {
            let mut counts = [0usize; BINS];
            let mut total = 0;
            for v in images.iter().flatten() {
                counts[((v.clamp(0.0, 1.0) * BINS as f32) as usize).min(BINS - 1)] += 1;
                total += 1;
            }
            Curve {
                label: name.to_string(),
                points: (1..BINS - 1)
                    .map(|b| {
                        let centre = (b as f64 + 0.5) / BINS as f64;
                        (centre, 100.0 * counts[b] as f64 / total.max(1) as f64)
                    })
                    .collect(),
            }
        })
        .collect();
    line_chart(
        path,
        title,
        "pixel value (0 black, 1 white)",
        "% of the pixels",
        &curves,
    )
}

/// `loss.png`: every metric of a training, per epoch, on the training and the test digits.
pub fn draw_training(
    run: &RunDir,
    log: &crate::report::MetricsLog,
    metrics: &[&'static str],
    title: &str,
) -> Result<()> {
    use crate::report::metrics::Split;
    use crate::report::plot::{Curve, line_chart};
    let curves: Vec<Curve> = metrics
        .iter()
        .flat_map(|m| {
            [Split::Train, Split::Test].map(|split| Curve {
                label: format!("{m} ({})", split.name()),
                points: log.series(split, Some(m)),
            })
        })
        .collect();
    line_chart(&run.file("loss.png"), title, "epoch", "loss", &curves)
}

/// Writes `pixels` (`side`×`side`) as `<run>/<name>`: an input for `predict` to try.
pub fn write_example(run: &RunDir, name: &str, pixels: &[f32], side: usize) -> Result<()> {
    write_grey_png(&run.file(name), pixels, side, side)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enlarging_makes_each_pixel_a_block() {
        let big = enlarge(&[0.0, 1.0, 0.5, 0.25], 2, 2);
        assert_eq!(
            big,
            vec![
                0.0, 0.0, 1.0, 1.0, //
                0.0, 0.0, 1.0, 1.0, //
                0.5, 0.5, 0.25, 0.25, //
                0.5, 0.5, 0.25, 0.25,
            ]
        );
    }

    #[test]
    fn images_side_by_side_keep_their_rows() {
        let a = vec![1.0, 2.0, 3.0, 4.0];
        let b = vec![5.0, 6.0, 7.0, 8.0];
        assert_eq!(
            side_by_side(&[a, b], 2),
            vec![1.0, 2.0, 5.0, 6.0, 3.0, 4.0, 7.0, 8.0]
        );
    }

    #[test]
    fn one_of_each_class_takes_the_first_of_each() {
        assert_eq!(one_of_each_class(&[2, 0, 2, 1, 0], 3), vec![1, 3, 0]);
    }
}
