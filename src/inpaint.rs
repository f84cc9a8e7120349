//! # Semantic image inpainting with a GAN (Yeh et al., "Semantic Image Inpainting with Deep
//! Generative Models", CVPR 2017; the lecture's slide "Semantic Image Inpainting")
//!
//! A digit y has a hole (mask M: 1 where the pixel is known). A trained generator G only draws
//! digits, so the closest digit it can draw to what is left of y fills the hole:
//!
//!   ẑ = argmin_z  ‖W ⊙ (G(z) − y)‖₁  +  λ·log(1 − D(G(z))),
//!   W_i = M_i · (0.1 + (1/|N(i)|) Σ_{j∈N(i)} (1 − M_j))   (N(i): the 7×7 window around i)
//!
//! The contextual loss weighs each known pixel by the share of the hole around it, as the paper
//! does, plus a floor of 0.1 so that the rest of the digit still counts; the prior loss
//! (λ = 0.003) keeps G(z) a digit the discriminator D believes. z is found by Adam from several
//! random starts on the sphere ‖z‖ = √dim, the best start kept; then G(ẑ) is blended into the
//! hole by Poisson blending (the paper's choice: the hole keeps G(ẑ)'s strokes and meets the
//! known pixels without a seam). A cGAN also tries each digit as its condition unless one is
//! given.
//!
//! Measured (`neurons inpaint --evaluate --mask lower-half`, 500 test digits, the default `gan`
//! of seed 1): the judge reads 65.6% of the filled digits, 52.0% with the hole black, 77.0% with
//! the mean training digit in the hole: the mean digit's blur is read better than the GAN's
//! sharp but sometimes wrong guesses. A cnn trained on upper halves alone reads 91.8%: what the
//! upper half tells of the digit bounds any filling.
//!
//! `neurons inpaint --evaluate` measures it on the run's test digits: the `cnn` judge reads the
//! filled digits, against two baselines in the same command (the hole left black; the hole
//! filled with the mean training digit), and the error in the hole.

use std::path::PathBuf;

use burn::module::Module;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};

use crate::data::images::{InputImage, read_inputs};
use crate::error::{Error, Result};
use crate::labs::Lab;
use crate::labs::common::dcgan::{load_discriminator, read_config};
use crate::labs::common::judge::DigitJudge;
use crate::models::dcgan::{DcganConfig, Discriminator, Generator};
use crate::report::RunDir;
use crate::report::picture::pixel_grid;
use crate::train::Console;
use crate::train::FloatValues;
use crate::train::adversarial::{softplus, to_unit_pixels};
use crate::train::progress::print_line;

const SIDE: usize = 28;
const PIXELS: usize = SIDE * SIDE;
/// The side of the window N(i) of the importance weights (the paper's 7).
const WINDOW: usize = 7;
/// The weight every known pixel gets besides the paper's: with the paper's alone, pixels more
/// than 3 rows above a lower-half hole count for nothing, and on a 28×28 digit that is most of
/// what tells a 7 from a 9 (the judge's accuracy on filled digits, 200 test digits: 70% with
/// the paper's weights, 74% with this floor).
const KNOWN_FLOOR: f32 = 0.1;
/// λ, the weight of the prior loss (the paper's 0.003).
const PRIOR_WEIGHT: f32 = 0.003;
/// Gauss–Seidel sweeps of the Poisson blending.
const POISSON_SWEEPS: usize = 300;
/// Adam's step on z.
const LEARNING_RATE: f32 = 0.05;

