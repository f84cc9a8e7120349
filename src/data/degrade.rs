//! Degradations of a batch of digits `[batch, 1, rows, cols]` on the device, for the
//! image-to-image labs to learn to undo: the same formulas as [`super::imageops`] (which the tests
//! check them against), computed where the batch already is.

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Tensor, TensorData};

/// The outline of each digit: 1 where the Sobel gradient magnitude exceeds `threshold`, else 0
/// (zero padding at the border, as [`super::imageops::outline`]).
pub fn outline(images: Tensor<4>, threshold: f32) -> Tensor<4> {
    let device = images.device();
    // Gx then Gy, as correlation kernels (conv2d correlates)
    let kernels = TensorData::new(
        vec![
            -1.0f32, 0.0, 1.0, -2.0, 0.0, 2.0, -1.0, 0.0, 1.0, //
            -1.0, -2.0, -1.0, 0.0, 0.0, 0.0, 1.0, 2.0, 1.0,
        ],
        [2, 1, 3, 3],
    );
    let weight = Tensor::<4>::from_data(kernels, &device);
    let gradients = conv2d(
        images,
        weight,
        None,
        ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
    );
    let magnitude = gradients.powi_scalar(2).sum_dim(1).sqrt();
    magnitude.greater_elem(threshold).float()
}

/// Each digit blurred by a Gaussian of standard deviation `sigma`, radius ⌈3σ⌉, zero padding
/// (as [`super::imageops::gaussian_blur`]): one pass along the rows, one along the columns.
pub fn gaussian_blur(images: Tensor<4>, sigma: f32) -> Tensor<4> {
    let device = images.device();
    let radius = (3.0 * sigma).ceil() as usize;
    let weights: Vec<f32> = (0..=2 * radius)
        .map(|i| (-((i as f32 - radius as f32).powi(2)) / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = weights.iter().sum();
    let weights: Vec<f32> = weights.iter().map(|w| w / total).collect();
    let size = 2 * radius + 1;
    let along_rows =
        Tensor::<4>::from_data(TensorData::new(weights.clone(), [1, 1, 1, size]), &device);
    let along_columns = Tensor::<4>::from_data(TensorData::new(weights, [1, 1, size, 1]), &device);
    let x = conv2d(
        images,
        along_rows,
        None,
        ConvOptions::new([1, 1], [0, radius], [1, 1], 1),
    );
    conv2d(
        x,
        along_columns,
        None,
        ConvOptions::new([1, 1], [radius, 0], [1, 1], 1),
    )
}

/// Each `factor`×`factor` block averaged into one pixel (as [`super::imageops::downsample`]).
pub fn downsample(images: Tensor<4>, factor: usize) -> Tensor<4> {
    let [batch, channels, rows, cols] = images.dims();
    let (h, w) = (rows / factor, cols / factor);
    images
        .reshape([batch * channels, h, factor, w, factor])
        .mean_dim(4)
        .mean_dim(2)
        .reshape([batch, channels, h, w])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::imageops;
    use burn::tensor::Device;

    /// A tensor's values (the data layer sits below `train`, whose `FloatValues` says the same).
    fn floats(x: Tensor<4>) -> Vec<f32> {
        x.into_data().try_to_vec::<f32>().unwrap()
    }

    /// Three real digits of the embedded data.
    fn digits() -> Vec<Vec<f32>> {
        let data = crate::data::mnist::choose_subset(None, None, Some((3, 1))).unwrap();
        (0..3).map(|i| data.train.image_f32(i)).collect()
    }

    #[test]
    fn the_batch_outline_is_the_outline_of_each_digit() {
        let device = Device::flex();
        let digits = digits();
        let batch = crate::data::images::images_tensor(&digits, 28, 28, &device);
        let outlines = floats(outline(batch, 1.0));
        for (k, digit) in digits.iter().enumerate() {
            let expected = imageops::outline(digit, 28, 28, 1.0);
            let got = &outlines[k * 784..(k + 1) * 784];
            let differ = expected.iter().zip(got).filter(|(a, b)| a != b).count();
            assert_eq!(differ, 0, "digit {k}: {differ} pixels differ");
            assert!(got.iter().sum::<f32>() > 20.0, "digit {k} has an outline");
        }
    }

    #[test]
    fn the_batch_blur_is_the_blur_of_each_digit() {
        let device = Device::flex();
        let digits = digits();
        let batch = crate::data::images::images_tensor(&digits, 28, 28, &device);
        let blurred = floats(gaussian_blur(batch, 2.0));
        for (k, digit) in digits.iter().enumerate() {
            let expected = imageops::gaussian_blur(digit, 28, 28, 2.0);
            for (a, b) in expected.iter().zip(&blurred[k * 784..]) {
                assert!((a - b).abs() < 1e-5, "digit {k}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn the_batch_downsampling_averages_blocks_as_imageops_does() {
        let device = Device::flex();
        let digits = digits();
        let batch = crate::data::images::images_tensor(&digits, 28, 28, &device);
        for factor in [2, 4] {
            let small = floats(downsample(batch.clone(), factor));
            let side = 28 / factor;
            for (k, digit) in digits.iter().enumerate() {
                let expected = imageops::downsample(digit, 28, 28, factor);
                for (a, b) in expected.iter().zip(&small[k * side * side..]) {
                    assert!((a - b).abs() < 1e-6, "factor {factor}: {a} vs {b}");
                }
            }
        }
    }
}
