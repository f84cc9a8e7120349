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
}

/// Count, mean and sum of squared deviations of some values, merged by Chan, Golub and LeVeque's
/// rule (exact for any split, and stable: only the difference of the two means is squared).
#[derive(Debug, Clone, Copy, Default)]
struct Moments {
    n: f64,
    mean: f64,
    m2: f64,
}

impl Moments {
    fn merge(self, other: Moments) -> Moments {
        let n = self.n + other.n;
        if n == 0.0 {
            return self;
        }
        let delta = other.mean - self.mean;
        Moments {
            n,
            mean: self.mean + delta * other.n / n,
            m2: self.m2 + other.m2 + delta * delta * self.n * other.n / n,
        }
    }
}

/// Mean and biased variance of each channel, in one pass over x: each plane's mean and squared
/// deviations about it (the plane read twice while it is in L1, in f32 lanes), the planes merged
/// in f64 ([`Moments`]). It replaced two passes over the whole batch (the mean, then the squares
/// about it), which read x from memory twice.
pub fn statistics(p: &Planes, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let merge_all = |a: Vec<Moments>, b: Vec<Moments>| -> Vec<Moments> {
        a.into_iter().zip(b).map(|(a, b)| a.merge(b)).collect()
    };
    let pixels = p.pixels.max(1);
    // each image's planes on some thread, merged in the images' order: the same rounding
    // whatever thread took which image (a fold and reduce would group them as the threads ran)
    let per_image: Vec<Vec<Moments>> = x
        .par_chunks(p.image().max(1))
        .map(|image| {
            image
                .chunks(pixels)
                .map(|plane| {
                    let mean = lane_sum(plane, plane, |v, _| v) / pixels as f32;
                    let m2 = lane_sum(plane, plane, |v, _| (v - mean) * (v - mean));
                    Moments {
                        n: pixels as f64,
                        mean: f64::from(mean),
                        m2: f64::from(m2),
                    }
                })
                .collect()
        })
        .collect();
    per_image
        .into_iter()
        .fold(vec![Moments::default(); p.channels], merge_all)
        .iter()
        .map(|m| (m.mean as f32, (m.m2 / m.n.max(1.0)) as f32))
        .unzip()
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
    // written once, not cleared first
    let (image, pixels) = (p.image().max(1), p.pixels.max(1));
    let mut y = Vec::with_capacity(x.len());
    y.spare_capacity_mut()[..x.len()]
        .par_chunks_mut(image)
        .zip(x.par_chunks(image))
        .for_each(|(y, x)| {
            for (c, (y, x)) in y.chunks_mut(pixels).zip(x.chunks(pixels)).enumerate() {
                let (a, b) = (scale[c], shift[c]);
                match rectifier {
                    None => y.iter_mut().zip(x).for_each(|(y, &x)| {
                        y.write(x * a + b);
                    }),
                    Some(r) => y.iter_mut().zip(x).for_each(|(y, &x)| {
                        y.write(r.apply(x * a + b));
                    }),
                }
            }
        });
    // SAFETY: every value was written above (the chunks cover all of x's length).
    unsafe { y.set_len(x.len()) };
    y
}

/// `(dx, dγ, dβ)` from the output gradient `dy`, the input and the statistics of the forward pass;
/// with `rectified` (the rectifier that ended the forward pass and its output y), `dy` is first
/// taken through it, in place, plane by plane in the pass that sums it (a pass of its own read
/// and wrote the whole of dy once more).
pub fn backward(
    p: &Planes,
    x: &[f32],
    dy: &mut [f32],
    rectified: Option<(Rectifier, &[f32])>,
    gamma: &[f32],
    (mean, variance): (&[f32], &[f32]),
    epsilon: f64,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let inv = inverse_std(variance, epsilon);
    let (image, pixels) = (p.image().max(1), p.pixels.max(1));
    // Σ dy and Σ dy·x̂ per channel: each image's planes on some thread, added in the images'
    // order (the same rounding whatever thread took which image)
    let per_image: Vec<Vec<[f64; 2]>> = dy
        .par_chunks_mut(image)
        .zip(x.par_chunks(image))
        .enumerate()
        .map(|(n, (dy, x))| {
            let planes = dy.chunks_mut(pixels).zip(x.chunks(pixels));
            planes
                .enumerate()
                .map(|(c, (dy, x))| {
                    if let Some((rectifier, y)) = rectified {
                        rectifier.backward_row(&y[n * image + c * pixels..][..pixels], dy);
                    }
                    let (m, i) = (mean[c], inv[c]);
                    [
                        f64::from(lane_sum(dy, dy, |g, _| g)),
                        f64::from(lane_sum(x, dy, |x, g| g * (x - m) * i)),
                    ]
                })
                .collect()
        })
        .collect();
    let mut sums = vec![[0.0f64; 2]; p.channels];
    for image in per_image {
        for (sum, terms) in sums.iter_mut().zip(image) {
            sum[0] += terms[0];
            sum[1] += terms[1];
        }
    }
    let dbeta: Vec<f64> = sums.iter().map(|[s, _]| *s).collect();
    let dgamma: Vec<f64> = sums.iter().map(|[_, s]| *s).collect();
    let n = p.per_channel();
    let dy = &*dy;
    // written once, not cleared first
    let mut dx = Vec::with_capacity(x.len());
    dx.spare_capacity_mut()[..x.len()]
        .par_chunks_mut(image)
        .zip(x.par_chunks(image))
        .zip(dy.par_chunks(image))
        .for_each(|((dx, x), dy)| {
            for c in 0..p.channels {
                let (m, i) = (mean[c], inv[c]);
                let scale = gamma[c] * i;
                let (mean_dy, mean_dyx) = ((dbeta[c] / n) as f32, (dgamma[c] / n) as f32);
                let range = c * pixels..(c + 1) * pixels;
                for ((d, &x), &g) in dx[range.clone()]
                    .iter_mut()
                    .zip(&x[range.clone()])
                    .zip(&dy[range])
                {
                    d.write(scale * (g - mean_dy - (x - m) * i * mean_dyx));
                }
            }
        });
    // SAFETY: every value was written above (the chunks cover all of x's length).
    unsafe { dx.set_len(x.len()) };
    let to_f32 = |v: &[f64]| v.iter().map(|&v| v as f32).collect();
    (dx, to_f32(&dgamma), to_f32(&dbeta))
}
