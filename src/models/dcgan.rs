//! The DCGAN of the benchmark's `gan_train` workload (Radford et al. 2016), optionally conditioned
//! on a label (Mirza and Osindero 2014): a label embedding concatenated to the generator's noise,
//! and to the discriminator's input as a second image channel.
//!
//! Generator: Linear noise→128·7·7, reshaped to 128×7×7, BatchNorm, ReLU, ConvT 128→64 4×4 s2 (→14×14), BatchNorm,
//! ReLU, ConvT 64→1 4×4 s2 (→28×28), tanh.
//! Discriminator: Conv 1→64 4×4 s2 (→14×14), LeakyReLU 0.2, Conv 64→128 4×4 s2 (→7×7), BatchNorm,
//! LeakyReLU 0.2, Linear 128·7·7→1.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Embedding, EmbeddingConfig, LeakyRelu, LeakyReluConfig, Linear,
    LinearConfig, PaddingConfig2d, Relu,
};
use burn::tensor::activation::tanh;
use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};

use crate::kernels::{
    batch_norm_leaky_relu, batch_norm_relu, conv_transpose2d, conv2d, conv2d_leaky_relu,
};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DcganConfig {
    pub noise_dim: usize,
    /// Number of label classes to condition on; 0 for an unconditional GAN.
    pub classes: usize,
    /// Size of the label embedding concatenated to the noise.
    pub label_embedding: usize,
}

#[derive(Module, Debug)]
pub struct Generator {
    label: Option<Embedding>,
    dense: Linear,
    norm0: BatchNorm,
    deconv1: ConvTranspose2d,
    norm1: BatchNorm,
    deconv2: ConvTranspose2d,
    activation: Relu,
}

#[derive(Module, Debug)]
pub struct Discriminator {
    label: Option<Embedding>,
    conv1: Conv2d,
    conv2: Conv2d,
    norm: BatchNorm,
    dense: Linear,
    activation: LeakyRelu,
}

impl DcganConfig {
    fn conditional(&self) -> bool {
        self.classes > 0
    }

    pub fn generator(&self, device: &Device) -> Generator {
        let label_width = if self.conditional() {
            self.label_embedding
        } else {
            0
        };
        let deconv = |c_in, c_out| {
            ConvTranspose2dConfig::new([c_in, c_out], [4, 4])
                .with_stride([2, 2])
                .with_padding([1, 1])
                .init(device)
        };
        Generator {
            label: self
                .conditional()
                .then(|| EmbeddingConfig::new(self.classes, self.label_embedding).init(device)),
            dense: LinearConfig::new(self.noise_dim + label_width, 128 * 7 * 7).init(device),
            norm0: BatchNormConfig::new(128).init(device),
            deconv1: deconv(128, 64),
            norm1: BatchNormConfig::new(64).init(device),
            deconv2: deconv(64, 1),
            activation: Relu::new(),
        }
    }

    pub fn discriminator(&self, device: &Device) -> Discriminator {
        let channels = if self.conditional() { 2 } else { 1 };
        let conv = |c_in, c_out| {
            Conv2dConfig::new([c_in, c_out], [4, 4])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        Discriminator {
            label: self
                .conditional()
                .then(|| EmbeddingConfig::new(self.classes, 28 * 28).init(device)),
            conv1: conv(channels, 64),
            conv2: conv(64, 128),
            norm: BatchNormConfig::new(128).init(device),
            dense: LinearConfig::new(128 * 7 * 7, 1).init(device),
            activation: LeakyReluConfig::new().with_negative_slope(0.2).init(),
        }
    }
}

/// The embedding of each label: `[batch]` → `[batch, width]`.
fn embed(embedding: &Embedding, labels: Tensor<1, Int>) -> Tensor<2> {
    let [batch] = labels.dims();
    let e: Tensor<3> = embedding.forward(labels.reshape([batch, 1])); // [batch, 1, width]
    let [_, _, width] = e.dims();
    e.reshape([batch, width])
}

impl Generator {
    /// noise `[batch, noise_dim]`, labels `[batch]` → images `[batch, 1, 28, 28]` in −1..=1
    pub fn forward(&self, noise: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<4> {
        let [batch, _] = noise.dims();
        let input = match &self.label {
            Some(embedding) => Tensor::cat(vec![noise, embed(embedding, labels)], 1),
            None => noise,
        };
        let x: Tensor<4> = self.dense.forward(input).reshape([batch, 128, 7, 7]);
        let x = batch_norm_relu(&self.norm0, x); // [batch, 128, 7, 7]
        let x = batch_norm_relu(&self.norm1, conv_transpose2d(&self.deconv1, x)); // [batch, 64, 14, 14]
        tanh(conv_transpose2d(&self.deconv2, x)) // [batch, 1, 28, 28]
    }
}

impl Discriminator {
    /// images `[batch, 1, 28, 28]`, labels `[batch]` → logits `[batch, 1]`
    pub fn forward(&self, images: Tensor<4>, labels: Tensor<1, Int>) -> Tensor<2> {
        let [batch, _, h, w] = images.dims();
        let input = match &self.label {
            Some(embedding) => Tensor::cat(
                vec![images, embed(embedding, labels).reshape([batch, 1, h, w])],
                1,
            ),
            None => images,
        };
        let slope = self.activation.negative_slope;
        let x = conv2d_leaky_relu(&self.conv1, input, slope); // [batch, 64, 14, 14]
        let x = batch_norm_leaky_relu(&self.norm, conv2d(&self.conv2, x), slope); // [batch, 128, 7, 7]
        self.dense.forward(x.flatten(1, 3)) // [batch, 1]
    }
}

/// The DCGAN pair as an [`crate::train::adversarial::Adversarial`] task.
pub struct DcganTask;

impl crate::train::adversarial::Adversarial for DcganTask {
    type Generator = Generator;
    type Discriminator = Discriminator;

