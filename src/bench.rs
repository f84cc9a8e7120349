//! `neurons bench`: the eleven workloads of `bench/README.md`, timed as `bench/pytorch_reference.py`
//! times them, so that `bench/compare.sh` can put both side by side. Each workload trains a model
//! of [`crate::models`] built by the very constructor its lab uses, at the benchmark's sizes.
//!
//! Inputs are random and made before the clock starts; one warm-up step is not timed; the timed
//! loop covers forward, backward and the optimizer step (inference only for `cnn_infer`).

use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLoss;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Distribution, Int, Tensor};
use serde::Serialize;

use crate::data::table::Standardizer;
use crate::data::text::{TextBatch, TextItem, encode_batch};
use crate::models::cnn::{Cnn, CnnModelConfig};
use crate::models::dcgan::DcganConfig;
use crate::models::forecaster::RnnModelConfig;
use crate::models::mlp::MlpModelConfig;
use crate::models::pix2pix::{AdversarialPair, PatchGanConfig, UNetConfig};
use crate::models::sentiment::SentimentModelConfig;
use crate::models::transformer::TransformerModelConfig;
use crate::models::vae::{VaeModelConfig, latent_noise};
use crate::train::adversarial::bce_with_logits;
use crate::train::classify::ImageClassifier;
use crate::train::forecast::Forecaster;
use crate::train::optimizer::OptimizerKind;
use crate::train::sharded::{ranges, shard_count, sharded_gradients};
use crate::train::text::TextClassifier;

/// The benchmark's workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Workload {
    MlpTrain,
    CnnTrain,
    CnnInfer,
    VaeTrain,
    GanTrain,
    Pix2pixTrain,
    GruTrain,
    TextGruTrain,
    TransformerTrain,
    GcnTrain,
    GcnTrainLarge,
}