/// `neurons inpaint`'s flags.
#[derive(Debug, Clone, clap::Args)]
pub struct InpaintArgs {
    /// A finished gan or cgan run
    #[arg(long, value_name = "RUN_DIR")]
    pub run: PathBuf,
    /// Digits to fill: PNG pictures (any size) or IDX image files
    #[arg(required_unless_present = "evaluate")]
    pub inputs: Vec<PathBuf>,
    /// The hole: lower-half, upper-half, left-half, right-half, center, or rect:x,y,w,h
    #[arg(long, value_parser = Mask::parse)]
    pub mask: Mask,
    /// Adam steps on z from each start
    #[arg(long, default_value_t = 100, allow_negative_numbers = true)]
    pub steps: usize,
    /// Random starts of z; the best one is kept
    #[arg(long, default_value_t = 4, allow_negative_numbers = true)]
    pub starts: usize,
    /// The digit to condition a cGAN on (default: try all ten, keep the best)
    #[arg(long, allow_negative_numbers = true)]
    pub digit: Option<usize>,
    /// The PNG to write: original, masked, filled for each input
    #[arg(long, required_unless_present = "evaluate")]
    pub out: Option<PathBuf>,
    /// Measure on the run's test digits against the black-hole and mean-digit baselines
    #[arg(long, conflicts_with_all = ["inputs", "out"])]
    pub evaluate: bool,
    /// With --evaluate: how many test digits, the first ones [default: 500]
    #[arg(long, allow_negative_numbers = true)]
    pub samples: Option<usize>,
    /// With --evaluate: the cnn run that reads the digits (default: RUN_DIR/judge)
    #[arg(long, value_name = "RUN_DIR")]
    pub judge: Option<PathBuf>,
    /// With --evaluate: print one JSON object
    #[arg(long)]
    pub json: bool,
    /// Seed of the starts of z
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub seed: u64,
}

/// Test digits `--evaluate` fills unless `--samples` says.
const DEFAULT_SAMPLES: usize = 500;
/// The most steps and starts: beyond, a search takes hours and finds nothing more.
const MAX_STEPS: usize = 100_000;
const MAX_STARTS: usize = 256;

// --- The mask ----------------------------------------------------------------------------------

/// Where the hole is, on a 28×28 digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mask {
    /// The hole: columns x..x+w, rows y..y+h.
    pub x: usize,
    pub y: usize,
    pub w: usize,
    pub h: usize,
}

