//! # Generative adversarial network: a DCGAN ("About GAN", "Principle"), with PacGAN's
//! discriminator against mode collapse
//!
//! Two networks play: the generator G turns noise z ~ N(0, I) into images, the discriminator D
//! tells them from real ones. D minimises BCE(D(x), 1) + BCE(D(G(z)), 0); G minimises
//! BCE(D(G(z)), 1). Adam 2·10⁻⁴, β₁ = 0.5, for both; one D step then one G step per batch,
//! 30 epochs.
//!
//! The plain DCGAN (`--variant dcgan`, Radford et al. 2016) learns to draw digits but drops
//! some: after 30 epochs it draws a 1 in 1.4% of its samples (0.5% after 15), where the data has
//! 11% — mode collapse. The default (`--variant pacgan`, Lin et al., "PacGAN: The power of two
//! samples in generative adversarial networks", NeurIPS 2018) lets D judge pairs of samples,
//! stacked as two channels: a pair of look-alikes gives a collapsed generator away, so dropping
//! digits no longer pays. `--variant sngan` (spectral normalization, Miyato et al. 2018, and
//! the hinge loss) is offered for comparison.
//!
//! Shows a network that learns to draw digits it has never been shown how to draw. Data: the
//! embedded `mnist-10k`. Quality is measured, not eyeballed: a trained `cnn` judges 1,000
//! generated digits — the mean probability of their top class, the share of each class (after
//! every epoch: `class-shares.png`), and the Fréchet distance between its features of generated
//! and of real test digits, against that of the untrained generator.
//! Expected with the defaults (seeds 1, 2, 3): the smallest digit's share 5.9%, 5.3%, 4.4% of the
//! samples (the goal of 5% holds for seeds 1 and 2 and is not robust to the seed: 5.9%, 5.7%, 4.6%
//! read by the judge before its single-channel kernel, 6.1%, 5.0%,
//! 5.4% with the batch norm's sums in the order the threads ran, 5.1%, 4.6%, 4.1% before its
//! one-pass statistics, 6.2%, 4.8%, 3.5% before the tanh and dense kernels, and from 3.1% to
//! 6.8% for seeds 1–6 with the convolutions before 2026-12-07's), Fréchet distance 93, 93, 103
//! against 683, 797, 725 untrained; about 80 s of training on 2 cores.

use burn::tensor::{Device, Int, Tensor};

use super::common::dcgan::{self, DcganLab, DcganRun, load_generator};
use super::common::judge::DigitJudge;
use super::{GenerateRequest, LabInfo, LabSpec, Reference, RunOptions};
use crate::error::{Error, Result};
use crate::linalg::frechet_distance;
use crate::models::dcgan::{DcganConfig, Generator};
use crate::report::picture::pixel_grid;
use crate::report::plot::{Curve, line_chart};
use crate::report::{RunDir, Summary};
use crate::train::Console;
use crate::train::adversarial::{AdversarialLoss, fixed_noise, to_unit_pixels};

pub const INFO: LabInfo = LabInfo {
    name: "gan",
    chapter: "About GAN, Principle (DCGAN)",
    dataset: "mnist-10k",
    shows: "a generator learns to draw digits by fooling a discriminator",
    formula: "min_G max_D E[log D(x)] + E[log(1 − D(G(z)))]",
    reference: Reference {
        dataset: "mnist-10k",
        metric: "frechet_distance",
        expected: 92.7,
        higher_is_better: false,
        compared_with: "the untrained generator: Fréchet distance 683",
    },
};

/// The flags of `neurons run gan`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Options {
    /// A finished cnn run that judges generated digits (default: train one first)
    #[arg(long, value_name = "RUN_DIR")]
    pub judge: Option<std::path::PathBuf>,
    /// The discriminator and the loss (dcgan: the plain DCGAN, whose generator drops the 1s)
    #[arg(long, value_enum, default_value_t)]
    pub variant: Variant,
}

/// What plays against the generator, and how.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Variant {
    /// Radford et al. 2016: D with a batch norm, the BCE loss
    Dcgan,
    /// PacGAN (Lin et al. 2018): D judges pairs of samples, the BCE loss
    #[default]
    Pacgan,
    /// SN-GAN (Miyato et al. 2018): D spectrally normalized, no batch norm, the hinge loss
    Sngan,
}

