//! The networks of the `pix2pix` lab (Isola et al. 2017, "Image-to-Image Translation with
//! Conditional Adversarial Networks"), cut down to 28×28 digits:
//! - a U-Net generator (leaky rectifiers throughout: with plain ones in the decoder, the first
//!   steps of the L1 loss, which push the black background down, left every unit dead and the
//!   output a constant black): an encoder down to 7×7 and a decoder back up, each decoder stage joined
//!   (concatenated) with the encoder stage of its size, so that the input's fine detail reaches
//!   the output without squeezing through the 7×7 bottleneck;
//! - a PatchGAN discriminator: convolutions only, one logit per 7×7 cell, each judging whether
//!   its patch (about 16×16 pixels of the pair it sees, input and output stacked as channels)
//!   looks real. It is also the discriminator of `super-resolution`, which shows it the output
//!   alone.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{Initializer, PaddingConfig2d};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::kernels::{conv_transpose2d_leaky_relu, conv2d, conv2d_leaky_relu};
use crate::train::adversarial::bce_with_logits;

/// pix2pix's leaky rectifier slope in the encoder and the discriminator.
const SLOPE: f64 = 0.2;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UNetConfig {
    /// Channels of the first stage; each stage down doubles them.
    pub channels: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchGanConfig {
    /// Images stacked as channels: the input and the output (2), or the output alone (1).
    pub in_channels: usize,
    /// Channels of the first convolution; the second has twice as many.
    pub channels: usize,
}

fn he() -> Initializer {
    Initializer::KaimingUniform {
        gain: std::f64::consts::SQRT_2,
        fan_out_only: false,
    }
}

/// A convolution of `kernel` (3: same size; 4 with stride 2: half size).
fn conv(c_in: usize, c_out: usize, kernel: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([c_in, c_out], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_initializer(he())
        .init(device)
}

/// A transposed convolution 4×4 of stride 2: twice the size.
fn up(c_in: usize, c_out: usize, device: &Device) -> ConvTranspose2d {
    ConvTranspose2dConfig::new([c_in, c_out], [4, 4])
        .with_stride([2, 2])
        .with_padding([1, 1])
        .with_initializer(he())
        .init(device)
}

impl UNetConfig {
    pub fn validate(&self) -> Result<(), String> {
        crate::train::config::check_model_fields(&[("channels", self.channels)], &[])
    }

    pub fn init(&self, device: &Device) -> UNet {
        let c = self.channels;
        UNet {
            down1: conv(1, c, 3, 1, device),
            down2: conv(c, 2 * c, 4, 2, device),
            down3: conv(2 * c, 4 * c, 4, 2, device),
            bottom: conv(4 * c, 4 * c, 3, 1, device),
            up3: up(4 * c, 2 * c, device),
            merge2: conv(4 * c, 2 * c, 3, 1, device),
            up2: up(2 * c, c, device),
            merge1: conv(2 * c, c, 3, 1, device),
            out: conv(c, 1, 3, 1, device),
        }
    }
}

#[derive(Module, Debug)]
pub struct UNet {
    down1: Conv2d,
    down2: Conv2d,
    down3: Conv2d,
    bottom: Conv2d,
    up3: ConvTranspose2d,
    merge2: Conv2d,
    up2: ConvTranspose2d,
    merge1: Conv2d,
    out: Conv2d,
}

/// A network that draws an image from another: the generators of `pix2pix` and
/// `super-resolution`, which their baselines train alike.
pub trait ImageGenerator: Module {
    /// Images `[batch, 1, h, w]` → images `[batch, 1, 28, 28]`, pixels in about 0..=1.
    fn generate(&self, x: Tensor<4>) -> Tensor<4>;
}

impl ImageGenerator for UNet {
    fn generate(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward(x)
    }
}

impl UNet {
    /// x `[batch, 1, 28, 28]` in 0..=1 → the translated images `[batch, 1, 28, 28]`, pixels in
    /// about 0..=1, unbounded: a squashing output (sigmoid, or pix2pix's tanh) saturated within
    /// the first steps, where L1 pulls every pixel to its median, black, and stayed there, its
    /// gradient gone. They are clamped to 0..=1 when shown.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let d1 = conv2d_leaky_relu(&self.down1, x, SLOPE); // [batch, c, 28, 28]
        let d2 = conv2d_leaky_relu(&self.down2, d1.clone(), SLOPE); // [batch, 2c, 14, 14]
        let d3 = conv2d_leaky_relu(&self.down3, d2.clone(), SLOPE); // [batch, 4c, 7, 7]
        let b = conv2d_leaky_relu(&self.bottom, d3, SLOPE); // [batch, 4c, 7, 7]
        let u3 = conv_transpose2d_leaky_relu(&self.up3, b, SLOPE); // [batch, 2c, 14, 14]
        let m2 = conv2d_leaky_relu(&self.merge2, Tensor::cat(vec![u3, d2], 1), SLOPE); // [batch, 2c, 14, 14]
        let u2 = conv_transpose2d_leaky_relu(&self.up2, m2, SLOPE); // [batch, c, 28, 28]
        let m1 = conv2d_leaky_relu(&self.merge1, Tensor::cat(vec![u2, d1], 1), SLOPE); // [batch, c, 28, 28]
        conv2d(&self.out, m1)
    }
}

impl PatchGanConfig {
    pub fn validate(&self) -> Result<(), String> {
        crate::train::config::check_model_fields(
            &[
                ("in_channels", self.in_channels),
                ("channels", self.channels),
            ],
            &[],
        )
    }

    pub fn init(&self, device: &Device) -> PatchGan {
        let c = self.channels;
        PatchGan {
            conv1: conv(self.in_channels, c, 4, 2, device),
            conv2: conv(c, 2 * c, 4, 2, device),
            out: conv(2 * c, 1, 3, 1, device),
        }
    }
}

#[derive(Module, Debug)]
pub struct PatchGan {
    conv1: Conv2d,
    conv2: Conv2d,
    out: Conv2d,
}

impl PatchGan {
    /// images `[batch, in_channels, 28, 28]` in 0..=1 → one logit per patch `[batch, 49]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = conv2d_leaky_relu(&self.conv1, images * 2.0 - 1.0, SLOPE); // [batch, c, 14, 14]
        let x = conv2d_leaky_relu(&self.conv2, x, SLOPE); // [batch, 2c, 7, 7]
        conv2d(&self.out, x).flatten(1, 3)
    }
}