impl Mask {
    /// `lower-half`, `upper-half`, `left-half`, `right-half`, `center` (the middle 14×14) or
    /// `rect:x,y,w,h`, which must lie inside the 28×28 image and leave some pixel known.
    pub fn parse(text: &str) -> std::result::Result<Mask, String> {
        let half = SIDE / 2;
        let mask = match text {
            "lower-half" => Mask {
                x: 0,
                y: half,
                w: SIDE,
                h: half,
            },
            "upper-half" => Mask {
                x: 0,
                y: 0,
                w: SIDE,
                h: half,
            },
            "left-half" => Mask {
                x: 0,
                y: 0,
                w: half,
                h: SIDE,
            },
            "right-half" => Mask {
                x: half,
                y: 0,
                w: half,
                h: SIDE,
            },
            "center" => Mask {
                x: 7,
                y: 7,
                w: half,
                h: half,
            },
            _ => {
                let Some(numbers) = text.strip_prefix("rect:") else {
                    return Err(format!(
                        "'{text}': lower-half, upper-half, left-half, right-half, center or rect:x,y,w,h"
                    ));
                };
                let values: Vec<usize> = numbers
                    .split(',')
                    .map(|v| v.trim().parse::<usize>())
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|_| format!("'{text}': rect:x,y,w,h takes four whole numbers"))?;
                let [x, y, w, h] = values[..] else {
                    return Err(format!("'{text}': rect:x,y,w,h takes four whole numbers"));
                };
                if w == 0 || h == 0 {
                    return Err(format!("'{text}': the hole is empty"));
                }
                if x.saturating_add(w) > SIDE || y.saturating_add(h) > SIDE {
                    return Err(format!(
                        "'{text}': the hole goes outside the {SIDE}×{SIDE} image"
                    ));
                }
                if w == SIDE && h == SIDE {
                    return Err(format!(
                        "'{text}': the hole covers the whole image, nothing is left to match"
                    ));
                }
                Mask { x, y, w, h }
            }
        };
        Ok(mask)
    }

    /// Whether pixel (row, column) is in the hole.
    pub fn hides(&self, row: usize, column: usize) -> bool {
        (self.y..self.y + self.h).contains(&row) && (self.x..self.x + self.w).contains(&column)
    }

    /// M: 1 for each known pixel, 0 in the hole, row by row.
    pub fn known(&self) -> Vec<f32> {
        (0..PIXELS)
            .map(|i| {
                if self.hides(i / SIDE, i % SIDE) {
                    0.0
                } else {
                    1.0
                }
            })
            .collect()
    }

    /// W, the contextual loss's weight of each pixel: for a known pixel, the floor plus the
    /// share of hole pixels in the 7×7 window around it (cut by the image's border); 0 in the
    /// hole.
    pub fn importance(&self) -> Vec<f32> {
        let r = WINDOW / 2;
        (0..PIXELS)
            .map(|i| {
                let (row, column) = (i / SIDE, i % SIDE);
                if self.hides(row, column) {
                    return 0.0;
                }
                let (mut hole, mut all) = (0, 0);
                for y in row.saturating_sub(r)..(row + r + 1).min(SIDE) {
                    for x in column.saturating_sub(r)..(column + r + 1).min(SIDE) {
                        all += 1;
                        hole += self.hides(y, x) as usize;
                    }
                }
                KNOWN_FLOOR + hole as f32 / all as f32
            })
            .collect()
    }

    /// `pixels` with the hole filled by `fill` (a value per pixel).
    pub fn filled(&self, pixels: &[f32], fill: &[f32]) -> Vec<f32> {
        (0..PIXELS)
            .map(|i| {
                if self.hides(i / SIDE, i % SIDE) {
                    fill[i]
                } else {
                    pixels[i]
                }
            })
            .collect()
    }

    /// `pixels` with the hole filled by Poisson blending (Pérez et al. 2003), as Yeh et al. do:
    /// inside the hole the result keeps the gradients of `generated` (its discrete Laplacian),
    /// and meets the known pixels at the hole's edge without a seam. Solved by Gauss–Seidel
    /// sweeps, ample on a 28×28 image.
    pub fn blended(&self, pixels: &[f32], generated: &[f32]) -> Vec<f32> {
        let mut x = self.filled(pixels, generated);
        let neighbours = |i: usize| {
            let (row, column) = (i / SIDE, i % SIDE);
            [
                (row > 0).then(|| i - SIDE),
                (row + 1 < SIDE).then(|| i + SIDE),
                (column > 0).then(|| i - 1),
                (column + 1 < SIDE).then(|| i + 1),
            ]
            .into_iter()
            .flatten()
        };
        let hole: Vec<usize> = (0..PIXELS)
            .filter(|&i| self.hides(i / SIDE, i % SIDE))
            .collect();
        // the guidance: |N(p)|·g_p − Σ g_q
        let guidance: Vec<f32> = hole
            .iter()
            .map(|&p| {
                neighbours(p)
                    .map(|q| generated[p] - generated[q])
                    .sum::<f32>()
            })
            .collect();
        for _ in 0..POISSON_SWEEPS {
            for (&p, &b) in hole.iter().zip(&guidance) {
                let (sum, count) = neighbours(p).fold((0.0, 0.0), |(s, c), q| (s + x[q], c + 1.0));
                x[p] = (b + sum) / count;
            }
        }
        x.iter().map(|v| v.clamp(0.0, 1.0)).collect()
    }

    /// The mean squared difference of `a` and `b` inside the hole.
    pub fn hole_mse(&self, a: &[f32], b: &[f32]) -> f64 {
        let (mut sum, mut n) = (0.0, 0);
        for i in 0..PIXELS {
            if self.hides(i / SIDE, i % SIDE) {
                sum += ((a[i] - b[i]) as f64).powi(2);
                n += 1;
            }
        }
        sum / n.max(1) as f64
    }
}

// --- The search for z --------------------------------------------------------------------------

/// A GAN run's networks, ready to search: both frozen (batch norms on their running
/// statistics) on an autodiff device, so that gradients reach z alone.
pub struct Inpainter {
    model: DcganConfig,
    generator: Generator,
    discriminator: Discriminator,
    device: Device,
}

