//! The rectifier `max(v, 0) + slope · min(v, 0)` (ReLU for slope 0, leaky ReLU above) as the
//! last step of the convolution and batch-norm kernels, and its gradient; and the leaky ReLU on
//! its own, [`leaky_relu`], as burn operations with a cheaper backward pass than burn's.
//!
//! Why inside the kernels: burn applies an activation in a single-threaded pass over the whole
//! tensor, and its gradient in another that allocates a new one; after the convolutions of
//! `vae_train` those passes (with the bias) were 10–15% of a step. Here the forward step runs
//! on values the kernel has just written, and the gradient is taken in place, in parallel.

use burn::backend::flex::FlexTensor;
use burn::tensor::Tensor;

use super::flex::{FlexValues, values};

/// Leaky ReLU, `max(x, 0) + slope · min(x, 0)`, written as `x · factor` with
/// `factor = 1 where x > 0, slope elsewhere` computed outside the autodiff graph.
///
/// Burn builds it from a comparison, a scaled copy and `mask_where`, whose backward pass makes
/// two zero tensors and two more `mask_where` (branchy loops over the bytes of the mask that mispredict
/// on every other element). Here the backward pass is one product, `grad · factor`: in the
/// benchmark's `gan_train`, whose discriminator has two leaky ReLUs, `mask_where` took 14% of the
/// time. The gradient is PyTorch's: `slope` at `x = 0`.
pub fn leaky_relu<const D: usize>(x: Tensor<D>, slope: f64) -> Tensor<D> {
    let factor = x
        .clone()
        .detach()
        .greater_elem(0.0)
        .float()
        .mul_scalar(1.0 - slope)
        .add_scalar(slope);
    x * factor
}

/// `y` through the rectifier of negative slope `slope` (ReLU for 0), or unchanged for `None`:
/// what the kernels' epilogue does, for the paths that leave the convolution to burn.
pub(super) fn rectify<const D: usize>(y: Tensor<D>, slope: Option<f32>) -> Tensor<D> {
    match slope {
        None => y,
        Some(0.0) => burn::tensor::activation::relu(y),
        Some(slope) => leaky_relu(y, slope as f64),
    }
}

/// A rectifier of negative slope `slope` (non-negative, so that the output is positive exactly
/// where the input was).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rectifier {
    pub slope: f32,
}

impl Rectifier {
    #[inline(always)]
    pub fn apply(self, z: f32) -> f32 {
        if z > 0.0 { z } else { self.slope * z }
    }

    /// `dy` through the rectifier, in place, from its output `y`: kept where `y > 0`, times the
    /// slope elsewhere (0 for ReLU, as burn's gradient, also at `y = 0`).
    pub fn backward_row(self, y: &[f32], dy: &mut [f32]) {
        if self.slope == 0.0 {
            dy.iter_mut().zip(y).for_each(|(d, y)| {
                *d = if *y > 0.0 { *d } else { 0.0 };
            });
        } else {
            dy.iter_mut().zip(y).for_each(|(d, y)| {
                *d = if *y > 0.0 { *d } else { self.slope * *d };
            });
        }
    }
}

/// The rectifier that ends an operation (if any) and, once the operation has run, its output:
/// the rectifier's gradient needs the output's sign. Part of the saved state of the convolutions
/// and the batch normalization.
#[derive(Debug, Clone)]
pub(super) struct Rectified {
    pub slope: Option<f32>,
    output: Option<FlexTensor>,
}

impl Rectified {
    pub fn new(slope: Option<f32>) -> Self {
        Self {
            slope,
            output: None,
        }
    }

    /// Keeps the operation's output `y` if a rectifier ends it.
    pub fn keep(&mut self, y: &FlexTensor) {
        if self.slope.is_some() {
            self.output = Some(y.clone());
        }
    }

    /// The rectifier and the output kept for it, when there is one.
    pub fn into_parts(self) -> Option<(Rectifier, FlexValues)> {
        match (self.slope, self.output) {
            (Some(slope), Some(y)) => Some((Rectifier { slope }, values(y).1)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::leaky_relu;
    use crate::kernels::testing::compare;

    #[test]
    fn leaky_relu_matches_burns_values_and_gradients() {
        for slope in [0.2, 0.01] {
            use burn::tensor::activation::leaky_relu as plain;
            compare(
                [64, 16, 7, 7],
                |x| leaky_relu(x, slope),
                |x| plain(x, slope),
            );
            compare([3, 5, 11], |x| leaky_relu(x, slope), |x| plain(x, slope));
            compare([1000], |x| leaky_relu(x, slope), |x| plain(x, slope));
        }
    }
}
