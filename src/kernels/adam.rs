//! One Adam step over a parameter tensor, in one pass split between the threads.
//!
//! burn's Adam (`burn::optim::Adam`) runs some ten element-wise tensor operations per parameter
//! and step, each on one thread and each into a new tensor. Here the moments and the parameter
//! are updated in place in one pass: the update is burn's, term for term —
//! `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`, `θ ← θ − η·m·c / (√v + ε·√(1−β₂ᵗ))` with
//! `c = √(1−β₂ᵗ) / (1−β₁ᵗ)`, and `g ← g + λθ` first when there is an L2 penalty λ.

use rayon::prelude::*;

/// The scalars of one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamStep {
    pub beta_1: f32,
    pub beta_2: f32,
    /// The L2 penalty λ (0 for none).
    pub penalty: f32,
    /// `η·c`: the learning rate with both bias corrections.
    pub step_size: f32,
    /// `ε·√(1−β₂ᵗ)`.
    pub epsilon: f32,
}

impl AdamStep {
    /// The scalars of step `time` (1 for the first) with learning rate `lr`.
    pub fn new(
        lr: f64,
        (beta_1, beta_2): (f32, f32),
        epsilon: f32,
        penalty: f32,
        time: i32,
    ) -> Self {
        let correction_2 = (1.0 - beta_2.powi(time)).sqrt();
        let combined = correction_2 / (1.0 - beta_1.powi(time));
        Self {
            beta_1,
            beta_2,
            penalty,
            step_size: lr as f32 * combined,
            epsilon: epsilon * correction_2,
        }
    }

    /// Updates `param`, `moment_1` and `moment_2` in place from `grad` (all of one length).
    pub fn apply(
        &self,
        param: &mut [f32],
        grad: &[f32],
        moment_1: &mut [f32],
        moment_2: &mut [f32],
    ) {
        const CHUNK: usize = 1 << 13;
        let s = *self;
        param
            .par_chunks_mut(CHUNK)
            .zip(grad.par_chunks(CHUNK))
            .zip(moment_1.par_chunks_mut(CHUNK))
            .zip(moment_2.par_chunks_mut(CHUNK))
            .for_each(|(((p, g), m), v)| {
                for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
                    let g = g + s.penalty * *p;
                    *m = s.beta_1 * *m + (1.0 - s.beta_1) * g;
                    *v = s.beta_2 * *v + (1.0 - s.beta_2) * g * g;
                    *p -= s.step_size * *m / (v.sqrt() + s.epsilon);
                }
            });
    }
}