/// The search's settings.
#[derive(Debug, Clone)]
pub struct Search {
    pub steps: usize,
    pub starts: usize,
    /// The cGAN's condition; `None` tries every class.
    pub digit: Option<usize>,
    pub seed: u64,
}

/// What the search found for one digit.
#[derive(Debug, Clone)]
pub struct Filled {
    /// The input with its hole filled by G(ẑ).
    pub filled: Vec<f32>,
    /// The loss at ẑ.
    pub loss: f64,
    /// The best start's loss after each step (for the first digit's record of the descent).
    pub losses: Vec<f64>,
}

impl Inpainter {
    /// The networks of a finished `gan` or `cgan` run.
    pub fn load(run: &RunDir) -> Result<Self> {
        let lab = Lab::of_run(run)?;
        if !matches!(lab.info().name, "gan" | "cgan") {
            return Err(Error::Usage(format!(
                "{}: inpainting needs a gan or cgan run, this is a {} run",
                run.path().display(),
                lab.info().name
            )));
        }
        let config = read_config(run)?;
        let conditional = lab.info().name == "cgan";
        if conditional != (config.model.classes > 0) {
            return Err(Error::BadRunDir {
                path: run.file("config.toml"),
                reason: format!(
                    "a {} run with [model] classes = {}",
                    lab.info().name,
                    config.model.classes
                ),
            });
        }
        let device = Device::flex().autodiff();
        let generator = run
            .load_weights("generator.bpk", config.model.generator(&device))?
            .freeze();
        let discriminator = load_discriminator(run, &config, &device)?.freeze();
        Ok(Self {
            model: config.model,
            generator,
            discriminator,
            device,
        })
    }

    /// The number of classes a cGAN is conditioned on (0 for a GAN).
    pub fn classes(&self) -> usize {
        self.model.classes
    }

