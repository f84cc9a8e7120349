//! Classical linear algebra on `f64` rows, through faer: least squares by QR, and the SVD.
//! The labs hold their data as rows (`Vec<Vec<f64>>`); these functions convert at the border.

use faer::Mat;
use faer::prelude::SolveLstsq;

use crate::error::{Error, Result};

/// The matrix whose rows are `rows` (all of the same length).
pub fn matrix(rows: &[Vec<f64>]) -> Mat<f64> {
    let d = rows.first().map_or(0, Vec::len);
    Mat::from_fn(rows.len(), d, |i, j| rows[i][j])
}

/// θ̂ minimising ‖Xθ − y‖², by a column-pivoted QR factorisation of X: numerically stable, and
/// never forms (XᵀX)⁻¹. Fails when the columns of X are (nearly) collinear.
pub fn least_squares(x: &[Vec<f64>], y: &[f64]) -> Result<Vec<f64>> {
    let a = matrix(x);
    let b = Mat::from_fn(y.len(), 1, |i, _| y[i]);
    let qr = a.col_piv_qr();
    // the diagonal of R tells the rank: a tiny pivot means a column adds nothing new
    let r = qr.R();
    let largest = (0..r.ncols().min(r.nrows()))
        .map(|i| r[(i, i)].abs())
        .fold(0.0, f64::max);
    let rank = (0..r.ncols().min(r.nrows()))
        .filter(|&i| r[(i, i)].abs() > 1e-12 * largest.max(1e-300))
        .count();
    if rank < a.ncols() {
        return Err(Error::Numerical(format!(
            "least squares: the {} columns are collinear (rank {rank}); remove redundant features",
            a.ncols()
        )));
    }
    let theta = qr.solve_lstsq(&b);
    Ok((0..theta.nrows()).map(|i| theta[(i, 0)]).collect())
}

/// The thin singular value decomposition X = U·diag(s)·Vᵀ: returns (U's columns as rows of
/// scores, s, V's columns as rows: the right singular vectors).
pub struct ThinSvd {
    /// `n × k`
    pub u: Mat<f64>,
    /// `k` singular values, largest first
    pub s: Vec<f64>,
    /// `k` right singular vectors, one per row (`k × d`)
    pub vt: Vec<Vec<f64>>,
}

pub fn thin_svd(x: &[Vec<f64>]) -> Result<ThinSvd> {
    let a = matrix(x);
    let svd = a
        .thin_svd()
        .map_err(|e| Error::Numerical(format!("SVD did not converge: {e:?}")))?;
    let s: Vec<f64> = svd.S().column_vector().iter().copied().collect();
    let v = svd.V();
    let vt = (0..v.ncols())
        .map(|k| (0..v.nrows()).map(|j| v[(j, k)]).collect())
        .collect();
    Ok(ThinSvd {
        u: svd.U().to_owned(),
        s,
        vt,
    })
}

/// Principal component analysis: the SVD of the centred data X − μ = U·S·Vᵀ. The rows of Vᵀ are
/// the principal axes; the variance along axis k is sₖ²/(n − 1).
#[derive(Debug, Clone)]
pub struct Pca {
    pub mean: Vec<f64>,
    /// Principal axes, one per row, most variance first.
    pub components: Vec<Vec<f64>>,
    /// Variance of the data along each axis.
    pub explained_variance: Vec<f64>,
    /// The total variance of the data (the trace of its covariance).
    pub total_variance: f64,
}

impl Pca {
    pub fn fit(x: &[Vec<f64>]) -> Result<Self> {
        let n = x.len();
        if n < 2 {
            return Err(Error::Numerical(
                "PCA needs at least two points".to_string(),
            ));
        }
        let d = x[0].len();
        let mean: Vec<f64> = (0..d)
            .map(|j| x.iter().map(|r| r[j]).sum::<f64>() / n as f64)
            .collect();
        let centred: Vec<Vec<f64>> = x
            .iter()
            .map(|r| r.iter().zip(&mean).map(|(a, m)| a - m).collect())
            .collect();
        let total_variance = centred.iter().flatten().map(|v| v * v).sum::<f64>() / (n - 1) as f64;
        let svd = thin_svd(&centred)?;
        Ok(Self {
            mean,
            components: svd.vt,
            explained_variance: svd.s.iter().map(|s| s * s / (n - 1) as f64).collect(),
            total_variance,
        })
    }

    /// The share of the total variance that each axis explains.
    pub fn explained_variance_ratio(&self) -> Vec<f64> {
        self.explained_variance
            .iter()
            .map(|v| v / self.total_variance.max(1e-300))
            .collect()
    }

    /// Coordinates of `row` on the first `k` axes.
    pub fn project(&self, row: &[f64], k: usize) -> Vec<f64> {
        self.components
            .iter()
            .take(k)
            .map(|axis| {
                axis.iter()
                    .zip(row.iter().zip(&self.mean))
                    .map(|(a, (x, m))| a * (x - m))
                    .sum()
            })
            .collect()
    }

    /// The point rebuilt from its first `k` coordinates: μ + Σₖ zₖ·axisₖ.
    pub fn reconstruct(&self, coordinates: &[f64]) -> Vec<f64> {
        let mut row = self.mean.clone();
        for (z, axis) in coordinates.iter().zip(&self.components) {
            for (r, a) in row.iter_mut().zip(axis) {
                *r += z * a;
            }
        }
        row
    }
}

