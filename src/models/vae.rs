//! The variational autoencoder of the `vae` lab and of the benchmark's `vae_train` workload
//! (Kingma and Welling 2014): four convolutions down to 7×7, dense 16, heads μ and log σ²; the
//! mirror image up. Its loss per image, L = BCE(x, x̂) + β·KL, is written here beside it.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{Initializer, Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Distribution, Tensor};
use serde::{Deserialize, Serialize};

use crate::kernels::{
    bce_with_logits_per_image, conv_transpose2d, conv_transpose2d_relu, conv2d_relu, linear,
};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaeModelConfig {
    pub latent_dim: usize,
    /// Weight of the KL term.
    pub beta: f64,
}

impl VaeModelConfig {
    /// Refuses a `[model]` table read from a run that cannot make a working VAE, naming the field.
    pub fn validate(&self) -> Result<(), String> {
        crate::train::config::check_model_fields(&[("latent_dim", self.latent_dim)], &[])?;
        if !(self.beta.is_finite() && self.beta >= 0.0) {
            return Err(format!("[model] beta: {}; a number ≥ 0", self.beta));
        }
        Ok(())
    }
}

#[derive(Module, Debug)]
pub struct Vae {
    // encoder: 28×28 → 28 → 14 → 7 → 7
    enc1: Conv2d,
    enc2: Conv2d,
    enc3: Conv2d,
    enc4: Conv2d,
    enc_dense: Linear,
    mu: Linear,
    log_var: Linear,
    // decoder: z → 64×7×7 → 7 → 14 → 28 → 28
    dec_dense: Linear,
    dec1: ConvTranspose2d,
    dec2: ConvTranspose2d,
    dec3: ConvTranspose2d,
    dec4: ConvTranspose2d,
    activation: Relu,
}

impl VaeModelConfig {
    /// Every layer starts from He's initialisation for ReLU, U(±√(6/fan_in)): burn's default
    /// (PyTorch's, U(±√(1/fan_in))) shrinks the signal so much through the encoder that μ carries
    /// almost nothing of the image, and the VAE collapses to the mean digit (measured: test loss
    /// stuck at 206 per image, KL at 0.05).
    pub fn init(&self, device: &Device) -> Vae {
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
        let deconv = |c_in, c_out, kernel, stride| {
            ConvTranspose2dConfig::new([c_in, c_out], [kernel, kernel])
                .with_stride([stride, stride])
                .with_padding([1, 1])
                .with_initializer(he.clone())
                .init(device)
        };
        let dense = |d_in, d_out| {
            LinearConfig::new(d_in, d_out)
                .with_initializer(he.clone())
                .init(device)
        };
        Vae {
            enc1: conv(1, 32, 1),
            enc2: conv(32, 64, 2),
            enc3: conv(64, 64, 2),
            enc4: conv(64, 64, 1),
            enc_dense: dense(64 * 7 * 7, 16),
            mu: dense(16, self.latent_dim),
            log_var: dense(16, self.latent_dim),
            dec_dense: dense(self.latent_dim, 64 * 7 * 7),
            dec1: deconv(64, 64, 3, 1),
            dec2: deconv(64, 64, 4, 2),
            dec3: deconv(64, 32, 4, 2),
            dec4: deconv(32, 1, 3, 1),
            activation: Relu::new(),
        }
    }
}

impl Vae {
    /// x `[batch, 1, 28, 28]` → (μ, log σ²), each `[batch, latent]`
    pub fn encode(&self, x: Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        let x = conv2d_relu(&self.enc1, x); // [batch, 32, 28, 28]
        let x = conv2d_relu(&self.enc2, x); // [batch, 64, 14, 14]
        let x = conv2d_relu(&self.enc3, x); // [batch, 64, 7, 7]
        let x = conv2d_relu(&self.enc4, x); // [batch, 64, 7, 7]
        let h = self
            .activation
            .forward(linear(&self.enc_dense, x.flatten(1, 3))); // [batch, 16]
        (linear(&self.mu, h.clone()), linear(&self.log_var, h))
    }