impl Variant {
    fn loss(self) -> AdversarialLoss {
        match self {
            Self::Dcgan | Self::Pacgan => AdversarialLoss::Bce,
            Self::Sngan => AdversarialLoss::Hinge,
        }
    }

    fn model(self) -> DcganConfig {
        DcganConfig {
            noise_dim: 100,
            classes: 0,
            label_embedding: 0,
            pack: if self == Self::Pacgan { 2 } else { 1 },
            spectral_norm: self == Self::Sngan,
        }
    }
}

pub struct GanLab;

impl LabSpec for GanLab {
    const INFO: LabInfo = INFO;
    type Options = Options;

    fn run(
        options: &RunOptions,
        args: &Options,
        dir: &RunDir,
        console: &Console,
    ) -> Result<Summary> {
        run(options, args, dir, console)
    }

    fn check(options: &RunOptions, args: &Options) -> Result<()> {
        dcgan::check(INFO.name, options, args.judge.as_deref())
    }

    fn generate(dir: &RunDir, request: &GenerateRequest) -> Result<()> {
        generate(dir, request)
    }

    fn serve(dir: &RunDir) -> Result<Box<dyn super::Served>> {
        dcgan::ServedGenerator::load(dir)
    }
}

// --- Config ------------------------------------------------------------------------------------

const EPOCHS: usize = 30;
const QUICK_EPOCHS: usize = 2;
const QUICK_TRAIN: usize = 1000;
/// Samples judged at the end.
const JUDGED: usize = 1000;

// --- Training ----------------------------------------------------------------------------------

pub fn run(
    options: &RunOptions,
    args: &Options,
    run: &RunDir,
    console: &Console,
) -> Result<Summary> {
    let model = args.variant.model();
    let lab = DcganLab {
        name: INFO.name,
        epochs: (EPOCHS, QUICK_EPOCHS),
        quick_train: QUICK_TRAIN,
        model: &|_| model.clone(),
        loss: args.variant.loss(),
    };
    let setup = DcganRun::start(&lab, options, args.judge.as_deref(), run, console)?;
    let (config, judge, device) = (&setup.config, &setup.judge, &setup.device);
    let seed = config.training.seed;
    device.seed(seed);
    let real: Vec<Vec<f32>> = (0..setup.data.test.len())
        .map(|i| setup.data.test.image_f32(i))
        .collect();
    let real_features = judge.judge(&real, 10).features;
    let untrained = quality(
        judge,
        &config.model.generator(device),
        &config.model,
        &real_features,
        device,
    )?;
    console.line(&format!(
        "untrained generator: Fréchet distance {:.2}",
        untrained.frechet
    ));

    let grid_noise = fixed_noise(64, config.model.noise_dim, seed ^ 0x64, device);
    let mut progress_rows = Vec::new();
    let mut shares_by_epoch = vec![untrained.class_share.clone()];
    let trained = setup.train(run, console, |epoch, g| {
        // the judge's view after every epoch: how the generator's digits come closer to real ones
        let q = quality(judge, g, &config.model, &real_features, device)?;
        console.line(&format!(
            "  judge after epoch {epoch}: Fréchet distance {:.1}, mean top-class probability {:.3}, smallest class share {:.3}",
            q.frechet,
            q.mean_top_probability,
            q.class_share.iter().copied().fold(f64::INFINITY, f64::min)
        ));
        shares_by_epoch.push(q.class_share);
        let samples = to_unit_pixels(g.forward(grid_noise.clone(), zeros(64, device)));
        progress_rows.extend(samples.iter().take(8).cloned());
        pixel_grid(
            &run.file(&format!("samples-epoch-{epoch}.png")),
            &samples,
            (28, 28),
            8,
            2,
            None,
        )
    })?;
    pixel_grid(
        &run.file("progress.png"),
        &progress_rows,
        (28, 28),
        8,
        2,
        None,
    )?;

    draw_class_shares(run, &config.model, &shares_by_epoch)?;
    let judged = quality(
        judge,
        &trained.generator,
        &config.model,
        &real_features,
        device,
    )?;
    console.line(&format!(
        "generated digits: Fréchet distance {:.2} (untrained {:.2}), mean top-class probability {:.3}, smallest class share {:.3}",
        judged.frechet,
        untrained.frechet,
        judged.mean_top_probability,
        judged.class_share.iter().copied().fold(f64::INFINITY, f64::min)
    ));
    let mut metrics = std::collections::BTreeMap::from([
        ("frechet_distance".to_string(), judged.frechet),
        ("frechet_distance_untrained".to_string(), untrained.frechet),
        (
            "mean_top_class_probability".to_string(),
            judged.mean_top_probability,
        ),
    ]);
    for (k, share) in judged.class_share.iter().enumerate() {
        metrics.insert(format!("class_share_{k}"), *share);
    }
    let parameters = [("class_share".to_string(), judged.class_share.clone())].into();
    Ok(setup.summary(&trained, metrics, parameters))
}

