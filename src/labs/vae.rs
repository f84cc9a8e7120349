//! # Variational autoencoder with a 2-D latent space (FIDLE VAE1–3)
//!
//! The encoder maps an image x to a Gaussian q(z|x) = N(μ(x), σ²(x)) in two dimensions; the
//! reparameterisation trick z = μ + σ·ε, ε ~ N(0, I), keeps the sampling differentiable; the
//! decoder maps z back to the 28×28 pixels p(x|z). Per image, the loss is
//!
//!   L = BCE(x, x̂) + β·KL,   BCE = −Σₚ [xₚ log x̂ₚ + (1 − xₚ) log(1 − x̂ₚ)],
//!   KL(q ‖ N(0, I)) = −½ Σⱼ (1 + log σⱼ² − μⱼ² − σⱼ²).
//!
//! Shows that a network can learn a map of the digits it can walk and draw from. Data: the
//! embedded `mnist-10k` by default. Network: the `vae_train` workload of the benchmark (four
//! convolutions down to 7×7, dense 16, heads μ and log σ²; the mirror image up). Expected: a test
//! total of 156 per image on `mnist-10k` after the default 10 epochs (reconstruction 150, KL 6;
//! seeds 2 and 3: 155.7 and 164.7; about 30 s on 2 cores; a 2-D VAE reaches about 150 on the full
//! MNIST after 30; figures of 2 cores); the latent map separates 0, 1, 6 and 7 clearly. On the
//! CPU each batch is cut into one shard per thread, each shard's step on a graph of its own
//! (`train::sharded`).

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::{GenerateRequest, LabInfo, LabSpec, Reference, RunOptions, TrainingArgs};
use crate::data::images::{ImageBatch, ImageDataset, ImageShape, images_tensor};
use crate::data::mnist;
use crate::data::mnist::DataConfig;
use crate::error::{Error, Result};
use crate::models::vae::{Vae, VaeModelConfig, latent_noise};
use crate::report::config::VERSION;
use crate::report::picture::pixel_grid;
use crate::report::plot::{PointGroup, Scatter, learning_curves, scatter_chart};
use crate::report::{MetricsLog, RunDir, Summary};
use crate::train::Console;
use crate::train::FloatValues;
use crate::train::config::TrainingConfig;
use crate::train::config::TrainingDefaults;
use crate::train::fit::{BatchOutcome, Shard, Supervised, train_model};
use crate::train::sharded::{ranges, shard_count};

pub const INFO: LabInfo = LabInfo {
    name: "vae",
    chapter: "Variational Autoencoder network (FIDLE VAE1-3)",
    dataset: "mnist-10k",
    shows: "digits encoded into a 2-D latent space that can be drawn, walked and decoded",
    formula: "L = BCE(x, x̂) + β·KL(N(μ, σ²) ‖ N(0, I)),  z = μ + σ·ε",
    reference: Reference {
        dataset: "mnist-10k",
        metric: "loss",
        expected: 155.7,
        higher_is_better: false,
        compared_with: "about 150 for a 2-D VAE on the full MNIST after 30 epochs",
    },
};

/// The flags of `neurons run vae`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Options {
    #[command(flatten)]
    pub training: TrainingArgs,
    /// Weight β of the KL term of the VAE's loss
    #[arg(long, allow_negative_numbers = true)]
    pub beta: Option<f64>,
}

pub struct VaeLab;

impl LabSpec for VaeLab {
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
        args.training.validate()?;
        if let Some(beta) = args.beta
            && !(beta.is_finite() && beta >= 0.0)
        {
            return Err(Error::Usage(format!("--beta {beta}: must be a number ≥ 0")));
        }
        mnist::check_choice(
            options.dataset.as_deref(),
            options.data.as_deref(),
            INFO.name,
            ImageShape::Exactly(28, 28),
        )
    }

    fn resume(dir: &RunDir, console: &Console) -> Result<Summary> {
        resume(dir, console)
    }

    fn generate(dir: &RunDir, request: &GenerateRequest) -> Result<()> {
        generate(dir, request)
    }

    fn serve(dir: &RunDir) -> Result<Box<dyn super::Served>> {
        let config = read_config(dir)?;
        let device = Device::flex();
        let model = dir.load_weights("model.bpk", config.model.init(&device))?;
        Ok(Box::new(LatentPlane {
            model,
            latent_dim: config.model.latent_dim,
            device,
        }))
    }
}

