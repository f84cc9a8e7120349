//! The rectifier `max(v, 0) + slope · min(v, 0)` (ReLU for slope 0, leaky ReLU above) as the
//! last step of the convolution and batch-norm kernels, and its gradient.
//!
//! Why inside the kernels: burn applies an activation in a single-threaded pass over the whole
//! tensor, and its gradient in another that allocates a new one; after the convolutions of
//! `vae_train` those passes (with the bias) were 10–15% of a step. Here the forward step runs
//! on values the kernel has just written, and the gradient is taken in place, in parallel.

use rayon::prelude::*;

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

    /// [`Self::backward_row`] over whole tensors, split between the threads.
    pub fn backward(self, y: &[f32], dy: &mut [f32]) {
        const CHUNK: usize = 1 << 14;
        dy.par_chunks_mut(CHUNK)
            .zip(y.par_chunks(CHUNK))
            .for_each(|(dy, y)| self.backward_row(y, dy));
    }
}
