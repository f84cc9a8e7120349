//! Seeded synthetic data sets of the lecture's first labs: points on a noisy line or polynomial,
//! students who pass or fail, Gaussian blobs.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Uniform};

use super::table::Features;

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

fn normal(mean: f64, std: f64) -> Normal<f64> {
    // std is a positive constant or a user value checked by the caller
    Normal::new(mean, std.max(0.0))
        .unwrap_or_else(|_| Normal::new(mean, 0.0).expect("σ = 0 is valid"))
}

/// y = a·x + b + noise·N(0,1), with x ~ U(0,10): the lecture's linear-regression data.
pub fn line(n: usize, slope: f64, intercept: f64, noise: f64, seed: u64) -> Features {
    let mut rng = rng(seed);
    let unit = normal(0.0, 1.0);
    let x: Vec<f64> = (0..n).map(|_| rng.random_range(0.0..10.0)).collect();
    let y = x
        .iter()
        .map(|&x| slope * x + intercept + noise * unit.sample(&mut rng))
        .collect();
    Features {
        names: vec!["x".to_string()],
        x: x.into_iter().map(|v| vec![v]).collect(),
        y,
    }
}

/// A random polynomial of `degree` (coefficients ~ N(0,1), scaled down with the power so that no
/// term dominates on x ∈ [−5, 5]) plus noise·N(0,1), with x ~ U(−5,5).
/// Returns the samples and the coefficients c₀…c_degree.
pub fn polynomial(n: usize, degree: usize, noise: f64, seed: u64) -> (Features, Vec<f64>) {
    let mut rng = rng(seed);
    let unit = normal(0.0, 1.0);
    let coefficients: Vec<f64> = (0..=degree)
        .map(|k| unit.sample(&mut rng) * 5f64.powi(-(k as i32 - 1).max(0)) * 2.0)
        .collect();
    let x: Vec<f64> = (0..n).map(|_| rng.random_range(-5.0..5.0)).collect();
    let y = x
        .iter()
        .map(|&x| evaluate_polynomial(&coefficients, x) + noise * unit.sample(&mut rng))
        .collect();
    let features = Features {
        names: vec!["x".to_string()],
        x: x.into_iter().map(|v| vec![v]).collect(),
        y,
    };
    (features, coefficients)
}

/// c₀ + c₁x + … + c_d x^d, by Horner's rule.
pub fn evaluate_polynomial(coefficients: &[f64], x: f64) -> f64 {
    coefficients.iter().rev().fold(0.0, |acc, c| acc * x + c)
}

/// The lecture's students: hours of work ~ N(5,1), hours of sleep ~ N(7,1.5); a student passes
/// (1) when a hidden linear rule of both, plus noise, is positive.
pub fn students(n: usize, seed: u64) -> Features {
    let mut rng = rng(seed);
    let work = normal(5.0, 1.0);
    let sleep = normal(7.0, 1.5);
    let noise = normal(0.0, 0.5);
    let mut x = Vec::with_capacity(n);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let (w, s) = (work.sample(&mut rng), sleep.sample(&mut rng));
        // the hidden rule: work counts twice as much as sleep
        let score = 1.0 * (w - 5.0) + 0.5 * (s - 7.0) + noise.sample(&mut rng);
        x.push(vec![w, s]);
        y.push(if score > 0.0 { 1.0 } else { 0.0 });
    }
    Features {
        names: vec!["hours_of_work".to_string(), "hours_of_sleep".to_string()],
        x,
        y,
    }
}

/// `n` points around `centers` centres spread on a circle of radius 7 (a random turn, each centre
/// moved by up to 1), each blob N(centre, std²), labelled with their blob.
pub fn blobs(n: usize, centers: usize, std: f64, seed: u64) -> Features {
    let mut rng = rng(seed);
    let jitter = Uniform::new(-1.0, 1.0).expect("a valid range");
    let turn = rng.random_range(0.0..std::f64::consts::TAU);
    let centres: Vec<[f64; 2]> = (0..centers)
        .map(|k| {
            let angle = turn + std::f64::consts::TAU * k as f64 / centers.max(1) as f64;
            [
                7.0 * angle.cos() + jitter.sample(&mut rng),
                7.0 * angle.sin() + jitter.sample(&mut rng),
            ]
        })
        .collect();
    let spread = normal(0.0, std);
    let mut x = Vec::with_capacity(n);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % centers.max(1);
        x.push(vec![
            centres[c][0] + spread.sample(&mut rng),
            centres[c][1] + spread.sample(&mut rng),
        ]);
        y.push(c as f64);
    }
    Features {
        names: vec!["x1".to_string(), "x2".to_string()],
        x,
        y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_has_the_asked_slope_without_noise() {
        let f = line(50, 4.0, 2.0, 0.0, 1);
        assert!(
            f.x.iter()
                .zip(&f.y)
                .all(|(x, y)| (y - (4.0 * x[0] + 2.0)).abs() < 1e-12)
        );
        assert!(f.x.iter().all(|x| (0.0..10.0).contains(&x[0])));
        assert_eq!(
            line(50, 4.0, 2.0, 7.0, 1),
            line(50, 4.0, 2.0, 7.0, 1),
            "seeded"
        );
    }

    #[test]
    fn students_pass_and_fail_in_both_numbers() {
        let f = students(1000, 1);
        let passed = f.y.iter().filter(|&&y| y == 1.0).count();
        assert!((300..700).contains(&passed), "{passed}");
        let mean_work = f.x.iter().map(|r| r[0]).sum::<f64>() / 1000.0;
        assert!((mean_work - 5.0).abs() < 0.15, "{mean_work}");
    }

    #[test]
    fn horner_evaluates_polynomials() {
        assert_eq!(evaluate_polynomial(&[1.0, 2.0, 3.0], 2.0), 1.0 + 4.0 + 12.0);
    }
}
