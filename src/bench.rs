//! `neurons bench`: the six workloads of `shared/bench/README.md`, timed as the PyTorch reference
//! times them, so that `compare.sh` can put both side by side.
//!
//! Inputs are random and made before the clock starts; one warm-up step is not timed; the timed
//! loop covers forward, backward and the optimizer step (inference only for `cnn_infer`).

use std::time::Instant;

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::gru::{Gru, GruConfig};
use burn::nn::loss::CrossEntropyLoss;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, Relu};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Distribution, Int, Tensor};
use serde::Serialize;

use crate::kernels::{conv2d_relu, max_pool2d};
use crate::labs::vae::{VaeModelConfig, kl_divergence, reconstruction_bce, reparameterize};
use crate::models::dcgan::DcganConfig;
use crate::train::adversarial::bce_with_logits;

/// The benchmark's workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Workload {
    MlpTrain,
    CnnTrain,
    CnnInfer,
    VaeTrain,
    GanTrain,
    GruTrain,
}

impl Workload {
    pub const ALL: [Workload; 6] = [
        Workload::MlpTrain,
        Workload::CnnTrain,
        Workload::CnnInfer,
        Workload::VaeTrain,
        Workload::GanTrain,
        Workload::GruTrain,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::MlpTrain => "mlp_train",
            Workload::CnnTrain => "cnn_train",
            Workload::CnnInfer => "cnn_infer",
            Workload::VaeTrain => "vae_train",
            Workload::GanTrain => "gan_train",
            Workload::GruTrain => "gru_train",
        }
    }

    fn batch_size(self) -> usize {
        match self {
            Workload::MlpTrain | Workload::CnnTrain => 128,
            Workload::CnnInfer => 1000,
            Workload::VaeTrain | Workload::GanTrain => 64,
            Workload::GruTrain => 32,
        }
    }

    /// Samples at scale 1, as in the reference.
    fn base_samples(self) -> usize {
        match self {
            Workload::MlpTrain => 60_000,
            Workload::CnnTrain | Workload::CnnInfer => 20_000,
            Workload::VaeTrain | Workload::GanTrain | Workload::GruTrain => 6_400,
        }
    }
}

/// One line of `neurons bench --json`, the same fields as `pytorch_reference.py`.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub workload: &'static str,
    pub samples: usize,
    pub seconds: f64,
    pub samples_per_second: f64,
}

/// Runs one workload at `scale` on `device` (a plain device; autodiff is added for training).
pub fn run(workload: Workload, scale: f64, device: &Device) -> BenchResult {
    // at least 1,000 samples, as the reference, and at least two batches: one warm-up, one timed
    let n = ((workload.base_samples() as f64 * scale) as usize)
        .max(1000)
        .max(2 * workload.batch_size());
    device.seed(42);
    let (samples, seconds) = match workload {
        Workload::MlpTrain => mlp_train(n, &device.clone().autodiff()),
        Workload::CnnTrain => cnn_train(n, &device.clone().autodiff()),
        Workload::CnnInfer => cnn_infer(n, device),
        Workload::VaeTrain => vae_train(n, &device.clone().autodiff()),
        Workload::GanTrain => gan_train(n, &device.clone().autodiff()),
        Workload::GruTrain => gru_train(n, &device.clone().autodiff()),
    };
    BenchResult {
        workload: workload.name(),
        samples,
        seconds: (seconds * 1e4).round() / 1e4,
        samples_per_second: (samples as f64 / seconds * 10.0).round() / 10.0,
    }
}

/// Runs `step(0)` untimed, then times `step(1..=steps)`; `step` returns a value that forces the
/// work to be done (a loss read back).
fn timed(steps: usize, mut step: impl FnMut(usize) -> f32) -> f64 {
    step(0);
    let started = Instant::now();
    let mut sink = 0.0;
    for i in 1..=steps {
        sink += step(i);
    }
    let seconds = started.elapsed().as_secs_f64();
    std::hint::black_box(sink);
    seconds
}

