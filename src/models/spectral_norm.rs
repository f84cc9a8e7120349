//! Spectral normalization (Miyato et al., "Spectral Normalization for Generative Adversarial
//! Networks", ICLR 2018): each weight W of a discriminator is used as W / σ(W), σ(W) its largest
//! singular value, so that every layer is 1-Lipschitz and D cannot grow arbitrarily steep where
//! the generator's samples are (the steepness that lets D single out and G abandon a mode).
//!
//! σ is estimated by one step of power iteration per training forward, from a vector u kept
//! between steps (W seen as a matrix of dims[0] rows): v = Wᵀu / ‖Wᵀu‖, u ← Wv / ‖Wv‖,
//! σ = uᵀWv, with u and v held constant in the gradient, as in the paper.
//!
//! Plugged in as burn's [`Reparameterization`]: `param.val()` gives W / σ(W), so the layers and
//! the project's convolution kernels use it unchanged; u is saved with the weights.

use burn::module::{Flag, Module, Param, Reparameterization, Reparameterizer, RunningState};
use burn::tensor::{Distribution, Tensor};

/// The power iteration's state for one weight.
#[derive(Module, Debug)]
pub struct SpectralNorm {
    u: RunningState<Tensor<1>>,
    /// Whether forwards move u (off once frozen, as a batch norm's statistics).
    training: Param<Flag>,
}

/// Spectral normalization of the weights whose path names one of `layers`.
pub struct SpectralNormalizer {
    pub layers: &'static [&'static str],
}

impl Reparameterizer for SpectralNormalizer {
    type Reparam = SpectralNorm;

    fn reparameterize<const D: usize>(
        &mut self,
        path: &str,
        param: Param<Tensor<D>>,
    ) -> (Param<Tensor<D>>, Option<SpectralNorm>) {
        let chosen = self
            .layers
            .iter()
            .any(|layer| path == format!("{layer}.weight"));
        if D < 2 || !chosen {
            return (param, None);
        }
        let rows = param.val().dims()[0];
        let u = Tensor::<1>::random([rows], Distribution::Normal(0.0, 1.0), &param.lazy_device());
        let u = normalized(u.reshape([rows, 1])).reshape([rows]);
        (
            param,
            Some(SpectralNorm {
                u: RunningState::new(u.detach()),
                training: Param::from_bool(true),
            }),
        )
    }
}

/// x / ‖x‖ for a column `[n, 1]`.
fn normalized(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powi_scalar(2).sum().sqrt().clamp_min(1e-12);
    x / norm.reshape([1, 1])
}

impl SpectralNorm {
    /// σ(W) for W `[rows, cols]` as a `[1, 1]` tensor that carries W's gradient; moves u when
    /// training.
    pub fn sigma(&self, w: Tensor<2>) -> Tensor<2> {
        let [rows, _] = w.dims();
        let constant = w.clone().detach();
        let u = self
            .u
            .value_sync()
            .to_device(&w.device())
            .reshape([rows, 1]);
        let v = normalized(constant.clone().transpose().matmul(u));
        let u = normalized(constant.matmul(v.clone()));
        if w.is_autodiff() && self.training.is_enabled() {
            self.u.update(u.clone().reshape([rows]).detach());
        }
        u.transpose().matmul(w.matmul(v))
    }
}

impl Reparameterization for SpectralNorm {
    const NAME: &'static str = "spectral_norm";

    fn apply<const D: usize>(&self, base: Tensor<D>) -> Tensor<D> {
        let dims = base.dims();
        let rows = dims[0];
        let cols = dims.iter().skip(1).product::<usize>();
        let sigma = self.sigma(base.clone().reshape([rows, cols]));
        base / sigma.reshape([1; D])
    }
}

#[cfg(test)]
mod tests {
    use burn::module::Module;
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::{Device, TensorData};

    use super::*;
    use crate::train::FloatValues;

    #[derive(Module, Debug)]
    struct Net {
        dense: Linear,
    }

    #[test]
    fn the_weight_is_divided_by_its_largest_singular_value() {
        let device = Device::flex().autodiff();
        device.seed(1);
        // W = diag(3, 1) rotated: its singular values are 3 and 1
        let (c, s) = (0.6f32, 0.8f32);
        let w = [3.0 * c, -s, 3.0 * s, c]; // [[3c, -s], [3s, c]] = R·diag(3, 1)
        let mut net = Net {
            dense: LinearConfig::new(2, 2).init(&device),
        };
        net.dense.weight = Param::from_data(TensorData::new(w.to_vec(), [2, 2]), &device);
        let net = net.apply_reparameterization(SpectralNormalizer { layers: &["dense"] });
        // each forward is one power-iteration step: a few bring σ to 3
        for _ in 0..20 {
            let _ = net.dense.weight.val();
        }
        let normalized: Vec<f32> = net.dense.weight.val().floats();
        for (n, w) in normalized.iter().zip(w) {
            assert!((n - w / 3.0).abs() < 1e-4, "{normalized:?} vs {w:?}/3");
        }
        // the bias is left alone
        assert_eq!(net.dense.bias.as_ref().unwrap().val().dims(), [2]);
    }

    #[test]
    fn the_gradient_goes_through_sigma() {
        // d(σ(W))/dW = u vᵀ: for W = diag(3, 1), u = v = e₁, so the gradient of Σ (W/σ)ᵢⱼ·Gᵢⱼ
        // differs from G/σ exactly where the paper says: by −(⟨W, G⟩/σ²)·e₁e₁ᵀ
        let device = Device::flex().autodiff();
        device.seed(2);
        let mut net = Net {
            dense: LinearConfig::new(2, 2).with_bias(false).init(&device),
        };
        net.dense.weight = Param::from_data(
            TensorData::new(vec![3.0f32, 0.0, 0.0, 1.0], [2, 2]),
            &device,
        );
        let net = net.apply_reparameterization(SpectralNormalizer { layers: &["dense"] });
        for _ in 0..20 {
            let _ = net.dense.weight.val();
        }
        let g = Tensor::<2>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]),
            &device,
        );
        let loss = (net.dense.weight.val() * g).sum();
        let grads = loss.backward();
        let grad: Vec<f32> = net.dense.weight.grad(&grads).unwrap().floats();
        // ⟨W, G⟩ = 3·1 + 1·4 = 7, σ = 3: G/3 − (7/9)·e₁e₁ᵀ
        let expected = [1.0 / 3.0 - 7.0 / 9.0, 2.0 / 3.0, 1.0, 4.0 / 3.0];
        for (a, b) in grad.iter().zip(expected) {
            assert!((a - b).abs() < 1e-4, "{grad:?} vs {expected:?}");
        }
    }
}