/// A VAE kept for `neurons serve`: a point of the latent plane, the digit decoded from it.
struct LatentPlane {
    model: Vae,
    latent_dim: usize,
    device: Device,
}

/// How far from the origin the page may ask: the prior N(0, I) puts almost nothing beyond 3.
const LATENT_REACH: f32 = 10.0;

impl super::Served for LatentPlane {
    fn kind(&self) -> &'static str {
        "latent-plane"
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({ "latent_dim": self.latent_dim, "range": 3.0 })
    }

    /// `{"z": [z1, z2]}` → `{"pixels": [784 values in 0..1]}`.
    fn answer(&self, request: &serde_json::Value) -> Result<serde_json::Value> {
        let z = super::common::serve::floats(request, "z", self.latent_dim)?;
        if z.len() != self.latent_dim || z.iter().any(|v| v.abs() > LATENT_REACH) {
            return Err(Error::Usage(format!(
                "\"z\": {} numbers within ±{LATENT_REACH} are expected",
                self.latent_dim
            )));
        }
        let pixels = decode(&self.model, &[z], &self.device)
            .pop()
            .unwrap_or_default();
        Ok(serde_json::json!({ "pixels": pixels }))
    }
}

// --- Config ------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaeConfig {
    pub lab: String,
    pub neurons_version: String,
    pub data: DataConfig,
    pub training: TrainingConfig,
    pub model: VaeModelConfig,
}

const DEFAULTS: TrainingDefaults = TrainingDefaults::adam(10, 2, 64);
const QUICK_TRAIN: usize = 1000;
const QUICK_TEST: usize = 500;

// --- Training ----------------------------------------------------------------------------------

/// The VAE as a task of the shared loop: the "batch loss" is the mean per-image loss.
struct VaeTask<'a> {
    data: &'a ImageDataset,
    train: std::sync::Arc<crate::data::images::ImageSet>,
    beta: f64,
    latent_dim: usize,
}

const METRICS: [&str; 2] = ["reconstruction", "kl"];

impl VaeTask<'_> {
    /// (mean loss, Σ reconstruction, Σ KL) of a batch, with the noise ε of its images when
    /// drawn before (a shard of a batch), else drawn here.
    fn losses(
        &self,
        model: &Vae,
        images: Tensor<4>,
        noise: Option<Tensor<2>>,
    ) -> (Tensor<1>, f64, f64) {
        let (reconstruction, kl) = model.losses(images, noise);
        let sums = (
            reconstruction.clone().sum().into_scalar::<f32>() as f64,
            kl.clone().sum().into_scalar::<f32>() as f64,
        );
        let loss = (reconstruction + kl * self.beta).mean();
        (loss, sums.0, sums.1)
    }

    /// What the fit loop takes of a batch or of a shard: [`Self::losses`] with the size.
    fn outcome(&self, model: &Vae, images: Tensor<4>, noise: Option<Tensor<2>>) -> BatchOutcome {
        let size = images.dims()[0];
        let (loss, reconstruction, kl) = self.losses(model, images, noise);
        BatchOutcome {
            loss,
            size,
            sums: vec![reconstruction, kl],
        }
    }
}

impl Supervised for VaeTask<'_> {
    type Model = Vae;
    type Batch = ImageBatch;

    fn metric_names(&self) -> &'static [&'static str] {
        &METRICS
    }

    fn train_len(&self) -> usize {
        self.train.len()
    }

    fn train_loader(
        &self,
        batch_size: usize,
        shuffle_seed: u64,
        device: &Device,
    ) -> std::sync::Arc<dyn burn::data::dataloader::DataLoader<ImageBatch>> {
        crate::data::images::image_loader(
            self.train.clone(),
            batch_size,
            Some(shuffle_seed),
            device,
        )
    }

    fn batch(&self, model: &Vae, batch: ImageBatch) -> BatchOutcome {
        self.outcome(model, batch.images, None)
    }

    /// The images' noise drawn first, for the whole batch, as [`crate::models::vae::reparameterize`] would draw it.
    fn split(&self, batch: &ImageBatch) -> Option<Vec<Shard<'_, Vae>>> {
        let (size, device) = (batch.images.dims()[0], batch.images.device());
        let parts = shard_count(size, &device);
        if parts < 2 {
            return None;
        }
        let noise = latent_noise(size, self.latent_dim, &device);
        let shards = ranges(size, parts).into_iter().map(|(first, len)| {
            let images = batch.images.clone().narrow(0, first, len);
            let noise = noise.clone().narrow(0, first, len);
            Shard {
                size: len,
                outcome: Box::new(move |model: &Vae| self.outcome(model, images, Some(noise))),
            }
        });
        Some(shards.collect())
    }

    fn finish(&self, sums: &[f64], samples: usize) -> Vec<f64> {
        sums.iter().map(|s| s / samples.max(1) as f64).collect()
    }

    fn validate(&self, model: &Vae, device: &Device) -> Result<(f64, Vec<f64>)> {
        let test = std::sync::Arc::new(self.data.test.clone());
        let loader = crate::data::images::image_loader(test, 250, None, &device.clone().inner());
        let (mut reconstruction, mut kl) = (0.0, 0.0);
        for batch in loader.iter() {
            let batch = batch.map_err(|e| Error::DataLoader(e.to_string()))?;
            let (_, r, k) = self.losses(model, batch.images, None);
            reconstruction += r;
            kl += k;
        }
        let n = self.data.test.len().max(1) as f64;
        Ok((
            (reconstruction + self.beta * kl) / n,
            vec![reconstruction / n, kl / n],
        ))
    }
}

