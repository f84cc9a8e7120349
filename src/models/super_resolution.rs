//! The generator of the `super-resolution` lab, SRGAN's (Ledig et al. 2017) cut down to digits:
//! a convolution, residual blocks x + conv(relu(conv(x))) at the low resolution, a long skip
//! around them, then per factor 2 a convolution to 4× the channels and a pixel shuffle (sub-pixel
//! convolution, Shi et al. 2016) that turns those channels into a twice larger image.

use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::kernels::{conv2d, conv2d_relu};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SrGeneratorConfig {
    /// 2 (14×14 → 28×28) or 4 (7×7 → 28×28).
    pub factor: usize,
    pub channels: usize,
    pub residual_blocks: usize,
}

impl SrGeneratorConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !matches!(self.factor, 2 | 4) {
            return Err(format!("[model] factor: {}; 2 or 4", self.factor));
        }
        crate::train::config::check_model_fields(
            &[
                ("channels", self.channels),
                ("residual_blocks", self.residual_blocks),
            ],
            &[],
        )
    }

    pub fn init(&self, device: &Device) -> SrGenerator {
        // burn's (PyTorch's) default initialisation, U(±√(1/fan_in)): He's, made for plain
        // stacks, doubles the variance at every residual sum, and the first outputs were ten
        // times too large
        let conv = |c_in, c_out| {
            Conv2dConfig::new([c_in, c_out], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        let c = self.channels;
        SrGenerator {
            head: conv(1, c),
            blocks: (0..self.residual_blocks)
                .map(|_| ResidualBlock {
                    conv1: conv(c, c),
                    conv2: conv(c, c),
                })
                .collect(),
            body: conv(c, c),
            upsample: (0..self.factor.trailing_zeros())
                .map(|_| conv(c, 4 * c))
                .collect(),
            out: conv(c, 1),
        }
    }
}

#[derive(Module, Debug)]
pub struct ResidualBlock {
    conv1: Conv2d,
    conv2: Conv2d,
}

#[derive(Module, Debug)]
pub struct SrGenerator {
    head: Conv2d,
    blocks: Vec<ResidualBlock>,
    body: Conv2d,
    upsample: Vec<Conv2d>,
    out: Conv2d,
}

impl super::pix2pix::ImageGenerator for SrGenerator {
    fn generate(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward(x)
    }
}

impl SrGenerator {
    /// x `[batch, 1, 28/f, 28/f]` in 0..=1 → the enlarged images `[batch, 1, 28, 28]`, pixels
    /// in about 0..=1, unbounded (clamped when shown): behind a sigmoid, the pixel loss drove the
    /// mostly black outputs into its flat tail within the first steps, and they stayed black.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let head = conv2d_relu(&self.head, x); // [batch, c, s, s]
        let mut h = head.clone();
        for block in &self.blocks {
            h = h.clone() + conv2d(&block.conv2, conv2d_relu(&block.conv1, h));
        }
        let mut h = conv2d(&self.body, h) + head;
        for conv in &self.upsample {
            h = pixel_shuffle(conv2d(conv, h), 2).clamp_min(0.0); // [batch, c, 2s, 2s]
        }
        conv2d(&self.out, h)
    }
}

/// Pixel shuffle: `[b, c·r², h, w]` → `[b, c, h·r, w·r]` with out[b, k, y·r + i, x·r + j] =
/// in[b, k·r² + i·r + j, y, x] (PyTorch's `nn.PixelShuffle`), the project's kernel.
pub use crate::kernels::pixel_shuffle;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::FloatValues;

    #[test]
    fn pixel_shuffle_moves_each_value_where_pytorch_puts_it() {
        let device = Device::flex();
        let (b, c, r, h, w) = (2, 3, 2, 3, 4);
        let n = b * c * r * r * h * w;
        let values: Vec<f32> = (0..n).map(|v| v as f32).collect();
        let x = Tensor::<4>::from_data(
            burn::tensor::TensorData::new(values.clone(), [b, c * r * r, h, w]),
            &device,
        );
        let out: Vec<f32> = pixel_shuffle(x, r).floats();
        for bi in 0..b {
            for k in 0..c {
                for y in 0..h * r {
                    for xx in 0..w * r {
                        let (i, j) = (y % r, xx % r);
                        let source =
                            ((bi * c * r * r + k * r * r + i * r + j) * h + y / r) * w + xx / r;
                        let target = ((bi * c + k) * h * r + y) * w * r + xx;
                        assert_eq!(out[target], values[source], "at {bi} {k} {y} {xx}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_generator_enlarges_by_its_factor() {
        let device = Device::flex();
        for (factor, side) in [(2, 14), (4, 7)] {
            let g = SrGeneratorConfig {
                factor,
                channels: 4,
                residual_blocks: 2,
            }
            .init(&device);
            let x = Tensor::<4>::zeros([2, 1, side, side], &device);
            assert_eq!(g.forward(x).dims(), [2, 1, 28, 28]);
        }
    }
}