impl Workload {
    pub const ALL: [Workload; 11] = [
        Workload::MlpTrain,
        Workload::CnnTrain,
        Workload::CnnInfer,
        Workload::VaeTrain,
        Workload::GanTrain,
        Workload::Pix2pixTrain,
        Workload::GruTrain,
        Workload::TextGruTrain,
        Workload::TransformerTrain,
        Workload::GcnTrain,
        Workload::GcnTrainLarge,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::MlpTrain => "mlp_train",
            Workload::CnnTrain => "cnn_train",
            Workload::CnnInfer => "cnn_infer",
            Workload::VaeTrain => "vae_train",
            Workload::GanTrain => "gan_train",
            Workload::Pix2pixTrain => "pix2pix_train",
            Workload::GruTrain => "gru_train",
            Workload::TextGruTrain => "text_gru_train",
            Workload::TransformerTrain => "transformer_train",
            Workload::GcnTrain => "gcn_train",
            Workload::GcnTrainLarge => "gcn_train_large",
        }
    }

    fn batch_size(self) -> usize {
        match self {
            Workload::MlpTrain | Workload::CnnTrain => 128,
            Workload::CnnInfer => 1000,
            Workload::VaeTrain | Workload::GanTrain | Workload::Pix2pixTrain => 64,
            Workload::TextGruTrain | Workload::TransformerTrain => 64,
            Workload::GruTrain => 32,
            // a graph step reads every node: its "batch" is the graph
            Workload::GcnTrain => CORA.nodes,
            Workload::GcnTrainLarge => LARGE_GRAPH.nodes,
        }
    }

    /// Samples at scale 1, as in the reference.
    fn base_samples(self) -> usize {
        match self {
            Workload::MlpTrain => 60_000,
            Workload::CnnTrain | Workload::CnnInfer => 20_000,
            Workload::VaeTrain | Workload::GanTrain | Workload::GruTrain => 6_400,
            Workload::Pix2pixTrain => 6_400,
            Workload::TextGruTrain | Workload::TransformerTrain => 6_400,
            Workload::GcnTrain => CORA.nodes * 100,
            Workload::GcnTrainLarge => LARGE_GRAPH.nodes * 10,
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
        Workload::Pix2pixTrain => pix2pix_train(n, &device.clone().autodiff()),
        Workload::GruTrain => gru_train(n, &device.clone().autodiff()),
        Workload::TextGruTrain => text_train(n, &device.clone().autodiff(), |vocabulary| {
            SentimentModelConfig::lab(vocabulary, 2).init(&device.clone().autodiff())
        }),
        Workload::TransformerTrain => text_train(n, &device.clone().autodiff(), |vocabulary| {
            TransformerModelConfig::lab(vocabulary, 2, SENTENCE).init(&device.clone().autodiff())
        }),
        Workload::GcnTrain => gcn_train(n, &CORA, &device.clone().autodiff()),
        Workload::GcnTrainLarge => gcn_train(n, &LARGE_GRAPH, &device.clone().autodiff()),
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

/// Ten classes, named as digits: the benchmark's labels.
fn digit_classes() -> Vec<String> {
    (0..10).map(|d| d.to_string()).collect()
}

fn mlp_train(n: usize, device: &Device) -> (usize, f64) {
    let batch = 128;
    // the mlp-classifier lab's network at the reference's sizes, inputs already standard
    let mut model = MlpModelConfig {
        image_size: [28, 28],
        hidden: vec![256, 128],
        classes: digit_classes(),
        input_mean: 0.0,
        input_std: 1.0,
    }
    .init(device);
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

/// The cnn lab's network at the reference's sizes: 32 and 64 channels, dense 128, no dropout,
/// inputs already standard.
fn benchmark_cnn(device: &Device) -> Cnn {
    CnnModelConfig {
        image_size: [28, 28],
        channels: [32, 64],
        dense: 128,
        classes: digit_classes(),
        input_mean: 0.0,
        input_std: 1.0,
        dropout: [0.0, 0.0],
    }
    .init(device)
}

fn cnn_train(n: usize, device: &Device) -> (usize, f64) {
    let batch = 128;
    let mut model = benchmark_cnn(device);
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
    let model = benchmark_cnn(device);
    let x = Tensor::<4>::random([n, 1, 28, 28], Distribution::Normal(0.0, 1.0), device);
    let steps = n / batch - 1;
    let seconds = timed(steps, |i| {
        model.forward(rows(&x, i, batch)).sum().into_scalar::<f32>()
    });
    (steps * batch, seconds)
}

fn vae_train(n: usize, device: &Device) -> (usize, f64) {
    let (batch, latent_dim) = (64, 2);
    let model = VaeModelConfig {
        latent_dim,
        beta: 1.0,
    }
    .init(device);
    let x = Tensor::<4>::random([n, 1, 28, 28], Distribution::Uniform(0.0, 1.0), device);
    let mut optimizer = adam();
    let steps = n / batch - 1;
    let mut model = Some(model);
    let seconds = timed(steps, |i| {
        let xb = rows(&x, i, batch);
        // the `vae` lab's step: the batch cut into one shard per thread (`train::sharded`)
        let noise = latent_noise(batch, latent_dim, device);
        let shards = ranges(batch, shard_count(batch, device));
        let current = model.take().expect("the model is put back after each step");
        let (grads, values) = sharded_gradients(&current, shards, |m, (first, len)| {
            let xs = xb.clone().narrow(0, first, len);
            let epsilon = noise.clone().narrow(0, first, len);
            let (reconstruction, kl) = m.losses(xs, Some(epsilon));
            ((reconstruction + kl).sum() / batch as f32, ())
        });
        model = Some(optimizer.step(1e-3, current, grads));
        values.iter().map(|(value, _)| value).sum()
    });
    (steps * batch, seconds)
}

/// The `pix2pix` lab's step: U-Net and PatchGAN, one loss L_D + L_G + 100·L1, one Adam.
fn pix2pix_train(n: usize, device: &Device) -> (usize, f64) {
    let batch = 64;
    let mut model = AdversarialPair {
        generator: UNetConfig { channels: 16 }.init(device),
        discriminator: PatchGanConfig {
            in_channels: 2,
            channels: 32,
        }
        .init(device),
    };
    // inputs as outlines are: 0 or 1; targets as digits: in 0..1
    let inputs = Tensor::<4>::random([n, 1, 28, 28], Distribution::Uniform(0.0, 1.0), device)
        .greater_elem(0.7)
        .float();
    let targets = Tensor::<4>::random([n, 1, 28, 28], Distribution::Uniform(0.0, 1.0), device);
    let mut optimizer = adam();
    let steps = n / batch - 1;
    let seconds = timed(steps, |i| {
        let (x, y) = (rows(&inputs, i, batch), rows(&targets, i, batch));
        let (m, v) = step(model.clone(), &mut optimizer, 5e-4, |m| {
            m.pix2pix_loss(x, y, 100.0).total
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
        pack: 1,
        spectral_norm: false,
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

fn gru_train(n: usize, device: &Device) -> (usize, f64) {
    let batch = 32;
    // the rnn lab's network (its standardizer plays no part in the forward pass)
    let mut model = RnnModelConfig {
        hidden: 200,
        standardizer: Standardizer {
            mean: vec![0.0; 2],
            std: vec![1.0; 2],
        },
    }
    .init(device);
    let x = Tensor::<3>::random([n, 20, 2], Distribution::Normal(0.0, 1.0), device);
    let y = Tensor::<2>::random([n, 2], Distribution::Normal(0.0, 1.0), device);
    let mut optimizer = adam();
    let steps = n / batch - 1;
    let seconds = timed(steps, |i| {
        let (xb, yb) = (rows(&x, i, batch), rows(&y, i, batch));
        let (m, v) = step(model.clone(), &mut optimizer, 1e-3, |m| {
            (m.forward(xb) - yb).square().mean()
        });
        model = m;
        v
    });
    (steps * batch, seconds)
}

/// The text workloads' sentences: this many words each, all real (no padding), ids drawn from
/// a vocabulary of this size, as the movie reviews' (8,274 words).
const SENTENCE: usize = 40;
const VOCABULARY: usize = 8_000;

/// A text classifier trained as its lab trains it: cross-entropy, AdamW (η 2·10⁻³, decay 0.01),
/// batches of 64 sentences, made before the clock starts.
fn text_train<M: TextClassifier>(
    n: usize,
    device: &Device,
    init: impl FnOnce(usize) -> M,
) -> (usize, f64) {
    let batch = 64;
    let mut model = init(VOCABULARY);
    let ids = Tensor::<2, Int>::random(
        [n, SENTENCE],
        Distribution::Uniform(2.0, VOCABULARY as f64),
        device,
    )
    .into_data()
    .convert::<i64>()
    .try_to_vec::<i64>()
    .expect("ids as i64");
    let classes = Tensor::<1, Int>::random([n], Distribution::Uniform(0.0, 2.0), device)
        .into_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .expect("labels as i64");
    let steps = n / batch - 1;
    let batches: Vec<TextBatch> = (0..=steps)
        .map(|i| {
            let items: Vec<TextItem> = (i * batch..(i + 1) * batch)
                .map(|k| TextItem {
                    ids: ids[k * SENTENCE..(k + 1) * SENTENCE]
                        .iter()
                        .map(|&v| v as u32)
                        .collect(),
                    label: classes[k] as u8,
                })
                .collect();
            encode_batch(&items, device)
        })
        .collect();
    let mut optimizer = OptimizerKind::Adamw.build(0.01);
    let loss_fn = CrossEntropyLoss::new(None, device);
    let seconds = timed(steps, |i| {
        let b = &batches[i];
        let (m, v) = step(model.clone(), &mut optimizer, 2e-3, |m| {
            loss_fn.forward(m.forward(b), b.targets.clone())
        });
        model = m;
        v
    });
    (steps * batch, seconds)
}

/// The sizes of a random graph for the GCN workloads.
struct GraphSize {
    nodes: usize,
    edges: usize,
    features: usize,
    /// The labelled nodes the loss counts.
    train: usize,
}

/// Cora's sizes.
const CORA: GraphSize = GraphSize {
    nodes: 2_708,
    edges: 5_278,
    features: 1_433,
    train: 140,
};

/// How the cost grows with the graph: 200,000 nodes, 2,000,000 edges, 128 features.
const LARGE_GRAPH: GraphSize = GraphSize {
    nodes: 200_000,
    edges: 2_000_000,
    features: 128,
    train: 20_000,
};

/// The gcn lab's step, its loss as the lab computes it ([`NodeClassification`]), on a random
/// graph of `size` (self-pairs dropped, repeats kept and added up, as the reference does): the
/// whole graph forward, Adam η 0.01. A sample is a node; `n` samples are `n / nodes` steps.
fn gcn_train(n: usize, size: &GraphSize, device: &Device) -> (usize, f64) {
    use std::sync::Arc;

    use rand::{Rng, SeedableRng};

    use crate::kernels::SparseMatrix;
    use crate::models::gcn::{GcnModelConfig, normalized_adjacency};
    use crate::train::fit::Supervised;
    use crate::train::graph::{GraphBatch, GraphInput, LabelledNodes, NodeClassification};

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
    let nodes = size.nodes as u32;
    let edges: Vec<[u32; 2]> = (0..size.edges)
        .map(|_| [rng.random_range(0..nodes), rng.random_range(0..nodes)])
        .filter(|[a, b]| a != b)
        .collect();
    let adjacency = Arc::new(SparseMatrix::new(normalized_adjacency(size.nodes, &edges)));
    drop(edges); // the graph lives on in `adjacency` alone (16 MB for the large one)
    let classes = 7;
    let train = LabelledNodes {
        nodes: (0..size.train as u32).collect(),
        labels: (0..size.train)
            .map(|_| rng.random_range(0..classes))
            .collect(),
    };
    let features = Tensor::<2>::random(
        [size.nodes, size.features],
        Distribution::Normal(0.0, 1.0),
        device,
    );
    let task = NodeClassification {
        graph: GraphInput {
            features: Arc::new(Vec::new()), // the batch below carries them
            feature_count: size.features,
            adjacency: adjacency.clone(),
        },
        train: train.clone(),
        watched: (crate::report::metrics::Split::Test, train.clone()),
        also: None,
        first_layer_decay: 5e-4,
        _model: std::marker::PhantomData,
    };
    let index = |values: Vec<u32>| {
        Tensor::<1, Int>::from_data(
            burn::tensor::TensorData::new(
                values.iter().map(|&v| v as i64).collect::<Vec<_>>(),
                [values.len()],
            ),
            device,
        )
    };
    let batch = GraphBatch {
        features,
        adjacency,
        nodes: index(train.nodes.clone()),
        targets: index(train.labels.clone()),
    };
    let mut model = GcnModelConfig::lab(size.features, classes as usize).init(device);
    let mut optimizer = adam();
    let steps = n / size.nodes - 1;
    let seconds = timed(steps, |_| {
        let (m, v) = step(model.clone(), &mut optimizer, 0.01, |m| {
            task.batch(m, batch.clone()).loss
        });
        model = m;
        v
    });
    (steps * size.nodes, seconds)
}