    /// Fills the hole of each of `digits` (28×28 in 0..=1).
    pub fn fill(&self, digits: &[Vec<f32>], mask: &Mask, search: &Search) -> Vec<Filled> {
        let conditions: Vec<i64> = match (self.classes(), search.digit) {
            (0, _) => vec![0],
            (_, Some(d)) => vec![d as i64],
            (k, None) => (0..k as i64).collect(),
        };
        // every start of every condition of a digit: consecutive candidates, so that a packed
        // discriminator judges starts of one digit together
        let pack = self.discriminator.pack();
        let starts = search.starts.div_ceil(pack) * pack;
        let per_digit = conditions.len() * starts;
        let n = digits.len() * per_digit;
        let dim = self.model.noise_dim;
        let target: Vec<f32> = digits
            .iter()
            .flat_map(|d| std::iter::repeat_n(d, per_digit).flatten().copied())
            .collect();
        let labels: Vec<i64> = (0..digits.len())
            .flat_map(|_| {
                conditions
                    .iter()
                    .flat_map(|&c| std::iter::repeat_n(c, starts))
            })
            .collect();
        let inner = self.device.clone().inner();
        let image = |values: Vec<f32>| {
            Tensor::<4>::from_data(TensorData::new(values, [n, 1, SIDE, SIDE]), &inner)
        };
        let target = image(target);
        let weight = image(
            std::iter::repeat_n(mask.importance(), n)
                .flatten()
                .collect(),
        );
        let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), &self.device);
        inner.seed(search.seed);
        let mut z = Tensor::<2>::random([n, dim], Distribution::Normal(0.0, 1.0), &inner);
        let (mut m, mut v) = (z.zeros_like(), z.zeros_like());
        let (beta1, beta2) = (0.9f32, 0.999f32);
        let mut history = Vec::with_capacity(search.steps);
        for step in 1..=search.steps {
            let tracked = Tensor::from_inner(z.clone()).require_grad();
            let loss = self.losses(tracked.clone(), &target, &weight, &labels);
            history.push(loss.clone().inner().floats());
            let grads = loss.sum().backward();
            let g = tracked.grad(&grads).expect("z is tracked");
            m = m * beta1 + g.clone() * (1.0 - beta1);
            v = v * beta2 + g.powi_scalar(2) * (1.0 - beta2);
            let m_hat = m.clone() / (1.0 - beta1.powi(step as i32));
            let v_hat = v.clone() / (1.0 - beta2.powi(step as i32));
            z = z - m_hat * LEARNING_RATE / (v_hat.sqrt() + 1e-8);
            // back onto the sphere of radius √dim, where N(0, I)'s draws lie: left free, z
            // drifts to norms the generator never saw and draws blots that match the known
            // pixels without being digits (judge's accuracy on the filled digits, 200 test
            // digits: 69% free, 74% on the sphere)
            let norm = z.clone().powi_scalar(2).sum_dim(1).sqrt();
            z = z * (norm.recip() * (dim as f32).sqrt());
        }
        let tracked = Tensor::from_inner(z.clone());
        let last: Vec<f32> = self
            .losses(tracked.clone(), &target, &weight, &labels)
            .inner()
            .floats();
        let generated = to_unit_pixels(self.generator.forward(tracked, labels.clone()).inner());
        digits
            .iter()
            .enumerate()
            .map(|(k, digit)| {
                let range = k * per_digit..(k + 1) * per_digit;
                let best = range
                    .clone()
                    .min_by(|&a, &b| last[a].total_cmp(&last[b]))
                    .expect("at least one start");
                let best_losses = history
                    .iter()
                    .map(|step| {
                        range
                            .clone()
                            .map(|c| step[c] as f64)
                            .fold(f64::INFINITY, f64::min)
                    })
                    .collect();
                Filled {
                    filled: mask.blended(digit, &generated[best]),
                    loss: last[best] as f64,
                    losses: best_losses,
                }
            })
            .collect()
    }

    /// Each candidate's loss, `[n]`: contextual + prior (a pack's prior shared by its members).
    fn losses(
        &self,
        z: Tensor<2>,
        target: &Tensor<4>,
        weight: &Tensor<4>,
        labels: &Tensor<1, Int>,
    ) -> Tensor<1> {
        let [n, _] = z.dims();
        let images = self.generator.forward(z, labels.clone()); // −1..=1
        let unit = (images.clone() + 1.0) * 0.5;
        let context = ((unit - Tensor::from_inner(target.clone())).abs()
            * Tensor::from_inner(weight.clone()))
        .reshape([n, PIXELS])
        .sum_dim(1)
        .reshape([n]);
        // log(1 − σ(l)) = −softplus(l)
        let logits = self.discriminator.forward(images, labels.clone());
        let pack = self.discriminator.pack();
        let prior = (softplus(logits).neg() * (PRIOR_WEIGHT / pack as f32))
            .reshape([n / pack, 1])
            .repeat_dim(1, pack)
            .reshape([n]);
        context + prior
    }
}

// --- The command -------------------------------------------------------------------------------

/// Refuses flags out of range before anything is read.
fn check(args: &InpaintArgs) -> Result<()> {
    let usage = |m: String| Err(Error::Usage(m));
    if !(1..=MAX_STEPS).contains(&args.steps) {
        return usage(format!("--steps {}: from 1 to {MAX_STEPS}", args.steps));
    }
    if !(1..=MAX_STARTS).contains(&args.starts) {
        return usage(format!("--starts {}: from 1 to {MAX_STARTS}", args.starts));
    }
    if let Some(d) = args.digit
        && d > 9
    {
        return usage(format!("--digit {d}: a digit is 0 to 9"));
    }
    if !args.evaluate {
        for (flag, given) in [
            ("--samples", args.samples.is_some()),
            ("--judge", args.judge.is_some()),
            ("--json", args.json),
        ] {
            if given {
                return usage(format!("{flag} goes with --evaluate"));
            }
        }
    }
    if let Some(n) = args.samples
        && !(1..=crate::data::limits::MAX_POINTS).contains(&n)
    {
        return usage(format!(
            "--samples {n}: from 1 to {}",
            crate::data::limits::MAX_POINTS
        ));
    }
    Ok(())
}

