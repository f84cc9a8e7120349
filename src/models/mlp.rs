//! The dense classifier of the `mlp-classifier` lab and of the benchmark's `mlp_train` workload:
//! standardize, flatten, then hidden dense layers with ReLU, and a dense output (the softmax is
//! in the loss). ŷ = softmax(W₃·relu(W₂·relu(W₁·x + b₁) + b₂) + b₃).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig, Relu};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::train::classify::{ImageClassifier, ImageClassifierConfig, validate_image_model};

/// The network's shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpModelConfig {
    /// `[rows, cols]` of the input images.
    pub image_size: [usize; 2],
    /// Neurons of each hidden layer.
    pub hidden: Vec<usize>,
    /// The names of the classes, in the order of the outputs.
    pub classes: Vec<String>,
    /// Mean and standard deviation of the training pixels (in 0..=1), used to standardize inputs.
    pub input_mean: f32,
    pub input_std: f32,
}

#[derive(Module, Debug)]
pub struct MlpClassifier {
    hidden: Vec<Linear>,
    output: Linear,
    activation: Relu,
    input_mean: f32,
    input_std: f32,
}

impl MlpModelConfig {
    pub fn init(&self, device: &Device) -> MlpClassifier {
        let mut inputs = self.image_size[0] * self.image_size[1];
        let mut hidden = Vec::new();
        for &neurons in &self.hidden {
            hidden.push(LinearConfig::new(inputs, neurons).init(device));
            inputs = neurons;
        }
        MlpClassifier {
            hidden,
            output: LinearConfig::new(inputs, self.classes.len()).init(device),
            activation: Relu::new(),
            input_mean: self.input_mean,
            input_std: self.input_std,
        }
    }
}

impl ImageClassifier for MlpClassifier {
    /// `[batch, 1, rows, cols]` → logits `[batch, classes]`
    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        // standardized with the training set's statistics: x ← (x − μ)/σ
        let images = standardize(images, self.input_mean, self.input_std);
        let mut x: Tensor<2> = images.flatten(1, 3); // [batch, rows·cols]
        for layer in &self.hidden {
            x = self.activation.forward(layer.forward(x));
        }
        self.output.forward(x)
    }
}

/// x ← (x − μ)/σ; nothing to do for μ = 0, σ = 1 (the benchmark's inputs are standard already).
pub fn standardize(images: Tensor<4>, mean: f32, std: f32) -> Tensor<4> {
    if mean == 0.0 && std == 1.0 {
        images
    } else {
        (images - mean) / std
    }
}

impl ImageClassifierConfig for MlpModelConfig {
    type Model = MlpClassifier;

    fn init(&self, device: &Device) -> MlpClassifier {
        MlpModelConfig::init(self, device)
    }

    fn classes(&self) -> &[String] {
        &self.classes
    }

    fn image_size(&self) -> [usize; 2] {
        self.image_size
    }

    fn validate(&self) -> Result<(), String> {
        use crate::train::config::limits::{MAX_LAYERS, MAX_WIDTH};
        if let Some(width) = self.hidden.iter().find(|&&h| !(1..=MAX_WIDTH).contains(&h)) {
            return Err(format!(
                "[model] hidden: a layer of {width} neurons; from 1 to {MAX_WIDTH}"
            ));
        }
        if self.hidden.len() > MAX_LAYERS {
            return Err(format!(
                "[model] hidden: {} layers; at most {MAX_LAYERS}",
                self.hidden.len()
            ));
        }
        validate_image_model(
            self.image_size,
            1,
            &self.classes,
            (self.input_mean, self.input_std),
        )
    }
}
