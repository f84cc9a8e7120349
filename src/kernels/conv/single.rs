//! Convolutions from a single channel, 3×3, stride 1: the MNIST models' first layers (1 → 32)
//! and the backward pass of their last transposed ones (32 → 1, which mirror such a layer):
//! - forward:     `y[o, r, c]  = Σ_ij w[o, i, j] · x[r + i − p, c + j − p]` (0 outside x), each
//!   run of up to 16 outputs along a row from the nine shifted runs of x it reads, loaded in
//!   place with the lanes outside the image masked to zero, the bias and rectifier added before
//!   the store;
//! - weight grad: `dw[o, i, j] = Σ_b Σ_rc dy[b, o, r, c] · cols_b[(i, j), (r, c)]`, each image's
//!   nine shifted planes laid out first (9 × 784 values for MNIST, in L1) so that every product
//!   reads whole vectors along the pixels.
//!
//! Why by hand: as matrix products these are nine deep (W `[out, 9]` · cols `[9, pixels]`) or nine
//! wide (dy · colsᵀ), shapes that fill `gemm`'s 64 × 6 tiles poorly. Measured alone on the VAE's
//! 1 → 32 layer (batch 32, one thread, ms per call): forward 0.084 against 0.105 for im2col and
//! `gemm` (whose bias and rectifier then take a pass of their own), weight gradient 0.10 against
//! 0.29. The input gradient stays with them: there Wᵀ · dy is 32 deep, which `gemm` runs well
//! (0.118, against 0.295 for nine shifted sums per run, tried and not kept). So do the layers from
//! a single channel at stride 2: the same kernels over their laid-out taps ran the GAN
//! discriminator's 4×4 one 2–3× faster alone and `gan_train` no faster.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::avx512;
use super::im2col::{Geometry, im2col};
use crate::kernels::product::{share_of, sum};
use crate::kernels::rectifier::Rectifier;

const LANES: usize = 16;
const TAPS: usize = 9;
/// Output channels the forward pass computes together: eight independent sums, so that the
/// fused multiply-adds of one do not wait for those before it.
const CHANNELS: usize = 8;

/// Whether the kernels here compute this layer's forward pass and weight gradient (a CPU with
/// AVX-512).
pub fn applies(g: &Geometry, out: usize) -> bool {
    g.channels == 1
        && g.kernel == [3, 3]
        && g.stride == [1, 1]
        && g.padding.iter().all(|&p| p < 3)
        // at least one output pixel on each axis
        && g.height + 2 * g.padding[0] >= 3
        && g.width + 2 * g.padding[1] >= 3
        && out > 0
        && avx512()
}

/// The bias and rectifier that the forward pass applies before it stores, if any.
type Epilogue<'a> = Option<(&'a [f32], Option<Rectifier>)>;

/// A run of up to 16 outputs along one row, and where each tap reads its 16 values.
#[derive(Debug, Clone, Copy)]
struct Run {
    /// The first output's index in its plane.
    at: usize,
    /// Outputs in the run.
    lanes: usize,
    /// For each tap, the index of its first value in the plane read (which may lie before the
    /// plane's start or past its end) and its lanes inside the plane, as a bit mask.
    taps: [(isize, u16); TAPS],
}

/// The runs of an `out`-sized plane whose output `(r, c)` reads, for tap `(i, j)`, the value
/// at `(r, c) + shift(i, j)` of a plane of `read` rows and columns.
fn runs(out: [usize; 2], read: [usize; 2], shift: impl Fn(usize, usize) -> [isize; 2]) -> Vec<Run> {
    let [rows, columns] = read.map(|n| n as isize);
    let mut runs = Vec::with_capacity(out[0] * out[1].div_ceil(LANES));
    for r in 0..out[0] {
        for c in (0..out[1]).step_by(LANES) {
            let lanes = (out[1] - c).min(LANES);
            let taps = std::array::from_fn(|t| {
                let [dr, dc] = shift(t / 3, t % 3);
                let (row, first) = (r as isize + dr, c as isize + dc);
                // lanes l with 0 ≤ first + l < columns and l < lanes
                let low = (-first).clamp(0, LANES as isize);
                let high = (columns - first).clamp(0, lanes as isize);
                let mask = if (0..rows).contains(&row) && high > low {
                    ((1u32 << high) - (1u32 << low)) as u16
                } else {
                    0
                };
                (row * columns + first, mask)
            });
            runs.push(Run {
                at: r * out[1] + c,
                lanes,
                taps,
            });
        }
    }
    runs
}