fn adam() -> ModuleOptimizer {
    crate::train::optimizer::adam(0.9, 1e-8, 0.0)
}

fn rows<const D: usize>(x: &Tensor<D>, i: usize, batch: usize) -> Tensor<D> {
    x.clone().narrow(0, i * batch, batch)
}

fn labels(y: &Tensor<1, Int>, i: usize, batch: usize) -> Tensor<1, Int> {
    y.clone().narrow(0, i * batch, batch)
}

/// One optimizer step of `model` on the loss `loss(model)`; returns the loss value.
fn step<M: Module>(
    model: M,
    optimizer: &mut ModuleOptimizer,
    lr: f64,
    loss: impl FnOnce(&M) -> Tensor<1>,
) -> (M, f32) {
    let loss = loss(&model);
    let value = loss.clone().into_scalar::<f32>();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    (optimizer.step(lr, model, grads), value)
}

#[derive(Module, Debug)]
struct Mlp {
    l1: Linear,
    l2: Linear,
    l3: Linear,
    relu: Relu,
}

fn mlp_train(n: usize, device: &Device) -> (usize, f64) {
    let batch = 128;
    let mut model = Mlp {
        l1: LinearConfig::new(784, 256).init(device),
        l2: LinearConfig::new(256, 128).init(device),
        l3: LinearConfig::new(128, 10).init(device),
        relu: Relu::new(),
    };
    let x = Tensor::<2>::random([n, 784], Distribution::Normal(0.0, 1.0), device);
    let y = Tensor::<1, Int>::random([n], Distribution::Uniform(0.0, 10.0), device);
    let loss_fn = CrossEntropyLoss::new(None, device);
    let mut optimizer = adam();
    let steps = n / batch - 1;
    let seconds = timed(steps, |i| {
        let (xb, yb) = (rows(&x, i, batch), labels(&y, i, batch));
        let (m, v) = step(model.clone(), &mut optimizer, 1e-3, |m| {
            let h = m
                .relu
                .forward(m.l2.forward(m.relu.forward(m.l1.forward(xb))));
            loss_fn.forward(m.l3.forward(h), yb)
        });
        model = m;
        v
    });
    (steps * batch, seconds)
}

#[derive(Module, Debug)]
struct BenchCnn {
    c1: Conv2d,
    c2: Conv2d,
    pool: MaxPool2d,
    f1: Linear,
    f2: Linear,
    relu: Relu,
}