pub fn run(
    options: &RunOptions,
    args: &Options,
    run: &RunDir,
    console: &Console,
) -> Result<Summary> {
    let quick = options.quick.then_some((QUICK_TRAIN, QUICK_TEST));
    let data = mnist::choose_subset(options.dataset.as_deref(), options.data.as_deref(), quick)?;
    let beta = args.beta.unwrap_or(1.0);
    let config = VaeConfig {
        lab: INFO.name.to_string(),
        neurons_version: VERSION.to_string(),
        data: DataConfig::of(&data),
        training: options.training(&args.training, &DEFAULTS),
        model: VaeModelConfig {
            latent_dim: 2,
            beta,
        },
    };
    run.write_toml("config.toml", &config)?;
    train(&config, &data, run, console, false)
}

/// A run's `config.toml`, its `[model]` table checked before any tensor is built.
fn read_config(run: &RunDir) -> Result<VaeConfig> {
    let config: VaeConfig = run.read_toml("config.toml")?;
    config.training.validate(&run.file("config.toml"))?;
    config.model.validate().map_err(|reason| Error::BadRunDir {
        path: run.file("config.toml"),
        reason,
    })?;
    Ok(config)
}

pub fn resume(run: &RunDir, console: &Console) -> Result<Summary> {
    let config = read_config(run)?;
    let data = config.data.reload(&run.file("config.toml"))?;
    train(&config, &data, run, console, true)
}

fn train(
    config: &VaeConfig,
    data: &ImageDataset,
    run: &RunDir,
    console: &Console,
    resume: bool,
) -> Result<Summary> {
    let training = &config.training;
    console.line(&format!(
        "{}: {} train / {} test images from {}, {} epochs of batches of {}, β = {}",
        INFO.name,
        data.train.len(),
        data.test.len(),
        data.name,
        training.epochs,
        training.batch_size,
        config.model.beta
    ));
    let task = VaeTask {
        data,
        train: std::sync::Arc::new(data.train.clone()),
        beta: config.model.beta,
        latent_dim: config.model.latent_dim,
    };
    let (trained, device) = train_model(
        &task,
        training,
        |device| config.model.init(device),
        run,
        console,
        resume,
    )?;
    let model = &trained.model;

    let (loss, values) = task.validate(model, &device)?;
    draw(run, model, data, &trained.log, &device)?;
    let metrics = [
        ("loss".to_string(), loss),
        ("reconstruction".to_string(), values[0]),
        ("kl".to_string(), values[1]),
    ];
    Ok(trained.summary(INFO.name, &data.name, training, metrics.into()))
}

// --- Generate ----------------------------------------------------------------------------------

/// `neurons generate --run DIR --z X,Y --out FILE.png`: decodes one latent point.
pub fn generate(run: &RunDir, request: &GenerateRequest) -> Result<()> {
    if request.digit.is_some() {
        return Err(Error::Usage(
            "a VAE is not conditioned on a digit: use --z X,Y".to_string(),
        ));
    }
    let config = read_config(run)?;
    let device = Device::flex();
    let model = run.load_weights("model.bpk", config.model.init(&device))?;
    let z = request
        .z
        .clone()
        .unwrap_or_else(|| vec![0.0; config.model.latent_dim]);
    if z.len() != config.model.latent_dim || z.iter().any(|v| v.abs() > LATENT_REACH as f64) {
        return Err(Error::Usage(format!(
            "--z: the latent space has {} dimensions ({} given), each within ±{LATENT_REACH}",
            config.model.latent_dim,
            z.len()
        )));
    }
    let zs = vec![z.iter().map(|&v| v as f32).collect::<Vec<f32>>(); request.count.max(1)];
    let pixels = decode(&model, &zs, &device);
    pixel_grid(
        &request.out,
        &pixels,
        (28, 28),
        pixels.len().min(8),
        8,
        None,
    )
}

