//! Sequence data: a 2-D trajectory (the "ladybug" of FIDLE's LADYBUG1), cut into windows of
//! consecutive positions, each labelled with the position that follows it, and batched for burn.

use std::f64::consts::PI;

use burn::data::dataloader::batcher::Batcher;
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

/// The SHA-256 of what makes a [`ladybug`] path and how it is cut: its positions, time step and
/// seed, the positions to train on and the window. A run's `config.toml` pins its generated data
/// by it, as a user's file by the hash of its bytes, so that a resumed run refuses a `[data]`
/// section edited since it started. The parameters' bits are hashed, not the path's values,
/// which come through the platform's `sin`: a run moved to another machine still resumes.
pub fn sha256_of_ladybug(points: usize, dt: f64, seed: u64, cut: usize, steps: usize) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(b"ladybug");
    for bits in [points as u64, dt.to_bits(), seed, cut as u64, steps as u64] {
        hasher.update(bits.to_le_bytes());
    }
    super::download::hex(&hasher.finalize())
}

/// The path of a ladybug walking on a table, `points` positions `dt` apart: each coordinate a sum
/// of four waves whose amplitudes, frequencies (around 20, 10, 5 and 5 radians per unit of time)
/// and phases are drawn from `seed`, as in FIDLE's LADYBUG1.
pub fn ladybug(points: usize, dt: f64, seed: u64) -> Vec<[f64; 2]> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut normal = || -> f64 { StandardNormal.sample(&mut rng) };
    let mut waves = || {
        [20.0, 10.0, 5.0, 5.0].map(|base: f64| {
            let amplitude = normal();
            let frequency = base + normal();
            let phase = normal() * PI;
            (amplitude, frequency, phase)
        })
    };
    let (x_waves, y_waves) = (waves(), waves());
    let at = |waves: &[(f64, f64, f64); 4], t: f64| {
        waves
            .iter()
            .map(|(a, w, phase)| a * (w * t + phase).sin())
            .sum::<f64>()
    };
    (0..points)
        .map(|i| {
            let t = i as f64 * dt;
            [at(&x_waves, t), at(&y_waves, t)]
        })
        .collect()
}

/// A window of consecutive positions and the position that follows it.
#[derive(Debug, Clone)]
pub struct SequenceItem {
    /// `steps × features` values, step after step.
    pub x: Vec<f32>,
    /// The next position, `features` values.
    pub y: Vec<f32>,
}

/// Every window of `steps` consecutive positions of `path` that has a next one.
pub fn windows(path: &[Vec<f64>], steps: usize) -> Vec<SequenceItem> {
    if path.len() <= steps {
        return Vec::new();
    }
    (0..path.len() - steps)
        .map(|i| SequenceItem {
            x: path[i..i + steps]
                .iter()
                .flatten()
                .map(|&v| v as f32)
                .collect(),
            y: path[i + steps].iter().map(|&v| v as f32).collect(),
        })
        .collect()
}

/// A batch of windows: sequences `[batch, steps, features]` and next positions `[batch, features]`.
#[derive(Debug, Clone)]
pub struct SequenceBatch {
    pub x: Tensor<3>,
    pub y: Tensor<2>,
}

/// Stacks [`SequenceItem`]s of `steps` steps into a [`SequenceBatch`] on the loader's device.
#[derive(Debug, Clone, Copy)]
pub struct SequenceBatcher {
    pub steps: usize,
}

impl Batcher<SequenceItem, SequenceBatch> for SequenceBatcher {
    fn batch(&self, items: Vec<SequenceItem>, device: &Device) -> SequenceBatch {
        let n = items.len();
        let features = items.first().map_or(0, |i| i.y.len());
        let x: Vec<f32> = items.iter().flat_map(|i| i.x.iter().copied()).collect();
        let y: Vec<f32> = items.iter().flat_map(|i| i.y.iter().copied()).collect();
        SequenceBatch {
            x: Tensor::from_data(TensorData::new(x, [n, self.steps, features]), device),
            y: Tensor::from_data(TensorData::new(y, [n, features]), device),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ladybug_is_reproducible_smooth_and_windows_point_to_the_next_position() {
        let path = ladybug(500, 0.02, 3);
        assert_eq!(path, ladybug(500, 0.02, 3));
        assert_ne!(path, ladybug(500, 0.02, 4));
        // a step of 0.02 moves it little compared with the size of its path
        let spread = path.iter().map(|p| p[0].abs()).fold(0.0, f64::max);
        let largest_step = path
            .windows(2)
            .map(|w| ((w[1][0] - w[0][0]).powi(2) + (w[1][1] - w[0][1]).powi(2)).sqrt())
            .fold(0.0, f64::max);
        assert!(
            spread > 0.5 && largest_step < spread / 2.0,
            "{spread} {largest_step}"
        );

        let rows: Vec<Vec<f64>> = path.iter().map(|p| p.to_vec()).collect();
        let items = windows(&rows, 20);
        assert_eq!(items.len(), 480);
        assert_eq!(items[7].x.len(), 40);
        assert_eq!(items[7].x[..2], [rows[7][0] as f32, rows[7][1] as f32]);
        assert_eq!(items[7].y, vec![rows[27][0] as f32, rows[27][1] as f32]);
        assert!(windows(&rows[..20], 20).is_empty());

        let batch = SequenceBatcher { steps: 20 }.batch(items[..3].to_vec(), &Device::flex());
        assert_eq!((batch.x.dims(), batch.y.dims()), ([3, 20, 2], [3, 2]));
    }
}