impl BenchCnn {
    fn new(device: &Device) -> Self {
        Self {
            c1: Conv2dConfig::new([1, 32], [3, 3]).init(device),
            c2: Conv2dConfig::new([32, 64], [3, 3]).init(device),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            f1: LinearConfig::new(64 * 5 * 5, 128).init(device),
            f2: LinearConfig::new(128, 10).init(device),
            relu: Relu::new(),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = max_pool2d(&self.pool, conv2d_relu(&self.c1, x));
        let x = max_pool2d(&self.pool, conv2d_relu(&self.c2, x));
        self.f2
            .forward(self.relu.forward(self.f1.forward(x.flatten(1, 3))))
    }
}

fn cnn_train(n: usize, device: &Device) -> (usize, f64) {
    let batch = 128;
    let mut model = BenchCnn::new(device);
    let x = Tensor::<4>::random([n, 1, 28, 28], Distribution::Normal(0.0, 1.0), device);
    let y = Tensor::<1, Int>::random([n], Distribution::Uniform(0.0, 10.0), device);
    let loss_fn = CrossEntropyLoss::new(None, device);
    let mut optimizer = adam();
    let steps = n / batch - 1;
    let seconds = timed(steps, |i| {
        let (xb, yb) = (rows(&x, i, batch), labels(&y, i, batch));
        let (m, v) = step(model.clone(), &mut optimizer, 1e-3, |m| {
            loss_fn.forward(m.forward(xb), yb)
        });
        model = m;
        v
    });
    (steps * batch, seconds)
}

fn cnn_infer(n: usize, device: &Device) -> (usize, f64) {
    let batch = 1000;
    let model = BenchCnn::new(device);
    let x = Tensor::<4>::random([n, 1, 28, 28], Distribution::Normal(0.0, 1.0), device);
    let steps = n / batch - 1;
    let seconds = timed(steps, |i| {
        model.forward(rows(&x, i, batch)).sum().into_scalar::<f32>()
    });
    (steps * batch, seconds)
}

fn vae_train(n: usize, device: &Device) -> (usize, f64) {
    let batch = 64;
    let mut model = VaeModelConfig {
        latent_dim: 2,
        beta: 1.0,
    }
    .init(device);
    let x = Tensor::<4>::random([n, 1, 28, 28], Distribution::Uniform(0.0, 1.0), device);
    let mut optimizer = adam();
    let steps = n / batch - 1;
    let seconds = timed(steps, |i| {
        let xb = rows(&x, i, batch);
        let (m, v) = step(model.clone(), &mut optimizer, 1e-3, |m| {
            let (mu, log_var) = m.encode(xb.clone());
            let z = reparameterize(mu.clone(), log_var.clone());
            (reconstruction_bce(m.decode_logits(z), xb) + kl_divergence(mu, log_var)).mean()
        });
        model = m;
        v
    });
    (steps * batch, seconds)
}

fn gan_train(n: usize, device: &Device) -> (usize, f64) {
    let batch = 64;
    let config = DcganConfig {
        noise_dim: 100,
        classes: 0,
        label_embedding: 0,
    };
    let (mut g, mut d) = (config.generator(device), config.discriminator(device));
    let adam_gan = || crate::train::optimizer::adam(0.5, 1e-8, 0.0);
    let (mut og, mut od) = (adam_gan(), adam_gan());
    let real = Tensor::<4>::random([n, 1, 28, 28], Distribution::Uniform(-1.0, 1.0), device);
    let labels = Tensor::<1, Int>::zeros([batch], device);
    let steps = n / batch - 1;
    let seconds = timed(steps, |i| {
        let xb = rows(&real, i, batch);
        let noise = Tensor::<2>::random([batch, 100], Distribution::Normal(0.0, 1.0), device);
        let fake = g.forward(noise, labels.clone());
        let detached = fake.clone().detach();
        let (d2, vd) = step(d.clone(), &mut od, 2e-4, |m| {
            bce_with_logits(m.forward(xb, labels.clone()), 1.0)
                + bce_with_logits(m.forward(detached, labels.clone()), 0.0)
        });
        d = d2;
        // D's parameters need no gradient in the G step (the reference computes them anyway)
        let frozen_d = d.clone().no_grad();
        let loss_g = bce_with_logits(frozen_d.forward(fake, labels.clone()), 1.0);
        let vg = loss_g.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss_g.backward(), &g);
        g = og.step(2e-4, g.clone(), grads);
        vd + vg
    });
    (steps * batch, seconds)
}

#[derive(Module, Debug)]
struct BenchGru {
    gru: Gru,
    out: Linear,
}

fn gru_train(n: usize, device: &Device) -> (usize, f64) {
    let batch = 32;
    let mut model = BenchGru {
        gru: GruConfig::new(2, 200, true).init(device),
        out: LinearConfig::new(200, 2).init(device),
    };
    let x = Tensor::<3>::random([n, 20, 2], Distribution::Normal(0.0, 1.0), device);
    let y = Tensor::<2>::random([n, 2], Distribution::Normal(0.0, 1.0), device);
    let mut optimizer = adam();
    let steps = n / batch - 1;
    let seconds = timed(steps, |i| {
        let (xb, yb) = (rows(&x, i, batch), rows(&y, i, batch));
        let (m, v) = step(model.clone(), &mut optimizer, 1e-3, |m| {
            let h = crate::kernels::gru(&m.gru, xb); // [batch, 20, 200]
            let last: Tensor<2> = h.narrow(1, 19, 1).reshape([batch, 200]);
            (m.out.forward(last) - yb).square().mean()
        });
        model = m;
        v
    });
    (steps * batch, seconds)
}
