//! Batch normalization in training mode, on `[batch, channels, pixels]` values, with the batch's
//! own statistics:
//! - `μ_c = mean of x[·, c, ·]`, `σ²_c = mean of (x − μ_c)²` (biased, as burn keeps);
//! - `x̂ = (x − μ_c) / √(σ²_c + ε)`, `y = γ_c·x̂ + β_c`;
//! - backward, with N values per channel: `dβ_c = Σ dy`, `dγ_c = Σ dy·x̂`,
//!   `dx = γ_c / √(σ²_c + ε) · (dy − dβ_c/N − x̂·dγ_c/N)`.
//!
//! Why by hand: flex runs burn's generic batch norm, which swaps the batch and channel axes and
//! copies the tensor to reduce per channel, in the forward and again in the backward pass (5% of
//! `gan_train` in `copy_2d_tiled` alone, plus a dozen element-wise passes).

use rayon::prelude::*;

use crate::kernels::rectifier::Rectifier;

/// `Σ f(a_i, b_i)` over two slices of one length, in 16 lanes: a plain fold waits for each add to
/// finish before the next (f32 addition is not reassociated), 16 sums side by side vectorise.
#[inline]
pub fn lane_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    const LANES: usize = 16;
    let mut lanes = [0.0f32; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (a_rest, b_rest) = (a_chunks.remainder(), b_chunks.remainder());
    for (a, b) in a_chunks.zip(b_chunks) {
        for i in 0..LANES {
            lanes[i] += f(a[i], b[i]);
        }
    }
    let rest: f32 = a_rest.iter().zip(b_rest).map(|(&a, &b)| f(a, b)).sum();
    lanes.iter().sum::<f32>() + rest
}

/// `batch` images of `channels` planes of `pixels` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planes {
    pub batch: usize,
    pub channels: usize,
    pub pixels: usize,
}

impl Planes {
    fn image(&self) -> usize {
        self.channels * self.pixels
    }

    fn per_channel(&self) -> f64 {
        (self.batch * self.pixels).max(1) as f64
    }

    /// Per channel c, the `K` sums `Σ f(a plane, b plane, c)` over the batch (`a` and `b` of one
    /// shape): each thread sums the images of its share, in f64.
    fn channel_sums<const K: usize>(
        &self,
        a: &[f32],
        b: &[f32],
        f: impl Fn(&[f32], &[f32], usize) -> [f64; K] + Sync,
    ) -> Vec<[f64; K]> {
        a.par_chunks(self.image())
            .zip(b.par_chunks(self.image()))
            .fold(
                || vec![[0.0; K]; self.channels],
                |mut sums, (a, b)| {
                    let planes = a.chunks(self.pixels).zip(b.chunks(self.pixels));
                    for (c, (a, b)) in planes.enumerate() {
                        let terms = f(a, b, c);
                        sums[c].iter_mut().zip(terms).for_each(|(s, t)| *s += t);
                    }
                    sums
                },
            )
            .reduce(
                || vec![[0.0; K]; self.channels],
                |mut a, b| {
                    for (a, b) in a.iter_mut().zip(b) {
                        a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
                    }
                    a
                },
            )
    }
}

/// Mean and biased variance of each channel (two passes, for accuracy).
pub fn statistics(p: &Planes, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let n = p.per_channel();
    // each plane summed in f32 lanes, the planes in f64
    let mean: Vec<f64> = p
        .channel_sums(
            x,
            x,
            |plane, _, _| [lane_sum(plane, plane, |v, _| v) as f64],
        )
        .into_iter()
        .map(|[s]| s / n)
        .collect();
    let variance = p.channel_sums(x, x, |plane, _, c| {
        let m = mean[c] as f32;
        [lane_sum(plane, plane, |v, _| (v - m) * (v - m)) as f64]
    });
    (
        mean.iter().map(|&m| m as f32).collect(),
        variance.iter().map(|&[v]| (v / n) as f32).collect(),
    )
}

/// `1 / √(σ² + ε)` of each channel.
fn inverse_std(variance: &[f32], epsilon: f64) -> Vec<f32> {
    variance
        .iter()
        .map(|&v| (1.0 / (v as f64 + epsilon).sqrt()) as f32)
        .collect()
}

/// `y = γ·(x − μ)/√(σ² + ε) + β`, channel by channel, then the rectifier if there is one.
pub fn forward(
    p: &Planes,
    x: &[f32],
    (gamma, beta): (&[f32], &[f32]),
    (mean, variance): (&[f32], &[f32]),
    epsilon: f64,
    rectifier: Option<Rectifier>,
) -> Vec<f32> {
    let inv = inverse_std(variance, epsilon);
    // y = x·scale + shift
    let scale: Vec<f32> = gamma.iter().zip(&inv).map(|(g, i)| g * i).collect();
    let shift: Vec<f32> = (0..p.channels)
        .map(|c| beta[c] - mean[c] * scale[c])
        .collect();
    let mut y = vec![0.0; x.len()];
    y.par_chunks_mut(p.image())
        .zip(x.par_chunks(p.image()))
        .for_each(|(y, x)| {
            for (c, (y, x)) in y.chunks_mut(p.pixels).zip(x.chunks(p.pixels)).enumerate() {
                let (a, b) = (scale[c], shift[c]);
                match rectifier {
                    None => y.iter_mut().zip(x).for_each(|(y, &x)| *y = x * a + b),
                    Some(r) => y
                        .iter_mut()
                        .zip(x)
                        .for_each(|(y, &x)| *y = r.apply(x * a + b)),
                }
            }
        });
    y
}

/// `(dx, dγ, dβ)` from the output gradient `dy`, the input and the statistics of the forward pass.
pub fn backward(
    p: &Planes,
    x: &[f32],
    dy: &[f32],
    gamma: &[f32],
    (mean, variance): (&[f32], &[f32]),
    epsilon: f64,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let inv = inverse_std(variance, epsilon);
    // Σ dy and Σ dy·x̂ per channel
    let sums = p.channel_sums(x, dy, |x, dy, c| {
        let (m, i) = (mean[c], inv[c]);
        [
            lane_sum(dy, dy, |g, _| g) as f64,
            lane_sum(x, dy, |x, g| g * (x - m) * i) as f64,
        ]
    });
    let dbeta: Vec<f64> = sums.iter().map(|[s, _]| *s).collect();
    let dgamma: Vec<f64> = sums.iter().map(|[_, s]| *s).collect();
    let n = p.per_channel();
    let mut dx = vec![0.0; x.len()];
    dx.par_chunks_mut(p.image())
        .zip(x.par_chunks(p.image()))
        .zip(dy.par_chunks(p.image()))
        .for_each(|((dx, x), dy)| {
            for c in 0..p.channels {
                let (m, i) = (mean[c], inv[c]);
                let scale = gamma[c] * i;
                let (mean_dy, mean_dyx) = ((dbeta[c] / n) as f32, (dgamma[c] / n) as f32);
                let range = c * p.pixels..(c + 1) * p.pixels;
                for ((d, &x), &g) in dx[range.clone()]
                    .iter_mut()
                    .zip(&x[range.clone()])
                    .zip(&dy[range])
                {
                    *d = scale * (g - mean_dy - (x - m) * i * mean_dyx);
                }
            }
        });
    let to_f32 = |v: &[f64]| v.iter().map(|&v| v as f32).collect();
    (dx, to_f32(&dgamma), to_f32(&dbeta))
}
