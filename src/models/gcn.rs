//! The graph convolutional network of Kipf & Welling (ICLR 2017) for the `gcn` lab and the
//! benchmark's `gcn_train`: each layer H⁽ˡ⁺¹⁾ = σ(Â_norm H⁽ˡ⁾ W⁽ˡ⁾ + b⁽ˡ⁾), with
//! Â_norm = D̂^-½ Â D̂^-½, Â = A + I (every node its own neighbour), D̂ its degrees; two layers,
//! ReLU between, dropout before each, softmax at the end.

use std::sync::Arc;

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Initializer, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::kernels::{Csr, SparseMatrix, dropout_matmul, sparse_matmul};
use crate::train::graph::NodeClassifier;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcnModelConfig {
    pub features: usize,
    pub hidden: usize,
    pub classes: usize,
    /// Dropout on each layer's input while training.
    pub dropout: f64,
}

impl GcnModelConfig {
    /// The paper's network: 16 hidden features, dropout 0.5.
    pub fn lab(features: usize, classes: usize) -> Self {
        Self {
            features,
            hidden: 16,
            classes,
            dropout: 0.5,
        }
    }

    pub fn init(&self, device: &Device) -> Gcn {
        Gcn {
            first: GraphConvolution::init(self.features, self.hidden, device),
            second: GraphConvolution::init(self.hidden, self.classes, device),
            dropout: DropoutConfig::new(self.dropout).init(),
        }
    }
}

/// One layer's Â_norm·H·W + b (its activation is the network's business). The bias is added
/// after the neighbours are summed, as in the paper, not inside the linear map.
#[derive(Module, Debug)]
pub struct GraphConvolution {
    pub weight: Linear,
    pub bias: Param<Tensor<1>>,
}

impl GraphConvolution {
    fn init(inputs: usize, outputs: usize, device: &Device) -> Self {
        Self {
            // Glorot, as the paper's code
            weight: LinearConfig::new(inputs, outputs)
                .with_bias(false)
                .with_initializer(Initializer::XavierUniform { gain: 1.0 })
                .init(device),
            bias: Initializer::Zeros.init([outputs], device),
        }
    }

    /// H·W first, then the neighbours' sum: the product by Â then runs on the narrower matrix.
    pub fn forward(&self, adjacency: &Arc<SparseMatrix>, h: Tensor<2>) -> Tensor<2> {
        self.aggregate(adjacency, self.weight.forward(h))
    }

    /// [`Self::forward`] of `dropout(h)`, the dropped-out h never held whole (see
    /// [`dropout_matmul`]: the first layer's h is the node features).
    pub fn forward_dropped(
        &self,
        adjacency: &Arc<SparseMatrix>,
        h: Tensor<2>,
        dropout: &Dropout,
    ) -> Tensor<2> {
        self.aggregate(
            adjacency,
            dropout_matmul(dropout, h, self.weight.weight.val()),
        )
    }

    /// Â·(HW) + b.
    fn aggregate(&self, adjacency: &Arc<SparseMatrix>, hw: Tensor<2>) -> Tensor<2> {
        let outputs = self.bias.dims()[0];
        sparse_matmul(adjacency, hw) + self.bias.val().reshape([1, outputs])
    }
}

#[derive(Module, Debug)]
pub struct Gcn {
    pub first: GraphConvolution,
    pub second: GraphConvolution,
    dropout: Dropout,
}

impl Gcn {
    /// Every node's hidden features `[nodes, hidden]`, after the ReLU.
    pub fn hidden(&self, adjacency: &Arc<SparseMatrix>, features: Tensor<2>) -> Tensor<2> {
        relu(
            self.first
                .forward_dropped(adjacency, features, &self.dropout),
        )
    }

    /// Every node's class logits `[nodes, classes]`.
    pub fn forward(&self, adjacency: &Arc<SparseMatrix>, features: Tensor<2>) -> Tensor<2> {
        let h = crate::kernels::dropout(&self.dropout, self.hidden(adjacency, features));
        self.second.forward(adjacency, h)
    }
}

impl NodeClassifier for Gcn {
    fn forward(&self, adjacency: &Arc<SparseMatrix>, features: Tensor<2>) -> Tensor<2> {
        Gcn::forward(self, adjacency, features)
    }

    fn decayed_weights(&self) -> Tensor<2> {
        self.first.weight.weight.val()
    }
}

/// D̂^-½ (A + I) D̂^-½ of an undirected graph given by its edges (each once): symmetric, with
/// entry 1/√(d̂ᵢ·d̂ⱼ) for every edge and 1/d̂ᵢ on the diagonal, d̂ᵢ = 1 + the degree of i.
pub fn normalized_adjacency(nodes: usize, edges: &[[u32; 2]]) -> Csr {
    let mut degree = vec![1.0f64; nodes];
    for &[a, b] in edges {
        degree[a as usize] += 1.0;
        degree[b as usize] += 1.0;
    }
    let scale: Vec<f64> = degree.iter().map(|d| 1.0 / d.sqrt()).collect();
    let mut entries = Vec::with_capacity(2 * edges.len() + nodes);
    for &[a, b] in edges {
        let value = (scale[a as usize] * scale[b as usize]) as f32;
        entries.push((a, b, value));
        entries.push((b, a, value));
    }
    for (i, s) in scale.iter().enumerate() {
        entries.push((i as u32, i as u32, (s * s) as f32));
    }
    Csr::from_entries(nodes, nodes, entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_normalization_matches_the_dense_formula() {
        // a path 0 – 1 – 2 and a lone node 3
        let edges = [[0, 1], [1, 2]];
        let a = normalized_adjacency(4, &edges).to_dense();
        let mut hat = [[0.0f64; 4]; 4];
        for (i, row) in hat.iter_mut().enumerate() {
            row[i] = 1.0;
        }
        for [x, y] in edges {
            hat[x as usize][y as usize] = 1.0;
            hat[y as usize][x as usize] = 1.0;
        }
        let degree: Vec<f64> = hat.iter().map(|row| row.iter().sum()).collect();
        for i in 0..4 {
            for j in 0..4 {
                let expected = hat[i][j] / (degree[i] * degree[j]).sqrt();
                assert!(
                    (a[i * 4 + j] as f64 - expected).abs() < 1e-6,
                    "({i}, {j}): {} vs {expected}",
                    a[i * 4 + j]
                );
            }
        }
        // the lone node is its own only neighbour
        assert_eq!(a[15], 1.0);
    }
}
