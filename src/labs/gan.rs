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

use burn::tensor::{Device, Int, Tensor};

use super::{GenerateRequest, Lab, LabInfo, RunOptions};
use crate::data::mnist;
use crate::error::{Error, Result};
use crate::linalg::frechet_distance;
use crate::models::dcgan::{DcganConfig, DcganRunConfig, Generator, train_dcgan};
use crate::report::picture::pixel_grid;
use crate::report::{RunDir, Summary};
use crate::train::Console;
use crate::train::adversarial::{fixed_noise, to_unit_pixels};
use crate::train::classify::{Judge, judge_samples};

pub const INFO: LabInfo = LabInfo {
    name: "gan",
    chapter: "About GAN, Principle (DCGAN)",
    dataset: "mnist-10k",
    shows: "a generator learns to draw digits by fooling a discriminator",
    flags: &["--judge"],
};

// --- Config ------------------------------------------------------------------------------------

/// The run's `config.toml` (shared by the DCGAN labs).
pub type GanConfig = DcganRunConfig;

const EPOCHS: usize = 15;
const QUICK_EPOCHS: usize = 2;
const QUICK_TRAIN: usize = 1000;
/// Samples judged at the end.
const JUDGED: usize = 1000;

// --- Training ----------------------------------------------------------------------------------

pub fn run(options: &RunOptions, run: &RunDir, console: &Console) -> Result<Summary> {
    // the test digits stay whole: they are the reference of the Fréchet distance
    let quick = options.quick.then_some((QUICK_TRAIN, usize::MAX));
    let data = mnist::choose_subset(options.dataset.as_deref(), options.data.as_deref(), quick)?;
    let model = DcganConfig {
        noise_dim: 100,
        classes: 0,
        label_embedding: 0,
    };
    let config = GanConfig::new(INFO.name, options, &data, (EPOCHS, QUICK_EPOCHS), model);
    run.write_toml("config.toml", &config)?;
    let (judge, judge_accuracy) = Lab::judge_for(run, options, console)?;

    let device = options.device.device()?;
    device.seed(config.seed);
    let real: Vec<Vec<f32>> = (0..data.test.len())
        .map(|i| data.test.image_f32(i))
        .collect();
    let real_features = judge_samples(judge.as_ref(), &real, 10).features;
    let untrained = quality(
        judge.as_ref(),
        &config.model.generator(&device),
        &config.model,
        &real_features,
        &device,
    )?;
    console.line(&format!(
        "untrained generator: Fréchet distance {:.2}",
        untrained.frechet
    ));

    let grid_noise = fixed_noise(64, config.model.noise_dim, config.seed ^ 0x64, &device);
    let mut progress_rows = Vec::new();
    let trained = train_dcgan(&config, &data.train, run, console, |epoch, g| {
        // the judge's view after every epoch: how the generator's digits come closer to real ones
        let q = quality(judge.as_ref(), g, &config.model, &real_features, &device)?;
        console.line(&format!(
            "  judge after epoch {epoch}: Fréchet distance {:.1}, mean top-class probability {:.3}, smallest class share {:.3}",
            q.frechet,
            q.mean_top_probability,
            q.class_share.iter().copied().fold(f64::INFINITY, f64::min)
        ));
        let samples = to_unit_pixels(g.forward(grid_noise.clone(), zeros(64, &device)));
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

    let judged = quality(
        judge.as_ref(),
        &trained.generator,
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
    pixel_grid(
        &request.out,
        &samples,
        (28, 28),
        8.min(request.count),
        2,
        None,
    )
}
