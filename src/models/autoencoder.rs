//! The convolutional denoising autoencoder of the `autoencoder` lab, after FIDLE's AE1–4
//! (Vincent et al. 2008): three convolutions down to 2c×7×7 (c = 48 in the lab), two transposed
//! convolutions back up to 28×28, pixel logits out (x̂ = σ(logits)).
//! No dense bottleneck: a denoiser has to keep where each stroke is, and the 7×7 grid keeps it.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{Initializer, PaddingConfig2d};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::kernels::{conv_transpose2d_relu, conv2d, conv2d_relu};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoencoderConfig {
    /// Channels of the first convolution; the deeper ones have twice as many.
    pub channels: usize,
}

impl AutoencoderConfig {
    /// Refuses a `[model]` table read from a run that cannot make a working network.
    pub fn validate(&self) -> Result<(), String> {
        crate::train::config::check_model_fields(&[("channels", self.channels)], &[])
    }

    /// He's initialisation for ReLU, as the VAE (burn's default shrinks the signal through the
    /// encoder).
    pub fn init(&self, device: &Device) -> DenoisingAutoencoder {
        let he = Initializer::KaimingUniform {
            gain: std::f64::consts::SQRT_2,
            fan_out_only: false,
        };
        let conv = |c_in, c_out, stride| {
            Conv2dConfig::new([c_in, c_out], [3, 3])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_initializer(he.clone())
                .init(device)
        };
        let up = |c_in, c_out| {
            ConvTranspose2dConfig::new([c_in, c_out], [4, 4])
                .with_stride([2, 2])
                .with_padding([1, 1])
                .with_initializer(he.clone())
                .init(device)
        };
        let c = self.channels;
        DenoisingAutoencoder {
            enc1: conv(1, c, 1),
            enc2: conv(c, 2 * c, 2),
            enc3: conv(2 * c, 2 * c, 2),
            dec1: up(2 * c, 2 * c),
            dec2: up(2 * c, c),
            out: conv(c, 1, 1),
        }
    }
}

#[derive(Module, Debug)]
pub struct DenoisingAutoencoder {
    enc1: Conv2d,
    enc2: Conv2d,
    enc3: Conv2d,
    dec1: ConvTranspose2d,
    dec2: ConvTranspose2d,
    out: Conv2d,
}

impl DenoisingAutoencoder {
    /// x `[batch, 1, 28, 28]` in 0..=1 → pixel logits `[batch, 1, 28, 28]`
    pub fn logits(&self, x: Tensor<4>) -> Tensor<4> {
        let x = conv2d_relu(&self.enc1, x); // [batch, c, 28, 28]
        let x = conv2d_relu(&self.enc2, x); // [batch, 2c, 14, 14]
        let x = conv2d_relu(&self.enc3, x); // [batch, 2c, 7, 7]
        let x = conv_transpose2d_relu(&self.dec1, x); // [batch, 2c, 14, 14]
        let x = conv_transpose2d_relu(&self.dec2, x); // [batch, c, 28, 28]
        conv2d(&self.out, x)
    }

    /// The restored images in 0..=1.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        sigmoid(self.logits(x))
    }
}
