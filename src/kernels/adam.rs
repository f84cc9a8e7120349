//! One Adam step over a parameter tensor, in one pass split between the threads.
//!
//! burn's Adam (`burn::optim::Adam`) runs some ten element-wise tensor operations per parameter
//! and step, each on one thread and each into a new tensor. Here the moments and the parameter
//! are updated in place in one pass: the update is burn's, term for term —
//! `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`, `θ ← θ − η·m·c / (√v + ε·√(1−β₂ᵗ))` with
//! `c = √(1−β₂ᵗ) / (1−β₁ᵗ)`, and `g ← g + λθ` first when there is an L2 penalty λ.
//!
//! Plugged into burn as [`AdamKernels`], on the parameters' inner tensors: optimizers work
//! outside autodiff, so there is no backward pass.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::flex::FlexTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension, tensor::FloatTensor};
use burn::tensor::Tensor;
use rayon::prelude::*;

use super::flex::{on_flex_f32, values, values_mut};

/// Whether [`adam_step`] applies to `param`: f32 values on the CPU backend, outside autodiff
/// (optimizers see the parameters' inner tensors).
pub fn adam_applies<const D: usize>(param: &Tensor<D>) -> bool {
    on_flex_f32(param) && !param.device().is_autodiff()
}

/// One Adam step of `param` (see [`AdamStep`]) through [`AdamKernels`], which updates the
/// parameter and both moments in one parallel pass: the new `(param, moment_1, moment_2)`.
/// Only where [`adam_applies`].
pub fn adam_step<const D: usize>(
    param: Tensor<D>,
    grad: Tensor<D>,
    (moment_1, moment_2): (Tensor<D>, Tensor<D>),
    step: &AdamStep,
) -> (Tensor<D>, Tensor<D>, Tensor<D>) {
    assert!(adam_applies(&param), "adam_step: not an f32 CPU tensor");
    let (param, moment_1, moment_2) = <Dispatch as AdamKernels>::adam_step_fast(
        param.into_dispatch(),
        grad.into_dispatch(),
        moment_1.into_dispatch(),
        moment_2.into_dispatch(),
        [
            step.beta_1,
            step.beta_2,
            step.penalty,
            step.step_size,
            step.epsilon,
        ],
    );
    (
        Tensor::from_dispatch(param),
        Tensor::from_dispatch(moment_1),
        Tensor::from_dispatch(moment_2),
    )
}

/// One Adam step, on f32 tensors.
#[backend_extension(Flex, Autodiff)]
pub trait AdamKernels: Backend {
    /// One Adam step of a parameter from its gradient and moments (all of one shape), with the
    /// step's scalars `[β₁, β₂, λ, step size, ε term]` (see [`AdamStep`]): the parameter and
    /// the two moments after it. Never tracked by autodiff.
    fn adam_step_fast(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        scalars: [f32; 5],
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

impl AdamKernels for Flex {
    fn adam_step_fast(
        param: FlexTensor,
        grad: FlexTensor,
        moment_1: FlexTensor,
        moment_2: FlexTensor,
        scalars: [f32; 5],
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        adam_step_on_flex(param, grad, moment_1, moment_2, scalars)
    }
}

impl<C: CheckpointStrategy> AdamKernels for Autodiff<Flex, C> {
    fn adam_step_fast(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        scalars: [f32; 5],
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (param, moment_1, moment_2) = adam_step_on_flex(
            param.into_primitive(),
            grad.into_primitive(),
            moment_1.into_primitive(),
            moment_2.into_primitive(),
            scalars,
        );
        (
            FloatTensor::<Self>::new(param),
            FloatTensor::<Self>::new(moment_1),
            FloatTensor::<Self>::new(moment_2),
        )
    }
}

/// See [`AdamKernels::adam_step_fast`]: the parameter and the moments are updated in their own
/// storage when nothing else shares it (the optimizer's state and a module's parameter between
/// steps), else in a copy.
fn adam_step_on_flex(
    param: FlexTensor,
    grad: FlexTensor,
    moment_1: FlexTensor,
    moment_2: FlexTensor,
    [beta_1, beta_2, penalty, step_size, epsilon]: [f32; 5],
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let ((_, mut param), (_, grad)) = (values_mut(param), values(grad));
    let ((_, mut moment_1), (_, mut moment_2)) = (values_mut(moment_1), values_mut(moment_2));
    let step = AdamStep {
        beta_1,
        beta_2,
        penalty,
        step_size,
        epsilon,
    };
    step.apply(
        param.storage_mut::<f32>(),
        grad.as_slice(),
        moment_1.storage_mut::<f32>(),
        moment_2.storage_mut::<f32>(),
    );
    (param, moment_1, moment_2)
}

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