/// `neurons inpaint`.
pub fn inpaint(args: &InpaintArgs) -> Result<()> {
    check(args)?;
    let run = RunDir::open(&args.run)?;
    if let Some(out) = &args.out {
        crate::report::check_output_file(out, &args.inputs)?;
    }
    let inpainter = Inpainter::load(&run)?;
    if let Some(d) = args.digit {
        if inpainter.classes() == 0 {
            return Err(Error::Usage(
                "--digit: a gan run draws no chosen digit (train a cgan)".to_string(),
            ));
        }
        if d >= inpainter.classes() {
            return Err(Error::Usage(format!(
                "--digit {d}: this cgan knows {} classes",
                inpainter.classes()
            )));
        }
    }
    let search = Search {
        steps: args.steps,
        starts: args.starts,
        digit: args.digit,
        seed: args.seed,
    };
    if args.evaluate {
        return evaluate(&run, &inpainter, args, &search);
    }
    let out = args.out.as_deref().expect("clap requires --out");
    let inputs = read_inputs(&args.inputs)?;
    let digits: Vec<Vec<f32>> = inputs.iter().map(|i| i.pixels.clone()).collect();
    let filled = fill_in_chunks(&inpainter, &digits, &args.mask, &search, None);
    let mut grid = Vec::new();
    for (input, f) in inputs.iter().zip(&filled) {
        grid.push(input.pixels.clone());
        grid.push(args.mask.filled(&input.pixels, &vec![0.0; PIXELS]));
        grid.push(f.filled.clone());
        report_one(input, f);
    }
    pixel_grid(out, &grid, (SIDE, SIDE), 3, 2, None)?;
    print_line(&format!(
        "wrote {} (each row: original, masked, filled)",
        out.display()
    ));
    Ok(())
}

fn report_one(input: &InputImage, filled: &Filled) {
    print_line(&format!("{}: loss {:.3}", input.name, filled.loss));
}

/// The search, a few digits at a time (about 256 candidates make one batch), `bar` moved on
/// after each batch.
fn fill_in_chunks(
    inpainter: &Inpainter,
    digits: &[Vec<f32>],
    mask: &Mask,
    search: &Search,
    bar: Option<&indicatif::ProgressBar>,
) -> Vec<Filled> {
    let chunk = (256 / (search.starts * inpainter.classes().max(1))).max(1);
    let mut filled = Vec::with_capacity(digits.len());
    for digits in digits.chunks(chunk) {
        filled.extend(inpainter.fill(digits, mask, search));
        if let Some(bar) = bar {
            bar.inc(digits.len() as u64);
        }
    }
    filled
}

/// What `--evaluate` measures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Evaluation {
    pub samples: usize,
    pub mask: String,
    pub filled_accuracy: f64,
    pub black_hole_accuracy: f64,
    pub mean_digit_accuracy: f64,
    pub original_accuracy: f64,
    pub filled_hole_mse: f64,
    pub mean_digit_hole_mse: f64,
    pub black_hole_mse: f64,
}