/// The mean and covariance (divided by n − 1) of the rows of `x`.
pub fn mean_and_covariance(x: &[Vec<f64>]) -> (Vec<f64>, Mat<f64>) {
    let (n, d) = (x.len(), x.first().map_or(0, Vec::len));
    let mean: Vec<f64> = (0..d)
        .map(|j| x.iter().map(|r| r[j]).sum::<f64>() / n.max(1) as f64)
        .collect();
    let centred = Mat::from_fn(n, d, |i, j| x[i][j] - mean[j]);
    let covariance = centred.transpose() * &centred * faer::Scale(1.0 / (n.max(2) - 1) as f64);
    (mean, covariance)
}

/// The Fréchet distance between two Gaussians fitted to `a` and `b` (as in the FID):
/// ‖μa − μb‖² + Tr(Σa + Σb − 2(Σa·Σb)^½), with Tr (Σa·Σb)^½ = Σ √λ(Σa^½·Σb·Σa^½), a symmetric
/// matrix whose eigenvalues are safe to take.
pub fn frechet_distance(a: &[Vec<f64>], b: &[Vec<f64>]) -> Result<f64> {
    let (mean_a, cov_a) = mean_and_covariance(a);
    let (mean_b, cov_b) = mean_and_covariance(b);
    let eigen = cov_a
        .self_adjoint_eigen(faer::Side::Lower)
        .map_err(|e| Error::Numerical(format!("eigen-decomposition did not converge: {e:?}")))?;
    let (u, s) = (eigen.U(), eigen.S());
    let d = cov_a.nrows();
    let sqrt_s = Mat::from_fn(d, d, |i, j| {
        if i == j {
            s.column_vector()[i].max(0.0).sqrt()
        } else {
            0.0
        }
    });
    let sqrt_a = u * &sqrt_s * u.transpose();
    let middle = &sqrt_a * &cov_b * &sqrt_a;
    let values = middle
        .self_adjoint_eigenvalues(faer::Side::Lower)
        .map_err(|e| Error::Numerical(format!("eigenvalues did not converge: {e:?}")))?;
    let trace_sqrt: f64 = values.iter().map(|v| v.max(0.0).sqrt()).sum();
    let mean_term: f64 = mean_a
        .iter()
        .zip(&mean_b)
        .map(|(x, y)| (x - y).powi(2))
        .sum();
    let trace = |m: &Mat<f64>| (0..m.nrows()).map(|i| m[(i, i)]).sum::<f64>();
    Ok(mean_term + trace(&cov_a) + trace(&cov_b) - 2.0 * trace_sqrt)
}

/// The eigenvalues of a symmetric matrix, largest first.
pub fn symmetric_eigenvalues(m: &[Vec<f64>]) -> Result<Vec<f64>> {
    let a = matrix(m);
    let mut values = a
        .self_adjoint_eigenvalues(faer::Side::Lower)
        .map_err(|e| Error::Numerical(format!("eigenvalues did not converge: {e:?}")))?;
    values.sort_by(|a, b| b.total_cmp(a));
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_squares_recovers_an_exact_solution() {
        let x: Vec<Vec<f64>> = (0..10)
            .map(|i| vec![i as f64, (i * i) as f64 % 7.0, 1.0])
            .collect();
        let y: Vec<f64> = x.iter().map(|r| 3.0 * r[0] - 2.0 * r[1] + 0.5).collect();
        let theta = least_squares(&x, &y).unwrap();
        for (t, e) in theta.iter().zip([3.0, -2.0, 0.5]) {
            assert!((t - e).abs() < 1e-10, "{theta:?}");
        }
    }

    #[test]
    fn the_frechet_distance_of_gaussians_has_its_closed_form() {
        use rand::SeedableRng;
        use rand_distr::{Distribution, Normal};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let unit = Normal::new(0.0, 1.0).unwrap();
        // a ~ N(0, I), b ~ N(m, 4I) in 3 dimensions: FD = ‖m‖² + Σ (1 + 4 − 2·2) = ‖m‖² + 3
        let a: Vec<Vec<f64>> = (0..20000)
            .map(|_| (0..3).map(|_| unit.sample(&mut rng)).collect())
            .collect();
        let b: Vec<Vec<f64>> = (0..20000)
            .map(|_| {
                (0..3)
                    .map(|j| j as f64 + 2.0 * unit.sample(&mut rng))
                    .collect()
            })
            .collect();
        let fd = frechet_distance(&a, &b).unwrap();
        assert!((fd - (5.0 + 3.0)).abs() < 0.25, "{fd}");
        assert!(frechet_distance(&a, &a).unwrap().abs() < 1e-6);
    }

    #[test]
    fn collinear_columns_are_an_error() {
        let x: Vec<Vec<f64>> = (0..10)
            .map(|i| vec![i as f64, 2.0 * i as f64, 1.0])
            .collect();
        let y: Vec<f64> = (0..10).map(|i| i as f64).collect();
        assert!(
            least_squares(&x, &y)
                .unwrap_err()
                .to_string()
                .contains("collinear")
        );
    }

    #[test]
    // indices mirror the formulas being checked
    #[allow(clippy::needless_range_loop)]
    fn the_svd_reconstructs_the_matrix() {
        let x = vec![
            vec![1.0, 2.0, 3.0],
            vec![4.0, 5.0, 6.0],
            vec![7.0, 8.0, 10.0],
            vec![1.0, 0.0, 1.0],
        ];
        let svd = thin_svd(&x).unwrap();
        assert!(svd.s.windows(2).all(|w| w[0] >= w[1]));
        for i in 0..4 {
            for j in 0..3 {
                let v: f64 = (0..svd.s.len())
                    .map(|k| svd.u[(i, k)] * svd.s[k] * svd.vt[k][j])
                    .sum();
                assert!((v - x[i][j]).abs() < 1e-10);
            }
        }
    }
}
