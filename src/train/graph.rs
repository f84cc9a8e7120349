//! Node classification as a supervised task: the whole graph goes through the network at every
//! step (one batch per epoch), the cross-entropy counts the training nodes only, plus an L2
//! penalty on the first layer's weights (the paper's). The loop is [`super::fit`]'s.

use std::sync::Arc;

use burn::data::dataloader::DataLoader;
use burn::data::dataloader::batcher::Batcher;
use burn::nn::loss::CrossEntropyLoss;
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::classify::METRICS;
use super::fit::{BatchOutcome, Supervised};
use crate::error::{Error, Result};
use crate::kernels::SparseMatrix;
use crate::report::metrics::Split;

/// A network that classifies every node of a graph from its features and neighbours.
pub trait NodeClassifier: burn::module::Module {
    /// Every node's class logits `[nodes, classes]`.
    fn forward(&self, adjacency: &Arc<SparseMatrix>, features: Tensor<2>) -> Tensor<2>;
    /// The weights the L2 penalty applies to (the paper's: the first layer's).
    fn decayed_weights(&self) -> Tensor<2>;
}

/// The graph as the network reads it: features and normalized adjacency.
#[derive(Debug, Clone)]
pub struct GraphInput {
    /// Row-major `[nodes, feature_count]`.
    pub features: Arc<Vec<f32>>,
    pub feature_count: usize,
    pub adjacency: Arc<SparseMatrix>,
}

impl GraphInput {
    pub fn nodes(&self) -> usize {
        self.adjacency.matrix.rows
    }

    pub fn features(&self, device: &Device) -> Tensor<2> {
        Tensor::from_data(
            TensorData::new(
                self.features.as_ref().clone(),
                [self.nodes(), self.feature_count],
            ),
            device,
        )
    }
}

/// Nodes and their classes.
#[derive(Debug, Clone)]
pub struct LabelledNodes {
    pub nodes: Vec<u32>,
    pub labels: Vec<u32>,
}

/// One training step's batch: the whole graph and the training nodes.
#[derive(Debug, Clone)]
pub struct GraphBatch {
    pub features: Tensor<2>,
    pub adjacency: Arc<SparseMatrix>,
    pub nodes: Tensor<1, Int>,
    pub targets: Tensor<1, Int>,
}

pub struct NodeClassification<M> {
    pub graph: GraphInput,
    pub train: LabelledNodes,
    /// What is watched while training (validation nodes, or the test nodes where the graph
    /// has too few labels to hold any out).
    pub watched: (Split, LabelledNodes),
    /// Measured for the curves only.
    pub also: Option<(Split, LabelledNodes)>,
    /// L2 penalty λ on the first layer's weights: λ/2·‖W⁽⁰⁾‖² joins the loss.
    pub first_layer_decay: f64,
    pub _model: std::marker::PhantomData<M>,
}

/// One item: the whole graph, batched by [`WholeGraph`].
#[derive(Debug, Clone)]
struct Whole;

struct WholeGraph {
    graph: GraphInput,
    train: LabelledNodes,
}

impl Batcher<Whole, GraphBatch> for WholeGraph {
    fn batch(&self, _: Vec<Whole>, device: &Device) -> GraphBatch {
        let (nodes, targets) = index_tensors(&self.train, device);
        GraphBatch {
            features: self.graph.features(device),
            adjacency: self.graph.adjacency.clone(),
            nodes,
            targets,
        }
    }
}

fn index_tensors(part: &LabelledNodes, device: &Device) -> (Tensor<1, Int>, Tensor<1, Int>) {
    let tensor = |values: &[u32]| {
        Tensor::<1, Int>::from_data(
            TensorData::new(
                values.iter().map(|&v| v as i64).collect::<Vec<_>>(),
                [values.len()],
            ),
            device,
        )
    };
    (tensor(&part.nodes), tensor(&part.labels))
}

/// Cross-entropy and correct count of `logits` `[nodes, classes]` on `part`.
fn loss_and_correct(logits: Tensor<2>, part: &LabelledNodes) -> (Tensor<1>, usize) {
    let device = logits.device();
    let (nodes, targets) = index_tensors(part, &device);
    let chosen = logits.select(0, nodes);
    let loss = CrossEntropyLoss::new(None, &device).forward(chosen.clone(), targets.clone());
    let size = part.nodes.len();
    let correct = chosen
        .argmax(1)
        .reshape([size])
        .equal(targets)
        .int()
        .sum()
        .into_scalar::<i64>();
    (loss, correct as usize)
}

impl<M: NodeClassifier> NodeClassification<M> {
    /// Loss and accuracy of `model` (out of autodiff) on `part`.
    pub fn measure(&self, model: &M, part: &LabelledNodes, device: &Device) -> (f64, f64) {
        let device = device.clone().inner();
        let logits = model.forward(&self.graph.adjacency, self.graph.features(&device));
        let (loss, correct) = loss_and_correct(logits, part);
        (
            loss.into_scalar::<f32>() as f64,
            correct as f64 / part.nodes.len().max(1) as f64,
        )
    }
}

impl<M: NodeClassifier> Supervised for NodeClassification<M> {
    type Model = M;
    type Batch = GraphBatch;

    fn metric_names(&self) -> &'static [&'static str] {
        &METRICS
    }

    fn train_len(&self) -> usize {
        self.train.nodes.len()
    }

    fn train_loader(&self, _: usize, _: u64, device: &Device) -> Arc<dyn DataLoader<GraphBatch>> {
        crate::data::batches(
            WholeGraph {
                graph: self.graph.clone(),
                train: self.train.clone(),
            },
            crate::data::SharedItems::new(Arc::new(vec![Whole])),
            1,
            None,
            device,
        )
    }

    fn batch(&self, model: &M, batch: GraphBatch) -> BatchOutcome {
        let logits = model.forward(&batch.adjacency, batch.features);
        let (loss, correct) = loss_and_correct(logits, &self.train);
        let weight = model.decayed_weights();
        let penalty = weight.clone().powf_scalar(2.0).sum() * (self.first_layer_decay / 2.0);
        BatchOutcome {
            loss: loss + penalty,
            size: self.train.nodes.len(),
            sums: vec![correct as f64],
        }
    }

    fn finish(&self, sums: &[f64], samples: usize) -> Vec<f64> {
        vec![sums[0] / samples.max(1) as f64]
    }

    fn validate(&self, model: &M, device: &Device) -> Result<(f64, Vec<f64>)> {
        let (loss, accuracy) = self.measure(model, &self.watched.1, device);
        if !loss.is_finite() {
            return Err(Error::Numerical(format!(
                "{} loss {loss}",
                self.watched.0.name()
            )));
        }
        Ok((loss, vec![accuracy]))
    }

    fn watched_split(&self) -> Split {
        self.watched.0
    }

    fn also_measured(&self, model: &M, device: &Device) -> Result<Option<(Split, f64, Vec<f64>)>> {
        Ok(self.also.as_ref().map(|(split, part)| {
            let (loss, accuracy) = self.measure(model, part, device);
            (*split, loss, vec![accuracy])
        }))
    }
}