fn evaluate(
    run: &RunDir,
    inpainter: &Inpainter,
    args: &InpaintArgs,
    search: &Search,
) -> Result<()> {
    let judge_dir = args.judge.clone().unwrap_or_else(|| run.file("judge"));
    if !judge_dir.exists() {
        return Err(Error::Usage(format!(
            "{}: no judge; pass --judge CNN_RUN_DIR",
            judge_dir.display()
        )));
    }
    let judge = DigitJudge::load(&RunDir::open(&judge_dir)?)?;
    let data = read_config(run)?.data.reload(&run.file("config.toml"))?;
    let n = args.samples.unwrap_or(DEFAULT_SAMPLES).min(data.test.len());
    let digits: Vec<Vec<f32>> = (0..n).map(|i| data.test.image_f32(i)).collect();
    let labels: Vec<usize> = (0..n).map(|i| data.test.labels[i] as usize).collect();
    let mean = data.train.mean_image();
    let mask = &args.mask;
    let black: Vec<Vec<f32>> = digits
        .iter()
        .map(|d| mask.filled(d, &vec![0.0; PIXELS]))
        .collect();
    let mean_filled: Vec<Vec<f32>> = digits.iter().map(|d| mask.filled(d, &mean)).collect();
    // the bar on stderr with --json, so that stdout stays one object
    let bar = Console::new(args.json).bar(n as u64);
    if let Some(bar) = &bar {
        bar.set_message("digits filled");
    }
    let filled = fill_in_chunks(inpainter, &digits, mask, search, bar.as_ref());
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let filled: Vec<Vec<f32>> = filled.into_iter().map(|f| f.filled).collect();
    let accuracy = |images: &[Vec<f32>]| {
        let judged = judge.judge(images, 10);
        judged
            .classes
            .iter()
            .zip(&labels)
            .filter(|(a, b)| a == b)
            .count() as f64
            / n as f64
    };
    let mse = |images: &[Vec<f32>]| {
        images
            .iter()
            .zip(&digits)
            .map(|(a, b)| mask.hole_mse(a, b))
            .sum::<f64>()
            / n as f64
    };
    let evaluation = Evaluation {
        samples: n,
        mask: mask_name(args),
        filled_accuracy: accuracy(&filled),
        black_hole_accuracy: accuracy(&black),
        mean_digit_accuracy: accuracy(&mean_filled),
        original_accuracy: accuracy(&digits),
        filled_hole_mse: mse(&filled),
        mean_digit_hole_mse: mse(&mean_filled),
        black_hole_mse: mse(&black),
    };
    if args.json {
        print_line(&serde_json::to_string(&evaluation).expect("numbers serialize"));
    } else {
        let e = &evaluation;
        print_line(&format!(
            "{} test digits, hole {}: the judge reads {:.1}% of the filled digits, {:.1}% with the hole black, {:.1}% with the mean digit in it ({:.1}% of the whole digits)",
            e.samples,
            e.mask,
            100.0 * e.filled_accuracy,
            100.0 * e.black_hole_accuracy,
            100.0 * e.mean_digit_accuracy,
            100.0 * e.original_accuracy
        ));
        print_line(&format!(
            "mean squared error in the hole: filled {:.4}, mean digit {:.4}, black {:.4}",
            e.filled_hole_mse, e.mean_digit_hole_mse, e.black_hole_mse
        ));
    }
    Ok(())
}

