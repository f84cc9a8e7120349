//! # Generative adversarial network: a DCGAN ("About GAN", "Principle")
//!
//! Two networks play: the generator G turns noise z ~ N(0, I) into images, the discriminator D
//! tells them from real ones. D minimises BCE(D(x), 1) + BCE(D(G(z)), 0); G minimises
//! BCE(D(G(z)), 1). Adam 2·10⁻⁴, β₁ = 0.5, for both; one D step then one G step per batch.
//!
//! Shows a network that learns to draw digits it has never been shown how to draw. Data: the
//! embedded `mnist-10k`. Quality is measured, not eyeballed: a trained `cnn` judges 1,000
//! generated digits — the mean probability of their top class, the share of each class, and the
//! Fréchet distance between its features of generated and of real test digits, against that of
//! the untrained generator.

use burn::module::Module;
use burn::optim::AdamConfig;
use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};

use super::{GenerateRequest, Lab, LabInfo, RunOptions};
use crate::data::mnist;
use crate::error::{Error, Result};
use crate::linalg::frechet_distance;
use crate::models::dcgan::{DcganConfig, DcganTask, Generator};
use crate::report::config::{DataConfig, VERSION};
use crate::report::picture::{GreyImage, image_grid};
use crate::report::plot::{Curve, line_chart};
use crate::report::{RunDir, Summary};
use crate::train::Console;
use crate::train::adversarial::{
    AdversarialSettings, fixed_noise, to_unit_pixels, train_adversarial,
};
use crate::train::classify::{Judge, judge_samples};

pub const INFO: LabInfo = LabInfo {
    name: "gan",
    chapter: "About GAN, Principle (DCGAN)",
    dataset: "mnist-10k",
    shows: "a generator learns to draw digits by fooling a discriminator",
    flags: &["--judge"],
};

// --- Config ------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GanConfig {
    pub lab: String,
    pub neurons_version: String,
    pub data: DataConfig,
    pub seed: u64,
    pub device: String,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub model: DcganConfig,
}

const EPOCHS: usize = 15;
const QUICK_EPOCHS: usize = 2;
const QUICK_TRAIN: usize = 1000;
const BATCH_SIZE: usize = 64;
const LEARNING_RATE: f64 = 2e-4;
/// Samples judged at the end.
const JUDGED: usize = 1000;

// --- Training ----------------------------------------------------------------------------------

