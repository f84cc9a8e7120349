//! The DCGAN of the `gan` and `cgan` labs and of the benchmark's `gan_train` workload (Radford et al. 2016), optionally conditioned
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
    LinearConfig, PaddingConfig2d,
};
use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};

use super::spectral_norm::SpectralNormalizer;

use crate::kernels::{
    batch_norm_leaky_relu, batch_norm_relu, conv_transpose2d, conv2d, conv2d_leaky_relu, linear,
    tanh,
};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DcganConfig {
    pub noise_dim: usize,
    /// Number of label classes to condition on; 0 for an unconditional GAN.
    pub classes: usize,
    /// Size of the label embedding concatenated to the noise.
    pub label_embedding: usize,
    /// How many samples the discriminator judges together, stacked as channels (PacGAN, Lin
    /// et al. 2018): a pack of generated digits that all look alike is easy to tell from a pack
    /// of real ones, so collapsing onto a few modes no longer pays. 1 is the plain DCGAN.
    #[serde(default = "unpacked")]
    pub pack: usize,
    /// Spectral normalization of D's weights instead of its batch norm (Miyato et al. 2018).
    #[serde(default)]
    pub spectral_norm: bool,
}

fn unpacked() -> usize {
    1
}

impl DcganConfig {
    /// Refuses a `[model]` table read from a run that cannot make a working DCGAN, naming the
    /// field.
    pub fn validate(&self) -> Result<(), String> {
        crate::train::config::check_model_fields(&[("noise_dim", self.noise_dim)], &[])?;
        if !(1..=MAX_PACK).contains(&self.pack) {
            return Err(format!(
                "pack must be from 1 to {MAX_PACK}, not {}",
                self.pack
            ));
        }
        if self.classes > 0 {
            crate::train::config::check_model_fields(
                &[
                    ("classes", self.classes),
                    ("label_embedding", self.label_embedding),
                ],
                &[],
            )?;
        }
        Ok(())
    }
}

#[derive(Module, Debug)]
pub struct Generator {
    label: Option<Embedding>,
    dense: Linear,
    norm0: BatchNorm,
    deconv1: ConvTranspose2d,
    norm1: BatchNorm,
    deconv2: ConvTranspose2d,
}

/// The largest pack a discriminator takes.
pub const MAX_PACK: usize = 8;

