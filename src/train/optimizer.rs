//! `--optimizer`: the update rules of the lecture's "Training process" slide, built from burn's.
//!
//! - sgd:      θ ← θ − η·g
//! - momentum: v ← 0.9·v + g,  θ ← θ − η·v
//! - adam:     m ← β₁m + (1−β₁)g,  s ← β₂s + (1−β₂)g²,  θ ← θ − η·m̂/(√ŝ + ε)
//! - adamw:    adam, with the weight decay applied to θ directly rather than through g
//! - rmsprop:  s ← ρs + (1−ρ)g²,  θ ← θ − η·g/(√s + ε)
//!
//! Hyper-parameters follow Keras (which the FIDLE notebooks use): ε = 1e-7, ρ = 0.9, no momentum
//! in RMSprop, no dampening in momentum.

use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{
    Adam, AdamConfig, AdamState, AdamW, AdamWConfig, AdamWState, AdaptiveMomentumState,
    LearningRate, ModuleOptimizer, Optimizer, RmsPropConfig, SgdConfig,
};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::kernels::{AdamStep, adam_applies, adam_step};

/// The optimizers `--optimizer` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// plain stochastic gradient descent
    Sgd,
    /// SGD with momentum 0.9
    Momentum,
    /// Adam (β₁ 0.9, β₂ 0.999)
    Adam,
    /// Adam with decoupled weight decay
    Adamw,
    /// RMSprop (ρ 0.9)
    Rmsprop,
}

impl OptimizerKind {
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Momentum => "momentum",
            OptimizerKind::Adam => "adam",
            OptimizerKind::Adamw => "adamw",
            OptimizerKind::Rmsprop => "rmsprop",
        }
    }

    /// The optimizer, with `weight_decay` (L2 penalty; decoupled for adamw) when above zero.
    pub fn build(self, weight_decay: f64) -> ModuleOptimizer {
        const EPSILON: f32 = 1e-7;
        let decay = (weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay as f32));
        match self {
            OptimizerKind::Sgd => SgdConfig::new().with_weight_decay(decay).init(),
            OptimizerKind::Momentum => SgdConfig::new()
                .with_momentum(Some(MomentumConfig::new().with_dampening(0.0)))
                .with_weight_decay(decay)
                .init(),
            OptimizerKind::Adam => adam(0.9, EPSILON, weight_decay.max(0.0) as f32),
            OptimizerKind::Adamw => adamw(EPSILON, weight_decay.max(0.0) as f32),
            OptimizerKind::Rmsprop => RmsPropConfig::new()
                .with_alpha(0.9)
                .with_momentum(0.0)
                .with_epsilon(EPSILON)
                .with_weight_decay(decay)
                .init(),
        }
    }
}

impl std::fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Adam (β₂ 0.999) with first-moment decay `beta_1`, `epsilon`, and an L2 penalty
/// `weight_decay` (0 for none), through [`FusedAdam`].
pub fn adam(beta_1: f32, epsilon: f32, weight_decay: f32) -> ModuleOptimizer {
    let decay = (weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay));
    let config = AdamConfig::new()
        .with_beta_1(beta_1)
        .with_epsilon(epsilon)
        .with_weight_decay(decay);
    ModuleOptimizer::from(FusedAdam {
        beta_1,
        beta_2: 0.999,
        epsilon,
        penalty: weight_decay,
        burn: config.build(),
    })
}

/// burn's Adam, with each parameter's step done by one kernel ([`crate::kernels::adam_step`]:
/// one parallel pass in place of some ten single-threaded tensor operations), and burn's own step
/// where that kernel does not apply. Its state is burn's `AdamState`, so that checkpoints are the
/// same either way.
#[derive(Clone)]
pub struct FusedAdam {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    penalty: f32,
    burn: Adam,
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        if !adam_applies(&tensor) {
            return self.burn.step(lr, tensor, grad, state);
        }
        let (param, momentum) = fused_step(
            lr,
            tensor,
            grad,
            state.map(|s| s.momentum),
            (self.beta_1, self.beta_2),
            self.epsilon,
            self.penalty,
        );
        (param, Some(AdamState::new(momentum)))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        <Adam as Optimizer>::to_device(state, device)
    }
}

/// One Adam step of `tensor` by the kernel, from the moments of `momentum` (zero at the first
/// step). AMSGrad (a third moment) is never configured here. The moments are taken out of the
/// state, which is then gone: nothing else holds them, and the kernel updates them in their own
/// storage.
fn fused_step<const D: usize>(
    lr: LearningRate,
    tensor: Tensor<D>,
    grad: Tensor<D>,
    momentum: Option<AdaptiveMomentumState<D>>,
    betas: (f32, f32),
    epsilon: f32,
    penalty: f32,
) -> (Tensor<D>, AdaptiveMomentumState<D>) {
    let (time, moments) = match momentum {
        Some(m) => (m.time + 1, (m.moment_1, m.moment_2)),
        None => (1, (tensor.zeros_like(), tensor.zeros_like())),
    };
    let step = AdamStep::new(lr, betas, epsilon, penalty, time as i32);
    let (param, moment_1, moment_2) = adam_step(tensor, grad, moments, &step);
    (param, AdaptiveMomentumState::new(time, moment_1, moment_2))
}