    /// z `[batch, latent]` → pixel logits `[batch, 1, 28, 28]` (x̂ = σ(logits))
    pub fn decode_logits(&self, z: Tensor<2>) -> Tensor<4> {
        let [batch, _] = z.dims();
        let x = self
            .activation
            .forward(linear(&self.dec_dense, z))
            .reshape([batch, 64, 7, 7]);
        let x = conv_transpose2d_relu(&self.dec1, x); // [batch, 64, 7, 7]
        let x = conv_transpose2d_relu(&self.dec2, x); // [batch, 64, 14, 14]
        let x = conv_transpose2d_relu(&self.dec3, x); // [batch, 32, 28, 28]
        conv_transpose2d(&self.dec4, x) // [batch, 1, 28, 28]
    }

    pub fn decode(&self, z: Tensor<2>) -> Tensor<4> {
        sigmoid(self.decode_logits(z))
    }

    /// Per image, the reconstruction's BCE and the KL divergence of `images` (`[batch]` each),
    /// through a z drawn with the noise ε given (`[batch, latent]`, see [`latent_noise`]: a shard
    /// of a batch) or else drawn here.
    pub fn losses(&self, images: Tensor<4>, epsilon: Option<Tensor<2>>) -> (Tensor<1>, Tensor<1>) {
        let (mu, log_var) = self.encode(images.clone());
        let z = match epsilon {
            Some(epsilon) => reparameterize_with(mu.clone(), log_var.clone(), epsilon),
            None => reparameterize(mu.clone(), log_var.clone()),
        };
        let reconstruction = reconstruction_bce(self.decode_logits(z), images);
        (reconstruction, kl_divergence(mu, log_var))
    }
}

// --- Loss --------------------------------------------------------------------------------------

/// z = μ + σ·ε with σ = exp(½ log σ²), ε ~ N(0, I): sampling that gradients can pass through.
pub fn reparameterize(mu: Tensor<2>, log_var: Tensor<2>) -> Tensor<2> {
    let epsilon = mu.random_like(Distribution::Normal(0.0, 1.0));
    reparameterize_with(mu, log_var, epsilon)
}

/// [`reparameterize`] with ε given (`[batch, latent]`, drawn from N(0, I)): for a batch cut into
/// shards, whose noise is drawn once, before them, so that it does not depend on which thread
/// draws first.
pub fn reparameterize_with(mu: Tensor<2>, log_var: Tensor<2>, epsilon: Tensor<2>) -> Tensor<2> {
    mu + (log_var * 0.5).exp() * epsilon
}

/// ε ~ N(0, I) for `batch` images: the noise [`reparameterize`] would draw for them.
pub fn latent_noise(batch: usize, latent_dim: usize, device: &Device) -> Tensor<2> {
    Tensor::random([batch, latent_dim], Distribution::Normal(0.0, 1.0), device)
}

/// Pixel binary cross-entropy per image, from logits l (x̂ = σ(l)), against real-valued x ∈ [0,1]:
/// −[x log σ(l) + (1 − x) log(1 − σ(l))] = softplus(l) − x·l, with
/// softplus(l) = max(l, 0) + log(1 + e^−|l|) computed without overflow. Summed over the pixels,
/// in one pass ([`bce_with_logits_per_image`]).
pub fn reconstruction_bce(logits: Tensor<4>, x: Tensor<4>) -> Tensor<1> {
    bce_with_logits_per_image(logits, x)
}

/// KL(N(μ, σ²) ‖ N(0, I)) = −½ Σⱼ (1 + log σⱼ² − μⱼ² − σⱼ²), per image.
pub fn kl_divergence(mu: Tensor<2>, log_var: Tensor<2>) -> Tensor<1> {
    let terms = log_var.clone() + 1.0 - mu.powi_scalar(2) - log_var.exp();
    (terms.sum_dim(1) * -0.5).squeeze_dim(1)
}
