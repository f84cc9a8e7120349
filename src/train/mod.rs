//! How models learn: the device, seeding, the supervised training loop, progress on screen.

pub mod adversarial;
pub mod classify;
pub mod config;
pub mod device;
pub mod fit;
pub mod forecast;
pub mod graph;
pub mod optimizer;
pub mod progress;
pub mod regress;
pub mod schedule;
pub mod sharded;
pub mod text;

pub use device::DeviceChoice;
pub use progress::Console;

/// A tensor's values as `f32`, whatever float type the device computes in: converted first, so
/// reading them cannot fail (where `try_into_vec::<f32>()` alone fails on f16 or bf16 tensors).
pub trait FloatValues {
    fn floats(self) -> Vec<f32>;
}

impl<const D: usize> FloatValues for burn::tensor::Tensor<D> {
    fn floats(self) -> Vec<f32> {
        self.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("values converted to f32 just before")
    }
}

/// The seed of epoch `epoch`'s shuffle, derived from the run's seed so that every epoch has its
/// own order and a run resumed at any epoch shuffles exactly as an uninterrupted one.
pub fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    // SplitMix64's finaliser: nearby (seed, epoch) pairs give unrelated seeds.
    let mut z = seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Stops a run whose loss has left the realm of learning: NaN, infinite, or ten thousand times
/// the first batch's loss. Adam keeps even absurd learning rates finite (its steps are
/// normalised), so a huge loss is as sure a sign of divergence as a NaN.
#[derive(Debug, Default)]
pub struct DivergenceGuard {
    first_loss: Option<f32>,
}

impl DivergenceGuard {
    /// How many times the first loss a loss may reach before the run is stopped.
    pub const FACTOR: f32 = 1e4;

    pub fn check(&mut self, epoch: usize, batch: usize, loss: f32) -> crate::error::Result<()> {
        let first = *self.first_loss.get_or_insert(loss);
        if !loss.is_finite() || loss > Self::FACTOR * first.abs().max(1.0) {
            return Err(crate::error::Error::Diverged {
                epoch,
                batch,
                value: loss,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_stops_nan_infinity_and_explosions_only() {
        let mut guard = DivergenceGuard::default();
        assert!(guard.check(1, 1, 2.3).is_ok());
        assert!(
            guard.check(1, 2, 50.0).is_ok(),
            "a bad step is not divergence"
        );
        assert!(guard.check(1, 3, 0.01).is_ok());
        for bad in [f32::NAN, f32::INFINITY, 1e6] {
            let err = guard.check(2, 7, bad).unwrap_err().to_string();
            assert!(err.contains("epoch 2, batch 7"), "{err}");
        }
    }

    #[test]
    fn epoch_seeds_differ_between_epochs_and_runs() {
        let seeds: std::collections::HashSet<u64> = (0..4)
            .flat_map(|s| (1..=50).map(move |e| epoch_seed(s, e)))
            .collect();
        assert_eq!(seeds.len(), 200);
        assert_eq!(epoch_seed(3, 5), epoch_seed(3, 5));
    }
}