fn decode(model: &Vae, zs: &[Vec<f32>], device: &Device) -> Vec<Vec<f32>> {
    let flat: Vec<f32> = zs.iter().flatten().copied().collect();
    let z = Tensor::<2>::from_data(
        burn::tensor::TensorData::new(flat, [zs.len(), zs[0].len()]),
        device,
    );
    let values: Vec<f32> = model.decode(z).floats();
    values.chunks(784).map(<[f32]>::to_vec).collect()
}

// --- Pictures ----------------------------------------------------------------------------------

/// The quantile function of N(0, 1), by Acklam's rational approximation (relative error below
/// 1.2·10⁻⁹). Written here because it is the only function of a statistics crate this lab needs.
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// The 15×15 points of the latent plane at the Gaussian quantiles 0.01…0.99, row by row from
/// the top (largest z₂) — the slide's "Generate images from latent space".
pub fn latent_grid(side: usize) -> Vec<Vec<f32>> {
    let quantiles: Vec<f64> = (0..side)
        .map(|i| normal_quantile(0.01 + 0.98 * i as f64 / (side - 1) as f64))
        .collect();
    quantiles
        .iter()
        .rev()
        .flat_map(|&z2| quantiles.iter().map(move |&z1| vec![z1 as f32, z2 as f32]))
        .collect()
}