#[derive(Module, Debug)]
pub struct Discriminator {
    #[module(skip)]
    pack: usize,
    /// Whether the second layer is batch-normalized (not under spectral normalization).
    #[module(skip)]
    batch_norm: bool,
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
        }
    }

    pub fn discriminator(&self, device: &Device) -> Discriminator {
        let channels = if self.conditional() { 2 } else { 1 } * self.pack;
        let conv = |c_in, c_out| {
            Conv2dConfig::new([c_in, c_out], [4, 4])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        let discriminator = Discriminator {
            pack: self.pack,
            batch_norm: !self.spectral_norm,
            label: self
                .conditional()
                .then(|| EmbeddingConfig::new(self.classes, 28 * 28).init(device)),
            conv1: conv(channels, 64),
            conv2: conv(64, 128),
            norm: BatchNormConfig::new(128).init(device),
            dense: LinearConfig::new(128 * 7 * 7, 1).init(device),
            activation: LeakyReluConfig::new().with_negative_slope(0.2).init(),
        };
        if self.spectral_norm {
            discriminator.apply_reparameterization(SpectralNormalizer {
                layers: &["conv1", "conv2", "dense"],
            })
        } else {
            discriminator
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
        let x: Tensor<4> = linear(&self.dense, input).reshape([batch, 128, 7, 7]);
        let x = batch_norm_relu(&self.norm0, x); // [batch, 128, 7, 7]
        let x = batch_norm_relu(&self.norm1, conv_transpose2d(&self.deconv1, x)); // [batch, 64, 14, 14]
        tanh(conv_transpose2d(&self.deconv2, x)) // [batch, 1, 28, 28]
    }
}

impl Discriminator {
    /// How many samples it judges together: a batch must be a multiple of it.
    pub fn pack(&self) -> usize {
        self.pack
    }

    /// images `[batch, 1, 28, 28]`, labels `[batch]` → logits `[batch / pack, 1]`, one for each
    /// pack of consecutive images
    pub fn forward(&self, images: Tensor<4>, labels: Tensor<1, Int>) -> Tensor<2> {
        let [batch, _, h, w] = images.dims();
        let input = match &self.label {
            Some(embedding) => Tensor::cat(
                vec![images, embed(embedding, labels).reshape([batch, 1, h, w])],
                1,
            ),
            None => images,
        };
        let [_, channels, _, _] = input.dims();
        // consecutive samples side by side as channels: a view, nothing is copied
        let input = input.reshape([batch / self.pack, self.pack * channels, h, w]);
        let slope = self.activation.negative_slope;
        let x = conv2d_leaky_relu(&self.conv1, input, slope); // [batch, 64, 14, 14]
        let x = if self.batch_norm {
            batch_norm_leaky_relu(&self.norm, conv2d(&self.conv2, x), slope)
        } else {
            conv2d_leaky_relu(&self.conv2, x, slope)
        }; // [batch, 128, 7, 7]
        linear(&self.dense, x.flatten(1, 3)) // [batch, 1]
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

    fn pack(&self, d: &Discriminator) -> usize {
        d.pack()
    }
}

#[cfg(test)]
mod tests {
    use burn::module::{Module, Param};
    use burn::optim::AdamConfig;

    use super::*;
    use crate::data::images::ImageSet;
    use crate::train::Console;
    use crate::train::adversarial::{AdversarialSettings, train_adversarial};

    #[test]
    fn shapes_of_both_networks_conditional_or_not() {
        let device = Device::flex();
        for classes in [0, 10] {
            let config = DcganConfig {
                noise_dim: 100,
                classes,
                label_embedding: 10,
                pack: 1,
                spectral_norm: false,
            };
            let labels = Tensor::<1, Int>::from_ints([3, 7], &device);
            let noise = Tensor::<2>::zeros([2, 100], &device);
            let images = config.generator(&device).forward(noise, labels.clone());
            assert_eq!(images.dims(), [2, 1, 28, 28]);
            assert_eq!(
                config
                    .discriminator(&device)
                    .forward(images.clone(), labels.clone())
                    .dims(),
                [2, 1]
            );
            // PacGAN: one logit per pair; spectral normalization: the same shapes
            let packed = DcganConfig {
                pack: 2,
                spectral_norm: true,
                ..config
            };
            assert_eq!(
                packed.discriminator(&device).forward(images, labels).dims(),
                [1, 1]
            );
        }
    }

    /// The sum of squared parameters of a module: changes whenever training moved it.
    fn weight_norm<M: Module>(module: &M) -> f64 {
        struct Norm(f64);
        impl burn::module::ModuleVisitor for Norm {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                self.0 += param.val().powi_scalar(2).sum().into_scalar::<f64>();
            }
        }
        let mut norm = Norm(0.0);
        module.visit(&mut norm);
        norm.0
    }

    #[test]
    fn one_epoch_moves_both_players_and_leaves_d_trainable() {
        let device = Device::flex().autodiff();
        device.seed(3);
        let config = DcganConfig {
            noise_dim: 8,
            classes: 0,
            label_embedding: 0,
            pack: 1,
            spectral_norm: false,
        };
        let (g, d) = (config.generator(&device), config.discriminator(&device));
        let (g_before, d_before) = (weight_norm(&g), weight_norm(&d));
        let images = ImageSet {
            rows: 28,
            cols: 28,
            pixels: (0..64 * 28 * 28).map(|i| (i * 37 % 251) as u8).collect(),
            labels: vec![0; 64],
        };
        let settings = AdversarialSettings {
            epochs: 1,
            batch_size: 32,
            learning_rate: 1e-3,
            noise_dim: 8,
            seed: 3,
            loss: Default::default(),
        };
        let adam = || AdamConfig::new().with_beta_1(0.5).init();
        let trained = train_adversarial(
            &DcganTask,
            g,
            d,
            adam(),
            adam(),
            &images,
            &settings,
            &device,
            &Console::new(true),
            |_, _| Ok(()),
        )
        .unwrap();
        assert_ne!(weight_norm(&trained.generator), g_before);
        assert_ne!(weight_norm(&trained.discriminator), d_before);
        // the G step used a frozen copy of D; D itself still learns
        let mut trainable = 0;
        struct Trainable<'a>(&'a mut usize);
        impl burn::module::ModuleVisitor for Trainable<'_> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                *self.0 += param.val().is_require_grad() as usize;
            }
        }
        trained.discriminator.visit(&mut Trainable(&mut trainable));
        assert!(trainable > 0, "the discriminator lost its gradients");
        assert_eq!(trained.log.rows().len(), 1);
    }
}