/// `rectify(y + bias)` for `y` `[batch, out, oh, ow]` from x `[batch, 1, h, w]` and weight
/// `[out, 1, 3, 3]`, with the epilogue when there is one.
pub fn forward(
    g: &Geometry,
    batch: usize,
    (x, weight, out): (&[f32], &[f32], usize),
    epilogue: Epilogue<'_>,
) -> Vec<f32> {
    assert!(applies(g, out), "single::forward on {g:?}");
    let (pixels, image) = (g.out_pixels(), g.in_pixels());
    // the reads and `set_len` below rely on it
    assert_eq!(
        x.len(),
        batch * image,
        "single::forward: input of {} values",
        x.len()
    );
    let [ph, pw] = g.padding.map(|p| p as isize);
    let runs = runs(
        [g.out_height(), g.out_width()],
        [g.height, g.width],
        |i, j| [i as isize - ph, j as isize - pw],
    );
    let per_share = share_of(batch);
    let mut y = Vec::with_capacity(batch * out * pixels);
    y.spare_capacity_mut()[..batch * out * pixels]
        .par_chunks_mut(per_share * out * pixels)
        .zip(x.par_chunks(per_share * image))
        .for_each(|(y, x)| {
            for (y, x) in y.chunks_mut(out * pixels).zip(x.chunks(image)) {
                // SAFETY: `applies` checked AVX-512; every run's taps read inside `x` where
                // their masks are set, and its outputs lie inside each of `y`'s planes.
                unsafe { spread(&runs, x.as_ptr(), (weight, out, epilogue), y, pixels) };
            }
        });
    // SAFETY: every plane of every image was written in full by its runs.
    unsafe { y.set_len(batch * out * pixels) };
    y
}

/// The weight gradient `[out, 1, 3, 3]`: each thread's share of the batch, then their sum.
/// Each image's nine shifted planes are laid out first (its `cols`, 9 × 784 values for MNIST,
/// in L1), so that every tap reads whole vectors straight along the pixels, as dy does.
pub fn weight_grad(g: &Geometry, batch: usize, x: &[f32], dy: &[f32], out: usize) -> Vec<f32> {
    assert!(applies(g, out), "single::weight_grad on {g:?}");
    let (pixels, image) = (g.out_pixels(), g.in_pixels());
    assert_eq!(
        (x.len(), dy.len()),
        (batch * image, batch * out * pixels),
        "single::weight_grad: input and output gradient sizes"
    );
    // rows of cols by whole vectors: the last one's lanes past the pixels stay zero
    let ld = pixels.next_multiple_of(LANES);
    let per_share = share_of(batch);
    let partial: Vec<Vec<f32>> = x
        .par_chunks(per_share * image)
        .zip(dy.par_chunks(per_share * out * pixels))
        .map(|(x, dy)| {
            let mut cols = vec![0.0; TAPS * ld];
            // dw's sums lane by lane, added across the lanes at the end
            let mut sums = vec![[0.0f32; LANES]; out * TAPS];
            for (x, dy) in x.chunks(image).zip(dy.chunks(out * pixels)) {
                im2col(g, x, &mut cols, ld, &mut []);
                // SAFETY: `applies` checked AVX-512; cols holds 9 rows of `ld` values, dy `out`
                // planes of `pixels` values, sums `out · 9` vectors.
                unsafe { correlate((&cols, ld), (dy, pixels), out, &mut sums) };
            }
            sums.iter().map(|lanes| lanes.iter().sum()).collect()
        })
        .collect();
    sum(partial, out * TAPS)
}

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::{
    __m512, _CMP_GT_OQ, _mm512_add_ps, _mm512_cmp_ps_mask, _mm512_fmadd_ps, _mm512_loadu_ps,
    _mm512_mask_blend_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_mul_ps,
    _mm512_set1_ps, _mm512_setzero_ps, _mm512_storeu_ps,
};

/// The 16 values at `plane[at..]` whose bits are set in `mask`, zeros elsewhere.
///
/// # Safety
/// AVX-512F; every masked-in lane lies inside the plane's allocation (masked-out lanes are not
/// read, whatever their address).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn masked(plane: *const f32, (at, mask): (isize, u16)) -> __m512 {
    // SAFETY: the caller's contract.
    unsafe { _mm512_maskz_loadu_ps(mask, plane.wrapping_offset(at)) }
}

/// The first `lanes` bits.
fn first(lanes: usize) -> u16 {
    ((1u32 << lanes) - 1) as u16
}

/// One image's forward pass: for each run, its nine taps of x, then eight output channels at a
/// time (one at a time for the last `out % 8`).
///
/// # Safety
/// AVX-512F; the runs were made for this geometry, `x` holds one input plane and `y` `out`
/// output planes of `pixels` values, `weight` `out · 9` values and the bias `out`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn spread(
    runs: &[Run],
    x: *const f32,
    (weight, out, epilogue): (&[f32], usize, Epilogue<'_>),
    y: &mut [MaybeUninit<f32>],
    pixels: usize,
) {
    let y = y.as_mut_ptr().cast::<f32>();
    for run in runs {
        // SAFETY (all below): the caller's contract.
        let taps: [__m512; TAPS] = std::array::from_fn(|t| unsafe { masked(x, run.taps[t]) });
        let store = first(run.lanes);
        let mut o = 0;
        while o + CHANNELS <= out {
            unsafe {
                channels::<CHANNELS>(
                    &taps,
                    (weight, o, epilogue),
                    y.add(o * pixels + run.at),
                    (pixels, store),
                )
            };
            o += CHANNELS;
        }
        for o in o..out {
            unsafe {
                channels::<1>(
                    &taps,
                    (weight, o, epilogue),
                    y.add(o * pixels + run.at),
                    (pixels, store),
                )
            };
        }
    }
}