/// AdamW (β 0.9, 0.999) with `epsilon` and the decoupled decay `weight_decay`, through
/// [`FusedAdamW`].
pub fn adamw(epsilon: f32, weight_decay: f32) -> ModuleOptimizer {
    let config = AdamWConfig::new()
        .with_epsilon(epsilon)
        .with_weight_decay(weight_decay);
    ModuleOptimizer::from(FusedAdamW {
        epsilon,
        weight_decay,
        burn: config.build(),
    })
}

/// burn's AdamW, the Adam part of each step done by [`crate::kernels::adam_step`] after the
/// decoupled decay θ ← θ·(1 − η·λ), as burn does it; burn's own step where the kernel does not
/// apply. Its state is burn's `AdamWState`, so that checkpoints are the same either way.
#[derive(Clone)]
pub struct FusedAdamW {
    epsilon: f32,
    weight_decay: f32,
    burn: AdamW,
}

impl Optimizer for FusedAdamW {
    type State<const D: usize> = AdamWState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        if !adam_applies(&tensor) {
            return self.burn.step(lr, tensor, grad, state);
        }
        let decay = lr * self.weight_decay as f64;
        let tensor = if decay == 0.0 {
            tensor
        } else {
            tensor.mul_scalar(1.0 - decay)
        };
        let (param, momentum) = fused_step(
            lr,
            tensor,
            grad,
            state.map(|s| s.momentum),
            (0.9, 0.999),
            self.epsilon,
            0.0,
        );
        (param, Some(AdamWState::new(momentum)))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        <AdamW as Optimizer>::to_device(state, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::GradientsParams;
    use burn::tensor::{Distribution, Tolerance};

    /// The weights of `layer` after `steps` steps of `optimizer` on a loss with random weights.
    fn train(mut layer: Linear, mut optimizer: ModuleOptimizer, steps: usize) -> Vec<f32> {
        let device = layer.weight.device();
        for step in 0..steps {
            device.seed(100 + step as u64);
            let x = Tensor::<2>::random([16, 5], Distribution::Normal(0.0, 1.0), &device);
            let w = Tensor::<2>::random([16, 3], Distribution::Normal(0.0, 1.0), &device);
            let loss = (layer.forward(x) * w).sum();
            let grads = GradientsParams::from_grads(loss.backward(), &layer);
            layer = optimizer.step(1e-2, layer, grads);
        }
        let mut values = layer.weight.val().into_data().try_to_vec::<f32>().unwrap();
        values.extend(
            layer
                .bias
                .unwrap()
                .val()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap(),
        );
        values
    }

    /// AdamW's check, run from the Adam test: both seed the one flex device, and tests run in
    /// parallel would draw from each other's seeds.
    fn fused_adamw_follows_burns_adamw_step_by_step() {
        let device = Device::flex().autodiff();
        for weight_decay in [0.0, 0.01, 0.3] {
            device.seed(7);
            let layer = LinearConfig::new(5, 3).init(&device);
            let burn = AdamWConfig::new()
                .with_epsilon(1e-8)
                .with_weight_decay(weight_decay)
                .init();
            let start = layer.weight.val().into_data();
            let fused = train(layer.clone(), adamw(1e-8, weight_decay), 5);
            let plain = train(layer, burn, 5);
            burn::tensor::TensorData::from(fused.as_slice()).assert_approx_eq::<f32>(
                &burn::tensor::TensorData::from(plain.as_slice()),
                Tolerance::rel_abs(1e-5, 1e-6),
            );
            assert_ne!(
                start.try_to_vec::<f32>().unwrap()[..15],
                fused[..15],
                "it moved"
            );
        }
    }

    #[test]
    fn fused_adam_and_adamw_follow_burns_step_by_step() {
        fused_adamw_follows_burns_adamw_step_by_step();
        let device = Device::flex().autodiff();
        for (beta_1, weight_decay) in [(0.9, 0.0), (0.5, 0.0), (0.9, 0.1)] {
            device.seed(7);
            let layer = LinearConfig::new(5, 3).init(&device);
            let decay = (weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay));
            let burn = AdamConfig::new()
                .with_beta_1(beta_1)
                .with_epsilon(1e-8)
                .with_weight_decay(decay)
                .init();
            let start = layer.weight.val().into_data();
            let fused = train(layer.clone(), adam(beta_1, 1e-8, weight_decay), 5);
            let plain = train(layer, burn, 5);
            burn::tensor::TensorData::from(fused.as_slice()).assert_approx_eq::<f32>(
                &burn::tensor::TensorData::from(plain.as_slice()),
                Tolerance::rel_abs(1e-5, 1e-6),
            );
            // and the weights did move: five steps of about the learning rate each
            let moved = start
                .try_to_vec::<f32>()
                .unwrap()
                .iter()
                .zip(&fused)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(moved > 0.02, "largest move {moved}");
        }
    }
}