fn draw(
    run: &RunDir,
    model: &Vae,
    data: &ImageDataset,
    log: &MetricsLog,
    device: &Device,
) -> Result<()> {
    learning_curves(
        &run.file("loss.png"),
        "VAE: loss per image (reconstruction + β·KL)",
        "loss",
        log,
        None,
    )?;

    // the latent projection of the test digits
    let test: Vec<Vec<f32>> = (0..data.test.len())
        .map(|i| data.test.image_f32(i))
        .collect();
    let mut means = Vec::with_capacity(test.len());
    for chunk in test.chunks(500) {
        let (mu, _) = model.encode(images_tensor(chunk, 28, 28, device));
        let values: Vec<f32> = mu.floats();
        means.extend(values.chunks(2).map(|c| (c[0] as f64, c[1] as f64)));
    }
    let mut plot = Scatter::new("VAE: the test digits in the latent space (μ)", "z₁", "z₂");
    for (c, name) in data.classes.iter().enumerate() {
        let points = means
            .iter()
            .zip(&data.test.labels)
            .filter(|(_, l)| **l as usize == c)
            .map(|(p, _)| *p)
            .collect();
        plot.groups.push(PointGroup {
            label: name.clone(),
            points,
        });
    }
    scatter_chart(&run.file("latent-space.png"), &plot)?;

    // digits decoded from the latent plane
    let decoded = decode(model, &latent_grid(15), device);
    pixel_grid(
        &run.file("latent-grid.png"),
        &decoded,
        (28, 28),
        15,
        2,
        None,
    )?;

    // ten originals above their reconstructions (decoded from μ)
    let originals = &test[..test.len().min(10)];
    let (mu, _) = model.encode(images_tensor(originals, 28, 28, device));
    let mu_rows: Vec<f32> = mu.floats();
    let rebuilt = decode(
        model,
        &mu_rows.chunks(2).map(<[f32]>::to_vec).collect::<Vec<_>>(),
        device,
    );
    let pixels: Vec<Vec<f32>> = originals.iter().chain(rebuilt.iter()).cloned().collect();
    pixel_grid(
        &run.file("reconstructions.png"),
        &pixels,
        (28, 28),
        originals.len(),
        3,
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::vae::{kl_divergence, reconstruction_bce};
    use rand::SeedableRng;
    use rand_distr::{Distribution as _, StandardNormal};

    /// The lab's step on shards (its `split`, then the loop's `step_on_shards`) is the whole
    /// batch's step: the same noise, the same loss and sums, the same gradients up to rounding.
    #[test]
    fn a_batch_cut_into_shards_steps_as_the_whole_batch() {
        use crate::data::images::ImageSet;
        use crate::train::fit::step_on_shards;
        use crate::train::sharded::largest_relative_difference;
        use burn::optim::GradientsParams;

        let device = Device::flex().autodiff();
        device.seed(5);
        let model = VaeModelConfig {
            latent_dim: 2,
            beta: 1.0,
        }
        .init(&device);
        let empty = ImageSet {
            rows: 28,
            cols: 28,
            pixels: vec![],
            labels: vec![],
        };
        let data = ImageDataset {
            name: "none".into(),
            origin: "none".into(),
            classes: vec![],
            train: empty.clone(),
            test: empty.clone(),
            folder: None,
        };
        let task = VaeTask {
            data: &data,
            train: std::sync::Arc::new(empty),
            beta: 1.0,
            latent_dim: 2,
        };
        let images = Tensor::<4>::random(
            [48, 1, 28, 28],
            burn::tensor::Distribution::Uniform(0.0, 1.0),
            &device,
        );
        let batch = ImageBatch {
            images,
            targets: Tensor::zeros([48], &device),
        };

        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        device.seed(9);
        let (loss, size, sums, sharded) = pool.install(|| {
            let shards = task.split(&batch).expect("two threads cut a batch of 48");
            assert_eq!(
                shards.iter().map(|s| s.size).collect::<Vec<_>>(),
                vec![24, 24]
            );
            step_on_shards(&model, shards)
        });
        device.seed(9);
        let whole = task.batch(&model, batch);
        let whole_loss = whole.loss.clone().into_scalar::<f32>();
        let whole_grads = GradientsParams::from_grads(whole.loss.backward(), &model);

        assert_eq!(size, 48);
        assert_eq!(sums.len(), whole.sums.len());
        assert!(
            (loss - whole_loss).abs() <= 1e-5 * whole_loss,
            "{loss} against {whole_loss}"
        );
        for (a, b) in sums.iter().zip(&whole.sums) {
            assert!(
                (a - b).abs() <= 1e-5 * b.abs(),
                "sums {sums:?} against {:?}",
                whole.sums
            );
        }
        let difference = largest_relative_difference(&model, &whole_grads, &sharded);
        assert!(difference < 1e-4, "gradients apart by {difference}");
    }

    #[test]
    fn the_analytic_kl_matches_a_monte_carlo_estimate() {
        let device = Device::flex();
        let (mu, log_var) = ([0.7f32, -1.2], [-0.5f32, 0.8]);
        let analytic = kl_divergence(
            Tensor::<2>::from_floats([mu], &device),
            Tensor::<2>::from_floats([log_var], &device),
        )
        .into_scalar::<f32>() as f64;
        // E_q[log q(z) − log p(z)] over samples z ~ q = N(μ, σ²)
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let n = 200_000;
        let mut sum = 0.0;
        for _ in 0..n {
            for j in 0..2 {
                let (m, s) = (mu[j] as f64, (0.5 * log_var[j] as f64).exp());
                let e: f64 = StandardNormal.sample(&mut rng);
                let z = m + s * e;
                let log_q = -0.5 * e * e - s.ln();
                let log_p = -0.5 * z * z;
                sum += log_q - log_p;
            }
        }
        let monte_carlo = sum / n as f64;
        assert!(
            (analytic - monte_carlo).abs() < 0.02,
            "{analytic} vs {monte_carlo}"
        );
    }

    #[test]
    fn bce_from_logits_matches_the_formula() {
        let device = Device::flex();
        let logits = [0.3f32, -2.0, 4.0, 0.0];
        let x = [1.0f32, 0.25, 0.0, 0.5];
        let value = reconstruction_bce(
            Tensor::<4>::from_floats([[[logits]]], &device),
            Tensor::<4>::from_floats([[[x]]], &device),
        )
        .into_scalar::<f32>() as f64;
        let expected: f64 = logits
            .iter()
            .zip(x)
            .map(|(&l, x)| {
                let p = 1.0 / (1.0 + (-(l as f64)).exp());
                -(x as f64 * p.ln() + (1.0 - x as f64) * (1.0 - p).ln())
            })
            .sum();
        assert!((value - expected).abs() < 1e-4, "{value} vs {expected}");
    }

    #[test]
    fn normal_quantiles_are_right() {
        assert!(normal_quantile(0.5).abs() < 1e-12);
        assert!((normal_quantile(0.975) - 1.959963985).abs() < 1e-7);
        assert!((normal_quantile(0.01) + 2.326347874).abs() < 1e-7);
    }
}
