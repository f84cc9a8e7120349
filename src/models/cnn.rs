//! The convolutional classifier of the `cnn` lab (FIDLE MNIST2) and of the benchmark's
//! `cnn_train`/`cnn_infer` workloads: Conv c₁ 3×3 → MaxPool 2 → Dropout → Conv c₂ 3×3 → MaxPool 2
//! → Dropout → Dense → Dropout → Dense (classes). The lab's FIDLE network has c = 8, 16, dense
//! 100 and dropout 0.2/0.5; the benchmark's has c = 32, 64, dense 128 and no dropout.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig, Relu};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::mlp::standardize;
use crate::kernels::{conv2d_relu, conv2d_relu_max_pool2d, dropout};
use crate::train::classify::{ImageClassifier, ImageClassifierConfig, validate_image_model};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CnnModelConfig {
    pub image_size: [usize; 2],
    /// Channels of the two convolutions (FIDLE: 8 and 16, times `--width`).
    pub channels: [usize; 2],
    pub dense: usize,
    pub classes: Vec<String>,
    /// Mean and standard deviation of the training pixels (in 0..=1), used to standardize inputs.
    pub input_mean: f32,
    pub input_std: f32,
    /// Dropout after each pooling, and before the output layer (FIDLE: 0.2 and 0.5).
    #[serde(default = "fidle_dropout")]
    pub dropout: [f64; 2],
}

/// FIDLE's dropout rates: 0.2 after each pooling, 0.5 before the output.
pub fn fidle_dropout() -> [f64; 2] {
    [0.2, 0.5]
}

#[derive(Module, Debug)]
pub struct Cnn {
    pub conv1: Conv2d,
    conv2: Conv2d,
    pool: MaxPool2d,
    dropout_conv: Dropout,
    dense: Linear,
    dropout_dense: Dropout,
    pub output: Linear,
    activation: Relu,
    input_mean: f32,
    input_std: f32,
}

impl CnnModelConfig {
    /// FIDLE's network for images of `image_size` in `classes`: 8·`width` and 16·`width`
    /// channels, dense 100, dropout 0.2 and 0.5, inputs standardized with the training pixels'
    /// mean and standard deviation.
    pub fn fidle(
        image_size: [usize; 2],
        classes: Vec<String>,
        (input_mean, input_std): (f32, f32),
        width: usize,
    ) -> Self {
        Self {
            image_size,
            channels: [8 * width, 16 * width],
            dense: 100,
            classes,
            input_mean,
            input_std,
            dropout: fidle_dropout(),
        }
    }

    /// The side of the feature maps after conv 3×3 (valid) and pool 2, twice.
    fn flat_features(&self) -> usize {
        let side = |s: usize| ((s - 2) / 2 - 2) / 2;
        self.channels[1] * side(self.image_size[0]) * side(self.image_size[1])
    }

    pub fn init(&self, device: &Device) -> Cnn {
        Cnn {
            conv1: Conv2dConfig::new([1, self.channels[0]], [3, 3]).init(device),
            conv2: Conv2dConfig::new([self.channels[0], self.channels[1]], [3, 3]).init(device),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            dropout_conv: DropoutConfig::new(self.dropout[0]).init(),
            dense: LinearConfig::new(self.flat_features(), self.dense).init(device),
            dropout_dense: DropoutConfig::new(self.dropout[1]).init(),
            output: LinearConfig::new(self.dense, self.classes.len()).init(device),
            activation: Relu::new(),
            input_mean: self.input_mean,
            input_std: self.input_std,
        }
    }
}

impl Cnn {
    /// The first convolution's feature maps after ReLU: `[batch, channels₁, 26, 26]`.
    pub fn first_feature_maps(&self, images: Tensor<4>) -> Tensor<4> {
        // standardized with the training set's statistics: x ← (x − μ)/σ
        let images = standardize(images, self.input_mean, self.input_std);
        conv2d_relu(&self.conv1, images)
    }

    /// The dense layer's activations, before the output: `[batch, dense]`.
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        let images = standardize(images, self.input_mean, self.input_std);
        // conv → ReLU → pool: [batch, c₁, 26, 26] pooled to [batch, c₁, 13, 13]
        let x = conv2d_relu_max_pool2d(&self.conv1, &self.pool, images);
        let x = dropout(&self.dropout_conv, x);
        // [batch, c₂, 11, 11] pooled to [batch, c₂, 5, 5]
        let x = conv2d_relu_max_pool2d(&self.conv2, &self.pool, x);
        let x = dropout(&self.dropout_conv, x);
        let x: Tensor<2> = x.flatten(1, 3); // [batch, c₂·25]
        self.activation.forward(self.dense.forward(x)) // [batch, dense]
    }
}

impl ImageClassifier for Cnn {
    /// `[batch, 1, 28, 28]` → logits `[batch, classes]`
    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.output
            .forward(dropout(&self.dropout_dense, self.features(images)))
    }
}

impl ImageClassifierConfig for CnnModelConfig {
    type Model = Cnn;

    fn init(&self, device: &Device) -> Cnn {
        CnnModelConfig::init(self, device)
    }

    fn classes(&self) -> &[String] {
        &self.classes
    }

    fn image_size(&self) -> [usize; 2] {
        self.image_size
    }

    fn validate(&self) -> Result<(), String> {
        crate::train::config::check_model_fields(
            &[
                ("channels", self.channels[0].max(self.channels[1])),
                ("channels", self.channels[0].min(self.channels[1])),
                ("dense", self.dense),
            ],
            &[],
        )?;
        if let Some(p) = self.dropout.iter().find(|p| !(0.0..1.0).contains(*p)) {
            return Err(format!("[model] dropout: {p}; a rate in 0..1"));
        }
        // two 3×3 convolutions and two 2×2 poolings need 14×14 images at least
        validate_image_model(
            self.image_size,
            14,
            &self.classes,
            (self.input_mean, self.input_std),
        )
    }
}