    fn generate(&self, g: &Generator, noise: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<4> {
        g.forward(noise, labels)
    }

    fn discriminate(
        &self,
        d: &Discriminator,
        images: Tensor<4>,
        labels: Tensor<1, Int>,
    ) -> Tensor<2> {
        d.forward(images, labels)
    }
}

/// `config.toml` of a DCGAN lab (`gan`, `cgan`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DcganRunConfig {
    pub lab: String,
    pub neurons_version: String,
    pub data: crate::report::config::DataConfig,
    pub seed: u64,
    pub device: String,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub model: DcganConfig,
}

impl DcganRunConfig {
    /// The `config.toml` of a DCGAN lab's run: the command line's choices over DCGAN's settings,
    /// and `epochs` (full run, `--quick` run) where none is given.
    pub fn new(
        lab: &str,
        options: &crate::labs::RunOptions,
        data: &crate::data::images::ImageDataset,
        (epochs, quick_epochs): (usize, usize),
        model: DcganConfig,
    ) -> Self {
        Self {
            lab: lab.to_string(),
            neurons_version: crate::report::config::VERSION.to_string(),
            data: crate::report::config::DataConfig::of(data),
            seed: options.seed,
            device: options.device.to_string(),
            epochs: options
                .epochs
                .unwrap_or(if options.quick { quick_epochs } else { epochs }),
            batch_size: options.batch_size.unwrap_or(BATCH_SIZE),
            learning_rate: options.lr.unwrap_or(LEARNING_RATE),
            model,
        }
    }
}

/// DCGAN's settings (Radford et al.): batches of 64, Adam with η = 2·10⁻⁴ and β₁ = 0.5.
pub const BATCH_SIZE: usize = 64;
pub const LEARNING_RATE: f64 = 2e-4;

/// A trained DCGAN and what its training left.
pub struct TrainedDcgan {
    /// The generator, out of autodiff.
    pub generator: Generator,
    pub train_seconds: f64,
    pub samples_seen: usize,
}

/// Trains a DCGAN lab's pair on `images`, calling `after_epoch(epoch, G)` with the generator out
/// of autodiff after each epoch; writes `metrics.csv`, `loss.png` and both networks' weights.
pub fn train_dcgan(
    config: &DcganRunConfig,
    images: &crate::data::images::ImageSet,
    run: &crate::report::RunDir,
    console: &crate::train::Console,
    mut after_epoch: impl FnMut(usize, &Generator) -> crate::error::Result<()>,
) -> crate::error::Result<TrainedDcgan> {
    use crate::report::metrics::Split;
    use crate::report::plot::{Curve, line_chart};
    use crate::train::adversarial::{AdversarialSettings, METRICS, train_adversarial};

    let choice: crate::train::DeviceChoice =
        config.device.parse().map_err(crate::error::Error::Usage)?;
    let autodiff = choice.device()?.autodiff();
    autodiff.seed(config.seed);
    let adam = || crate::train::optimizer::adam(0.5, 1e-8, 0.0);
    let settings = AdversarialSettings {
        epochs: config.epochs,
        batch_size: config.batch_size,
        learning_rate: config.learning_rate,
        noise_dim: config.model.noise_dim,
        seed: config.seed,
    };
    let trained = train_adversarial(
        &DcganTask,
        config.model.generator(&autodiff),
        config.model.discriminator(&autodiff),
        adam(),
        adam(),
        images,
        &settings,
        &autodiff,
        console,
        |epoch, g| after_epoch(epoch, &g.valid()),
    )?;
    trained.log.write(run)?;
    let generator = trained.generator.valid();
    run.save_weights("generator.bpk", &generator)?;
    run.save_weights("discriminator.bpk", &trained.discriminator.valid())?;
    let curves = METRICS.map(|m| Curve {
        label: m.to_string(),
        points: trained.log.series(Split::Train, Some(m)),
    });
    line_chart(
        &run.file("loss.png"),
        &format!("{}: losses of both networks", config.lab),
        "epoch",
        "BCE",
        &curves,
    )?;
    Ok(TrainedDcgan {
        generator,
        train_seconds: trained.train_seconds,
        samples_seen: trained.samples_seen,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_of_both_networks_conditional_or_not() {
        let device = Device::flex();
        for classes in [0, 10] {
            let config = DcganConfig {
                noise_dim: 100,
                classes,
                label_embedding: 10,
            };
            let labels = Tensor::<1, Int>::from_ints([3, 7], &device);
            let noise = Tensor::<2>::zeros([2, 100], &device);
            let images = config.generator(&device).forward(noise, labels.clone());
            assert_eq!(images.dims(), [2, 1, 28, 28]);
            assert_eq!(
                config.discriminator(&device).forward(images, labels).dims(),
                [2, 1]
            );
        }
    }
}
