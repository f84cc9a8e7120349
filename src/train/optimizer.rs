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
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer, RmsPropConfig, SgdConfig};
use serde::{Deserialize, Serialize};

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
            OptimizerKind::Adam => AdamConfig::new()
                .with_epsilon(EPSILON)
                .with_weight_decay(decay)
                .init(),
            OptimizerKind::Adamw => AdamWConfig::new()
                .with_epsilon(EPSILON)
                .with_weight_decay(weight_decay.max(0.0) as f32)
                .init(),
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
