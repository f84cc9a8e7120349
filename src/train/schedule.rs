//! Learning-rate schedules: how η changes while a network learns.

use std::fmt;
use std::str::FromStr;

/// `--lr-schedule`: η constant, divided by 10 at ½ and ¾ of the epochs, or a cosine decay.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum LrSchedule {
    /// η stays the same
    #[default]
    Constant,
    /// η ÷ 10 after half of the epochs, ÷ 100 after three quarters
    Step,
    /// η·½(1 + cos(π·t/T)) over the whole run, step by step
    Cosine,
}

impl LrSchedule {
    /// η for batch `batch` (0-based) of `batches` in epoch `epoch` (0-based) of `epochs`.
    pub fn learning_rate(
        self,
        base: f64,
        epoch: usize,
        batch: usize,
        batches: usize,
        epochs: usize,
    ) -> f64 {
        match self {
            LrSchedule::Constant => base,
            LrSchedule::Step => {
                let progress = epoch as f64 / epochs.max(1) as f64;
                if progress >= 0.75 {
                    base / 100.0
                } else if progress >= 0.5 {
                    base / 10.0
                } else {
                    base
                }
            }
            LrSchedule::Cosine => {
                let total = (epochs * batches).max(1) as f64;
                let t = (epoch * batches + batch) as f64;
                base * 0.5 * (1.0 + (std::f64::consts::PI * t / total).cos())
            }
        }
    }
}

impl fmt::Display for LrSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            LrSchedule::Constant => "constant",
            LrSchedule::Step => "step",
            LrSchedule::Cosine => "cosine",
        };
        f.write_str(name)
    }
}

impl FromStr for LrSchedule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        <Self as clap::ValueEnum>::from_str(s, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_starts_at_the_base_and_decays_towards_zero() {
        let s = LrSchedule::Cosine;
        assert_eq!(s.learning_rate(1.0, 0, 0, 10, 4), 1.0);
        assert!((s.learning_rate(1.0, 2, 0, 10, 4) - 0.5).abs() < 1e-12);
        assert!(s.learning_rate(1.0, 3, 9, 10, 4) < 0.01);
    }

    #[test]
    fn step_divides_by_ten_at_half_and_three_quarters() {
        let s = LrSchedule::Step;
        assert_eq!(s.learning_rate(1.0, 1, 0, 5, 8), 1.0);
        assert_eq!(s.learning_rate(1.0, 4, 0, 5, 8), 0.1);
        assert_eq!(s.learning_rate(1.0, 6, 0, 5, 8), 0.01);
    }
}