pub fn run(options: &RunOptions, run: &RunDir, console: &Console) -> Result<Summary> {
    let mut data = mnist::choose(options.dataset.as_deref(), options.data.as_deref())?;
    if options.quick {
        data.train = data.train.truncated(QUICK_TRAIN);
    }
    let config = GanConfig {
        lab: INFO.name.to_string(),
        neurons_version: VERSION.to_string(),
        data: DataConfig {
            dataset: data.name.clone(),
            origin: data.origin.clone(),
            train_samples: data.train.len(),
            test_samples: data.test.len(),
        },
        seed: options.seed,
        device: options.device.to_string(),
        epochs: options
            .epochs
            .unwrap_or(if options.quick { QUICK_EPOCHS } else { EPOCHS }),
        batch_size: options.batch_size.unwrap_or(BATCH_SIZE),
        learning_rate: options.lr.unwrap_or(LEARNING_RATE),
        model: DcganConfig {
            noise_dim: 100,
            classes: 0,
            label_embedding: 0,
        },
    };
    run.write_toml("config.toml", &config)?;
    let (judge, judge_accuracy) = Lab::judge_for(run, options, console)?;

    let device = options.device.device()?;
    device.seed(config.seed);
    let autodiff = device.clone().autodiff();
    let generator = config.model.generator(&autodiff);
    let discriminator = config.model.discriminator(&autodiff);
    let real: Vec<Vec<f32>> = (0..data.test.len())
        .map(|i| data.test.image_f32(i))
        .collect();
    let real_features = judge_samples(judge.as_ref(), &real, 10).features;
    let untrained = quality(
        judge.as_ref(),
        &generator.valid(),
        &config.model,
        &real_features,
        &device,
    )?;
    console.line(&format!(
        "untrained generator: Fréchet distance {:.2}",
        untrained.frechet
    ));

    let adam = || AdamConfig::new().with_beta_1(0.5).with_epsilon(1e-8).init();
    let settings = AdversarialSettings {
        epochs: config.epochs,
        batch_size: config.batch_size,
        learning_rate: config.learning_rate,
        noise_dim: config.model.noise_dim,
        seed: config.seed,
    };
    let grid_noise = fixed_noise(64, config.model.noise_dim, config.seed ^ 0x64, &device);
    let mut progress_rows = Vec::new();
    let trained = train_adversarial(
        &DcganTask,
        generator,
        discriminator,
        adam(),
        adam(),
        &data.train,
        &settings,
        &autodiff,
        console,
        |epoch, g| {
            let samples = to_unit_pixels(g.valid().forward(grid_noise.clone(), zeros(64, &device)));
            progress_rows.extend(samples.iter().take(8).cloned());
            draw_grid(
                &run.file(&format!("samples-epoch-{epoch}.png")),
                &samples,
                8,
            )
        },
    )?;
    trained.log.write(run)?;
    let generator = trained.generator.valid();
    run.save_weights("generator.bpk", &generator)?;
    run.save_weights("discriminator.bpk", &trained.discriminator.valid())?;

    let judged = quality(
        judge.as_ref(),
        &generator,
        &config.model,
        &real_features,
        &device,
    )?;
    console.line(&format!(
        "generated digits: Fréchet distance {:.2} (untrained {:.2}), mean top-class probability {:.3}, smallest class share {:.3}",
        judged.frechet,
        untrained.frechet,
        judged.mean_top_probability,
        judged.class_share.iter().copied().fold(f64::INFINITY, f64::min)
    ));
    draw_grid(&run.file("progress.png"), &progress_rows, 8)?;
    let curves = ["discriminator_loss", "generator_loss"].map(|m| Curve {
        label: m.to_string(),
        points: trained
            .log
            .series(crate::report::metrics::Split::Train, Some(m)),
    });
    line_chart(
        &run.file("loss.png"),
        "GAN: losses of both networks",
        "epoch",
        "BCE",
        &curves,
    )?;

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
    if let Some(a) = judge_accuracy {
        metrics.insert("judge_accuracy".to_string(), a);
    }
    Ok(Summary {
        lab: INFO.name.to_string(),
        dataset: data.name.clone(),
        seed: config.seed,
        device: config.device.clone(),
        epochs: config.epochs,
        train_seconds: trained.train_seconds,
        samples_per_second: trained.samples_seen as f64 / trained.train_seconds.max(1e-9),
        metrics,
        parameters: [("class_share".to_string(), judged.class_share.clone())].into(),
    })
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
    judge: &dyn Judge,
    generator: &Generator,
    model: &DcganConfig,
    real_features: &[Vec<f64>],
    device: &Device,
) -> Result<Quality> {
    let noise = fixed_noise(JUDGED, model.noise_dim, 0x0DD5, device);
    let samples = to_unit_pixels(generator.forward(noise, zeros(JUDGED, device)));
    let judged = judge_samples(judge, &samples, 10);
    Ok(Quality {
        frechet: frechet_distance(&judged.features, real_features)?,
        mean_top_probability: judged.mean_top_probability,
        class_share: judged.class_share,
    })
}

// --- Generate ----------------------------------------------------------------------------------

pub fn generate(run: &RunDir, request: &GenerateRequest) -> Result<()> {
    if request.digit.is_some() || request.z.is_some() {
        return Err(Error::Usage(
            "a GAN draws from random noise: use --count N (for a chosen digit, train a cgan)"
                .to_string(),
        ));
    }
    let config: GanConfig = run.read_toml("config.toml")?;
    let device = Device::flex();
    let generator = run.load_weights("generator.bpk", config.model.generator(&device))?;
    let noise = fixed_noise(request.count, config.model.noise_dim, request.seed, &device);
    let samples = to_unit_pixels(generator.forward(noise, zeros(request.count, &device)));
    draw_grid(&request.out, &samples, 8.min(request.count))
}

// --- Pictures ----------------------------------------------------------------------------------

fn draw_grid(path: &std::path::Path, samples: &[Vec<f32>], columns: usize) -> Result<()> {
    let images: Vec<GreyImage> = samples
        .iter()
        .map(|p| GreyImage {
            width: 28,
            height: 28,
            pixels: p,
        })
        .collect();
    image_grid(path, &images, columns, 2, None)
}