/// What the run's discriminator and loss are, in a few words.
fn variant_name(model: &DcganConfig) -> String {
    if model.spectral_norm {
        "SN-GAN, hinge loss".to_string()
    } else if model.pack > 1 {
        format!("PacGAN{}", model.pack)
    } else {
        "DCGAN".to_string()
    }
}

fn zeros(n: usize, device: &Device) -> Tensor<1, Int> {
    Tensor::zeros([n], device)
}

struct Quality {
    frechet: f64,
    mean_top_probability: f64,
    class_share: Vec<f64>,
}

/// How the judge sees `JUDGED` samples of `generator` (from seeded noise).
fn quality(
    judge: &DigitJudge,
    generator: &Generator,
    model: &DcganConfig,
    real_features: &[Vec<f64>],
    device: &Device,
) -> Result<Quality> {
    let noise = fixed_noise(JUDGED, model.noise_dim, 0x0DD5, device);
    let samples = to_unit_pixels(generator.forward(noise, zeros(JUDGED, device)));
    let judged = judge.judge(&samples, 10);
    Ok(Quality {
        frechet: frechet_distance(&judged.features, real_features)?,
        mean_top_probability: judged.mean_top_probability,
        class_share: judged.class_share,
    })
}

/// `class-shares.csv` and `class-shares.png`: the share of each digit among the judged samples
/// after each epoch (epoch 0: untrained), where mode collapse shows as a digit that fades away.
fn draw_class_shares(
    run: &RunDir,
    model: &DcganConfig,
    shares_by_epoch: &[Vec<f64>],
) -> Result<()> {
    let mut csv = String::from("epoch");
    for k in 0..10 {
        csv.push_str(&format!(",share_{k}"));
    }
    csv.push('\n');
    for (epoch, shares) in shares_by_epoch.iter().enumerate() {
        csv.push_str(&epoch.to_string());
        for share in shares {
            csv.push_str(&format!(",{share:.4}"));
        }
        csv.push('\n');
    }
    run.write_bytes("class-shares.csv", csv.as_bytes())?;
    let mut curves: Vec<Curve> = (0..10)
        .map(|k| Curve {
            label: format!("digit {k}"),
            points: shares_by_epoch
                .iter()
                .enumerate()
                .map(|(epoch, shares)| (epoch as f64, shares[k]))
                .collect(),
        })
        .collect();
    curves.push(Curve {
        label: "5% floor".to_string(),
        points: vec![(0.0, 0.05), ((shares_by_epoch.len() - 1) as f64, 0.05)],
    });
    line_chart(
        &run.file("class-shares.png"),
        &format!(
            "gan ({}): each digit's share of {JUDGED} samples",
            variant_name(model)
        ),
        "epoch",
        "share (the cnn judge)",
        &curves,
    )
}

// --- Generate ----------------------------------------------------------------------------------

pub fn generate(run: &RunDir, request: &GenerateRequest) -> Result<()> {
    if request.digit.is_some() || request.z.is_some() {
        return Err(Error::Usage(
            "a GAN draws from random noise: use --count N (for a chosen digit, train a cgan)"
                .to_string(),
        ));
    }
    let (config, generator, device) = load_generator(run)?;
    let noise = fixed_noise(request.count, config.model.noise_dim, request.seed, &device);
    let samples = to_unit_pixels(generator.forward(noise, zeros(request.count, &device)));
    pixel_grid(
        &request.out,
        &samples,
        (28, 28),
        8.min(request.count),
        2,
        None,
    )
}