/// Output channels `o..o + C` of one run: `Σ_t taps[t] · w[o + q, t]`, the bias, the rectifier,
/// stored in the lanes of `store`, plane after plane.
///
/// # Safety
/// As [`spread`], with channels `o..o + C` inside `out`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn channels<const C: usize>(
    taps: &[__m512; TAPS],
    (weight, o, epilogue): (&[f32], usize, Epilogue<'_>),
    y: *mut f32,
    (pixels, store): (usize, u16),
) {
    let w = &weight[o * TAPS..(o + C) * TAPS];
    let mut acc = [_mm512_setzero_ps(); C];
    for (t, tap) in taps.iter().enumerate() {
        for (q, acc) in acc.iter_mut().enumerate() {
            *acc = _mm512_fmadd_ps(*tap, _mm512_set1_ps(w[q * TAPS + t]), *acc);
        }
    }
    for (q, acc) in acc.into_iter().enumerate() {
        let value = match epilogue {
            None => acc,
            Some((bias, rectifier)) => {
                let z = _mm512_add_ps(acc, _mm512_set1_ps(bias[o + q]));
                match rectifier {
                    None => z,
                    // `Rectifier::apply`: z where z > 0, slope · z elsewhere
                    Some(r) => {
                        let positive = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(z, _mm512_setzero_ps());
                        _mm512_mask_blend_ps(positive, _mm512_mul_ps(z, _mm512_set1_ps(r.slope)), z)
                    }
                }
            }
        };
        // SAFETY: the caller's contract.
        unsafe { _mm512_mask_storeu_ps(y.add(q * pixels), store, value) };
    }
}

/// `sums[o, t] += dy[o] · cols[t]` lane by lane for one image, two output channels at a time
/// (18 sums in registers; each vector of cols serves both).
///
/// # Safety
/// AVX-512F; `cols` has 9 rows of `ld ≥ pixels` values (a multiple of 16), `dy` `out` planes of
/// `pixels` values, `sums` `out · 9` vectors.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn correlate(
    (cols, ld): (&[f32], usize),
    (dy, pixels): (&[f32], usize),
    out: usize,
    sums: &mut [[f32; LANES]],
) {
    let mut o = 0;
    while o + 2 <= out {
        // SAFETY (both): the caller's contract.
        unsafe { correlate_channels::<2>((cols, ld), (dy, pixels), o, sums) };
        o += 2;
    }
    if o < out {
        unsafe { correlate_channels::<1>((cols, ld), (dy, pixels), o, sums) };
    }
}

/// Output channels `o..o + C` of [`correlate`].
///
/// # Safety
/// As [`correlate`], with `o + C ≤ out`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn correlate_channels<const C: usize>(
    (cols, ld): (&[f32], usize),
    (dy, pixels): (&[f32], usize),
    o: usize,
    sums: &mut [[f32; LANES]],
) {
    // acc[t][q]: tap t of channel o + q
    let mut acc = [[_mm512_setzero_ps(); C]; TAPS];
    let (cols, dy) = (cols.as_ptr(), dy[o * pixels..(o + C) * pixels].as_ptr());
    for p in (0..pixels).step_by(LANES) {
        let mask = first((pixels - p).min(LANES));
        // SAFETY (all below): the caller's contract; the lanes past the plane are not read.
        let d: [__m512; C] =
            std::array::from_fn(|q| unsafe { _mm512_maskz_loadu_ps(mask, dy.add(q * pixels + p)) });
        for (t, acc) in acc.iter_mut().enumerate() {
            let tap = unsafe { _mm512_loadu_ps(cols.add(t * ld + p)) };
            for (acc, d) in acc.iter_mut().zip(d) {
                *acc = _mm512_fmadd_ps(d, tap, *acc);
            }
        }
    }
    for (t, acc) in acc.iter().enumerate() {
        for (q, acc) in acc.iter().enumerate() {
            let sum = sums[(o + q) * TAPS + t].as_mut_ptr();
            unsafe { _mm512_storeu_ps(sum, _mm512_add_ps(_mm512_loadu_ps(sum), *acc)) };
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn spread(
    _: &[Run],
    _: *const f32,
    _: (&[f32], usize, Epilogue<'_>),
    _: &mut [MaybeUninit<f32>],
    _: usize,
) {
    unreachable!("`applies` is false off x86-64")
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn correlate(_: (&[f32], usize), _: (&[f32], usize), _: usize, _: &mut [[f32; LANES]]) {
    unreachable!("`applies` is false off x86-64")
}