/// The mask as `--mask` names it: its name when it has one, else `rect:x,y,w,h`.
fn mask_name(args: &InpaintArgs) -> String {
    let m = args.mask;
    [
        "lower-half",
        "upper-half",
        "left-half",
        "right-half",
        "center",
    ]
    .into_iter()
    .find(|name| Mask::parse(name) == Ok(m))
    .map(str::to_string)
    .unwrap_or_else(|| format!("rect:{},{},{},{}", m.x, m.y, m.w, m.h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_are_parsed_and_refused_by_name() {
        let lower = Mask::parse("lower-half").unwrap();
        assert_eq!(
            lower,
            Mask {
                x: 0,
                y: 14,
                w: 28,
                h: 14
            }
        );
        assert!(lower.hides(14, 0) && lower.hides(27, 27) && !lower.hides(13, 27));
        assert_eq!(
            Mask::parse("center").unwrap(),
            Mask {
                x: 7,
                y: 7,
                w: 14,
                h: 14
            }
        );
        assert_eq!(
            Mask::parse("rect:2,3,4,5").unwrap(),
            Mask {
                x: 2,
                y: 3,
                w: 4,
                h: 5
            }
        );
        for (text, says) in [
            ("rect:20,0,9,4", "outside"),
            ("rect:0,0,0,4", "empty"),
            ("rect:0,0,28,28", "whole image"),
            ("rect:1,2,3", "four whole numbers"),
            ("rect:a,2,3,4", "four whole numbers"),
            ("rect:-1,2,3,4", "four whole numbers"),
            ("bottom", "lower-half"),
        ] {
            let err = Mask::parse(text).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn known_pixels_weigh_by_the_share_of_hole_around_them() {
        let mask = Mask::parse("lower-half").unwrap();
        let (known, weight) = (mask.known(), mask.importance());
        assert_eq!(known.iter().sum::<f32>(), 14.0 * 28.0);
        // row 13, column 10: its 7×7 window has rows 10..=16, three of them in the hole
        assert!((weight[13 * 28 + 10] - KNOWN_FLOOR - 3.0 / 7.0).abs() < 1e-6);
        // row 13, column 0: the window is cut to columns 0..=3: 4 wide, still 3 rows of 7 in the hole
        assert!((weight[13 * 28] - KNOWN_FLOOR - 12.0 / 28.0).abs() < 1e-6);
        // far from the hole: the floor; in the hole: no weight
        assert_eq!(weight[5 * 28 + 10], KNOWN_FLOOR);
        assert_eq!(weight[20 * 28 + 10], 0.0);
    }

    #[test]
    fn poisson_blending_keeps_the_fills_strokes_and_removes_its_seam() {
        // a digit-like picture: a smooth bump
        let original: Vec<f32> = (0..PIXELS)
            .map(|i| {
                let (y, x) = ((i / SIDE) as f32 - 14.0, (i % SIDE) as f32 - 14.0);
                0.8 * (-(x * x + y * y) / 40.0).exp()
            })
            .collect();
        // the fill has the original's strokes, 0.15 too bright: pasted, a step at the edge
        let brighter: Vec<f32> = original.iter().map(|p| p + 0.15).collect();
        let mask = Mask::parse("center").unwrap();
        let pasted = mask.filled(&original, &brighter);
        let blended = mask.blended(&original, &brighter);
        assert!((mask.hole_mse(&pasted, &original) - 0.15f64.powi(2)).abs() < 1e-6);
        assert!(
            mask.hole_mse(&blended, &original) < 1e-6,
            "the offset is gone: {}",
            mask.hole_mse(&blended, &original)
        );
        assert_eq!(blended[..7 * 28], original[..7 * 28], "known pixels stay");
    }

    /// An untrained DCGAN's pair: the search needs a generator, not a good one.
    fn untrained(seed: u64) -> Inpainter {
        let device = Device::flex().autodiff();
        device.seed(seed);
        let model = DcganConfig {
            noise_dim: 16,
            classes: 0,
            label_embedding: 0,
            pack: 1,
            spectral_norm: false,
        };
        Inpainter {
            generator: model.generator(&device).freeze(),
            discriminator: model.discriminator(&device).freeze(),
            model,
            device,
        }
    }

    #[test]
    fn the_search_fills_back_a_digit_the_generator_drew() {
        let inpainter = untrained(7);
        let inner = Device::flex();
        // drawn from z on the sphere of radius √16 where the search looks
        let z = crate::train::adversarial::fixed_noise(64, 16, 11, &inner);
        let z = z.clone() * (z.powi_scalar(2).sum_dim(1).sqrt().recip() * 4.0);
        let drawn = to_unit_pixels(
            inpainter
                .generator
                .forward(z.autodiff(), Tensor::zeros([64], &inpainter.device)),
        );
        // the originals: four of its drawings; the baseline: the mean of the 60 others
        let mut mean = vec![0.0f32; PIXELS];
        for d in &drawn[4..] {
            for (m, p) in mean.iter_mut().zip(d) {
                *m += p / 60.0;
            }
        }
        let mask = Mask::parse("lower-half").unwrap();
        let search = Search {
            steps: 150,
            starts: 4,
            digit: None,
            seed: 3,
        };
        let filled = inpainter.fill(&drawn[..4], &mask, &search);
        for (original, f) in drawn.iter().zip(&filled) {
            let (first, last) = (f.losses[0], *f.losses.last().unwrap());
            assert!(last < 0.5 * first, "the loss fell from {first} to {last}");
            let (mse, baseline) = (
                mask.hole_mse(&f.filled, original),
                mask.hole_mse(&mean, original),
            );
            assert!(
                mse < 0.5 * baseline,
                "hole error {mse}, mean drawing's {baseline}"
            );
            // the known half is the original's own
            assert_eq!(f.filled[..14 * 28], original[..14 * 28]);
        }
    }
}