/// The generator and the discriminator trained together by one loss whose gradient reaches each
/// network only through its own term (see the `pix2pix` lab).
#[derive(Module, Debug)]
pub struct AdversarialPair<G> {
    pub generator: G,
    pub discriminator: PatchGan,
}

/// pix2pix's loss on a batch, its terms apart (each a mean over the batch).
pub struct Pix2PixLoss {
    /// L_D + L_G: what one backward pass trains both networks on.
    pub total: Tensor<1>,
    /// L_D = ½ [BCE(D(x, y), 1) + BCE(D(x, G(x)), 0)]
    pub discriminator: Tensor<1>,
    /// BCE(D(x, G(x)), 1), G's adversarial term
    pub adversarial: Tensor<1>,
    /// ‖y − G(x)‖₁ per pixel
    pub l1: Tensor<1>,
    /// G(x), detached
    pub generated: Tensor<4>,
}

impl AdversarialPair<UNet> {
    /// The loss of the `pix2pix` lab (and of the benchmark's `pix2pix_train`) for inputs x and
    /// targets y: L_D + BCE(D(x, G(x)), 1) + λ·‖y − G(x)‖₁. D's term sees G's images detached, and
    /// G's adversarial term a copy of D whose parameters are not tracked, so that one backward
    /// pass gives each network the gradient of its own loss only (both networks then step on
    /// the same batch, where the paper alternates).
    pub fn pix2pix_loss(
        &self,
        inputs: Tensor<4>,
        targets: Tensor<4>,
        l1_weight: f64,
    ) -> Pix2PixLoss {
        let generated = self.generator.forward(inputs.clone());
        let judge = |d: &PatchGan, y: Tensor<4>| d.forward(Tensor::cat(vec![inputs.clone(), y], 1));
        let d = &self.discriminator;
        let discriminator = (bce_with_logits(judge(d, targets.clone()), 1.0)
            + bce_with_logits(judge(d, generated.clone().detach()), 0.0))
            * 0.5;
        let frozen = self.discriminator.clone().no_grad();
        let adversarial = bce_with_logits(judge(&frozen, generated.clone()), 1.0);
        let l1 = (generated.clone() - targets).abs().mean();
        Pix2PixLoss {
            total: discriminator.clone() + adversarial.clone() + l1.clone() * l1_weight,
            discriminator,
            adversarial,
            l1,
            generated: generated.detach(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unet_and_the_patch_discriminator_keep_their_shapes() {
        let device = Device::flex();
        let g = UNetConfig { channels: 4 }.init(&device);
        let x = Tensor::<4>::zeros([3, 1, 28, 28], &device);
        assert_eq!(g.forward(x.clone()).dims(), [3, 1, 28, 28]);
        let d = PatchGanConfig {
            in_channels: 2,
            channels: 4,
        }
        .init(&device);
        assert_eq!(
            d.forward(Tensor::cat(vec![x.clone(), x], 1)).dims(),
            [3, 49]
        );
    }
}
