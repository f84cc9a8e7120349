//! Convolutions of kernel 4×4, stride 2 and padding 1 (the DCGAN's, the VAE's decoder's and the
//! U-Net's halving and doubling layers) with fewer multiplications: Winograd's minimal filtering
//! F(4×4, 2×2) (Lavin and Gray 2016) on the four phase convolutions of the layer.
//!
//! **Phases.** Output pixel (h, w) reads input rows 2h − 1 … 2h + 2. Split the input into its four
//! phase images `Q_{c,α,β}[t, s] = x[c, 2t − α, 2s − β]` (α, β ∈ {0, 1}, zero outside): then
//! `y[o, h, w] = Σ_{(c,α,β), u, v} W'[o, (c,α,β), u, v] · Q_{c,α,β}[h + u, w + v]` with the 2×2
//! kernels `W'[o, (c,α,β), u, v] = W[o, c, 2u + 1 − α, 2v + 1 − β]`: one stride-1 2×2
//! convolution from 4·C channels, with the same multiplications as the layer.
//!
//! **F(4×4, 2×2).** Each 4×4 tile of that convolution's output comes from a 5×5 tile `d` of its
//! input: `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`, 25 products instead of 64, summed over the channels as
//! 25 matrix products (one per point of the transformed tile). On a 7×7 output (2×2 tiles) that
//! is 100 products for 196; on 14×14, 400 for 784. Bᵀ, G and Aᵀ are those of the points 0, 1,
//! −1, 2 and ∞ (coefficients 1/6 to 8).
//!
//! **Backward.** The input gradient is the same kind of convolution, of dy padded by one, by the
//! flipped kernels, read back through the phases; the weight gradient sums, point by point,
//! `(transformed input)ᵀ · (A dy Aᵀ)` over the tiles, then maps it back with Gᵀ · G.
//!
//! Values are carried in lanes of 16 channels (one AVX-512 register), which is why the layers
//! must have input channels by fours and output channels by sixteens.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::im2col::Geometry;
use crate::kernels::product::{Strided, matmul, share_of, sum};

const LANES: usize = 16;
type Lanes = [f32; LANES];
/// Points of a transformed tile (5×5).
const POINTS: usize = 25;
/// Tiles a matrix product covers at most (its rows): the transformed inputs of one group,
/// 25 × 128 × channels values, stay near the core.
const MAX_TILES: usize = 32;

/// Whether the layer `g` to `out` channels goes through this file: kernel 4, stride 2,
/// padding 1, an even input, input channels by fours and output channels by sixteens (the
/// lanes), and enough channels for the transforms to pay.
pub fn applies(g: &Geometry, out: usize) -> bool {
    g.kernel == [4, 4]
        && g.stride == [2, 2]
        && g.padding == [1, 1]
        && g.height.is_multiple_of(2)
        && g.width.is_multiple_of(2)
        && g.height >= 4
        && g.width >= 4
        && g.channels.is_multiple_of(4)
        && g.channels >= 16
        && out.is_multiple_of(LANES)
}

// The five matrices as straight-line code on 16 lanes, `m · x` for x one column of lanes: the
// compiler keeps every value in a register and drops the zero coefficients (a generic loop over
// the matrices ran 4 lanes wide, multiplying by each zero). The test `transforms_are_the_matrices`
// holds them to the matrices above.

/// Bᵀ · d.
#[inline(always)]
fn bt_times(d: &[Lanes; 5]) -> [Lanes; 5] {
    let mut o = [[0.0; LANES]; 5];
    for l in 0..LANES {
        let [d0, d1, d2, d3, d4] = [d[0][l], d[1][l], d[2][l], d[3][l], d[4][l]];
        o[0][l] = 2.0 * d0 - d1 - 2.0 * d2 + d3;
        o[1][l] = -2.0 * d1 - d2 + d3;
        o[2][l] = 2.0 * d1 - 3.0 * d2 + d3;
        o[3][l] = d3 - d1;
        o[4][l] = 2.0 * d1 - d2 - 2.0 * d3 + d4;
    }
    o
}

/// G · g.
#[inline(always)]
fn g_times(g: &[Lanes; 2]) -> [Lanes; 5] {
    let mut o = [[0.0; LANES]; 5];
    for l in 0..LANES {
        let [g0, g1] = [g[0][l], g[1][l]];
        o[0][l] = 0.5 * g0;
        o[1][l] = -0.5 * g0 - 0.5 * g1;
        o[2][l] = -g0 / 6.0 + g1 / 6.0;
        o[3][l] = g0 / 6.0 + g1 / 3.0;
        o[4][l] = g1;
    }
    o
}

/// Gᵀ · u.
#[inline(always)]
fn gt_times(u: &[Lanes; 5]) -> [Lanes; 2] {
    let mut o = [[0.0; LANES]; 2];
    for l in 0..LANES {
        let [u0, u1, u2, u3, u4] = [u[0][l], u[1][l], u[2][l], u[3][l], u[4][l]];
        o[0][l] = 0.5 * u0 - 0.5 * u1 - u2 / 6.0 + u3 / 6.0;
        o[1][l] = -0.5 * u1 + u2 / 6.0 + u3 / 3.0 + u4;
    }
    o
}

/// Aᵀ · m.
#[inline(always)]
fn at_times(m: &[Lanes; 5]) -> [Lanes; 4] {
    let mut o = [[0.0; LANES]; 4];
    for l in 0..LANES {
        let [m0, m1, m2, m3, m4] = [m[0][l], m[1][l], m[2][l], m[3][l], m[4][l]];
        o[0][l] = m0 + m1 + m2 + m3;
        o[1][l] = m1 - m2 + 2.0 * m3;
        o[2][l] = m1 + m2 + 4.0 * m3;
        o[3][l] = m1 - m2 + 8.0 * m3 + m4;
    }
    o
}

/// A · y.
#[inline(always)]
fn a_times(y: &[Lanes; 4]) -> [Lanes; 5] {
    let mut o = [[0.0; LANES]; 5];
    for l in 0..LANES {
        let [y0, y1, y2, y3] = [y[0][l], y[1][l], y[2][l], y[3][l]];
        o[0][l] = y0;
        o[1][l] = y0 + y1 + y2 + y3;
        o[2][l] = y0 - y1 + y2 - y3;
        o[3][l] = y0 + 2.0 * y1 + 4.0 * y2 + 8.0 * y3;
        o[4][l] = y3;
    }
    o
}

/// `m · x · mᵀ` for a square tile of lanes (I × I → J × J), `m` given as `m_times` (one of the
/// five above), `x(r, s)` the lanes at (r, s), each result handed to `store(j, q, lanes)`.
#[inline(always)]
fn transform<'a, const I: usize, const J: usize>(
    m_times: impl Fn(&[Lanes; I]) -> [Lanes; J],
    x: impl Fn(usize, usize) -> &'a Lanes,
    mut store: impl FnMut(usize, usize, &Lanes),
) {
    // columns first: t[j][s] = (m · x[·][s])[j]
    let mut t = [[[0.0; LANES]; I]; J];
    for s in 0..I {
        let column = m_times(&std::array::from_fn(|r| *x(r, s)));
        for (t_j, value) in t.iter_mut().zip(column) {
            t_j[s] = value;
        }
    }
    for (j, t_j) in t.iter().enumerate() {
        for (q, lanes) in m_times(t_j).iter().enumerate() {
            store(j, q, lanes);
        }
    }
}

/// `f()` compiled for AVX-512 where the CPU has it (checked once per call, at run time: the
/// release build targets any x86-64), else as the build targets. Everything `f` calls must be
/// `#[inline(always)]` to be compiled so.
#[inline(always)]
fn wide<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        #[target_feature(enable = "avx512f")]
        fn avx512<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        // SAFETY: the CPU has AVX-512F, checked just above.
        return unsafe { avx512(f) };
    }
    f()
}

/// The 16 lanes at `at`.
#[inline(always)]
fn lanes(values: &[f32], at: usize) -> &Lanes {
    values[at..at + LANES].try_into().expect("16 lanes")
}

/// A batch of images laid out for the tiles: each image `[rows][cols][channels]` (channels
/// innermost, so that a tile's values for 16 channels are one load), `rows = 4·tiles_h + 1`.
#[derive(Debug, Clone, Copy)]
struct Tiling {
    tiles_h: usize,
    tiles_w: usize,
    channels: usize,
}

impl Tiling {
    /// The tiling whose tiles cover an output of `out_h × out_w`.
    fn covering(out_h: usize, out_w: usize, channels: usize) -> Self {
        Self {
            tiles_h: out_h.div_ceil(4),
            tiles_w: out_w.div_ceil(4),
            channels,
        }
    }

    fn rows(&self) -> usize {
        4 * self.tiles_h + 1
    }

    fn cols(&self) -> usize {
        4 * self.tiles_w + 1
    }

    fn image(&self) -> usize {
        self.rows() * self.cols() * self.channels
    }

    fn tiles(&self) -> usize {
        self.tiles_h * self.tiles_w
    }

    /// Index of pixel (t, s), channel k, of image `i`.
    fn at(&self, i: usize, t: usize, s: usize, k: usize) -> usize {
        ((i * self.rows() + t) * self.cols() + s) * self.channels + k
    }

    /// Every tile of `images` images: (image, tile row, tile column), in the order of the
    /// matrix products' rows.
    fn each_tile(&self, images: usize) -> impl Iterator<Item = (usize, usize, usize)> {
        let (th, tw) = (self.tiles_h, self.tiles_w);
        (0..images).flat_map(move |i| (0..th).flat_map(move |a| (0..tw).map(move |b| (i, a, b))))
    }
}

/// `v[p][n][k]`: the transformed 5×5 input tiles `Bᵀ d B` of `images` images laid out by
/// `tiling`, tile n in [`Tiling::each_tile`]'s order.
#[inline(always)]
fn transform_inputs(tiling: &Tiling, images: usize, laid_out: &[f32], v: &mut [f32]) {
    let (k_n, tiles) = (tiling.channels, images * tiling.tiles());
    let (row, col) = (tiling.cols() * k_n, k_n);
    let point = tiles * k_n;
    for (n, (i, a, b)) in tiling.each_tile(images).enumerate() {
        for k in (0..k_n).step_by(LANES) {
            let corner = tiling.at(i, 4 * a, 4 * b, k);
            transform(
                bt_times,
                |r, s| lanes(laid_out, corner + r * row + s * col),
                |p1, p2, lanes| {
                    v[(p1 * 5 + p2) * point + n * k_n + k..][..LANES].copy_from_slice(lanes);
                },
            );
        }
    }
}

/// The transformed kernels `u[p][k][o] = (G g Gᵀ)[p]` of the 2×2 kernels `kernel(k, o)`, for
/// `k_n` input and `o_n` output channels.
#[inline(always)]
fn transform_kernels(
    k_n: usize,
    o_n: usize,
    kernel: impl Fn(usize, usize) -> [f32; 4],
) -> Vec<f32> {
    let mut u = Vec::with_capacity(POINTS * k_n * o_n);
    let spare = &mut u.spare_capacity_mut()[..POINTS * k_n * o_n];
    for k in 0..k_n {
        for o in (0..o_n).step_by(LANES) {
            let mut taps = [[[0.0; LANES]; 2]; 2];
            #[allow(clippy::needless_range_loop)] // l indexes the lanes and names the channel
            for l in 0..LANES {
                for (tap, value) in kernel(k, o + l).into_iter().enumerate() {
                    taps[tap / 2][tap % 2][l] = value;
                }
            }
            transform(
                g_times,
                |r, s| &taps[r][s],
                |p1, p2, lanes| {
                    let to = &mut spare[((p1 * 5 + p2) * k_n + k) * o_n + o..][..LANES];
                    to.iter_mut().zip(lanes).for_each(|(t, v)| {
                        t.write(*v);
                    });
                },
            );
        }
    }
    // SAFETY: every (point, k, lane block of o) was written above.
    unsafe { u.set_len(POINTS * k_n * o_n) };
    u
}

/// For each point p, `m[p] = v[p] · u[p]`: `[tiles, o_n]` from `[tiles, k_n]` and `[k_n, o_n]`.
fn multiply_points(v: &[f32], u: &[f32], m: &mut [f32], (tiles, k_n, o_n): (usize, usize, usize)) {
    for p in 0..POINTS {
        matmul(
            (tiles, o_n, k_n),
            Strided::new(&mut m[p * tiles * o_n..][..tiles * o_n], (o_n, 1)),
            false,
            (&v[p * tiles * k_n..][..tiles * k_n], (k_n, 1)),
            (&u[p * k_n * o_n..][..k_n * o_n], (o_n, 1)),
        );
    }
}

/// The output tiles `Aᵀ m A` of `images` images: `write((image, tile row, tile column), first
/// channel, tile)` for every tile and block of 16 channels (tiles may reach past the output's
/// edge: the caller skips those pixels).
#[inline(always)]
fn transform_outputs(
    tiling: &Tiling,
    images: usize,
    o_n: usize,
    m: &[f32],
    mut write: impl FnMut((usize, usize, usize), usize, &[[Lanes; 4]; 4]),
) {
    let tiles = images * tiling.tiles();
    let point = tiles * o_n;
    let mut y = [[[0.0; LANES]; 4]; 4];
    for (n, tile) in tiling.each_tile(images).enumerate() {
        for o in (0..o_n).step_by(LANES) {
            let first = n * o_n + o;
            transform(
                at_times,
                |p1, p2| lanes(m, (p1 * 5 + p2) * point + first),
                |r, s, lanes| y[r][s] = *lanes,
            );
            write(tile, o, &y);
        }
    }
}

/// `m[p][n][o] = (A dy Aᵀ)[p]` for each 4×4 tile n of the output gradient `dy` (`[images,
/// out, oh, ow]`), zero beyond its edge.
#[inline(always)]
fn transform_output_grads(
    tiling: &Tiling,
    dy: &[f32],
    (images, out, oh, ow): (usize, usize, usize, usize),
    m: &mut [f32],
) {
    let tiles = images * tiling.tiles();
    for (n, (i, a, b)) in tiling.each_tile(images).enumerate() {
        let (rows, cols) = ((oh - 4 * a).min(4), (ow - 4 * b).min(4));
        for o in (0..out).step_by(LANES) {
            let mut d = [[[0.0; LANES]; 4]; 4];
            for (l, plane) in dy[(i * out + o) * oh * ow..]
                .chunks(oh * ow)
                .take(LANES)
                .enumerate()
            {
                for r in 0..rows {
                    let row = &plane[(4 * a + r) * ow + 4 * b..][..cols];
                    for (s, value) in row.iter().enumerate() {
                        d[r][s][l] = *value;
                    }
                }
            }
            transform(
                a_times,
                |r, s| &d[r][s],
                |p1, p2, lanes| {
                    m[((p1 * 5 + p2) * tiles + n) * out + o..][..LANES].copy_from_slice(lanes);
                },
            );
        }
    }
}

/// Images per group (one matrix product per point), at most `share`.
fn group_images(tiling: &Tiling, share: usize) -> usize {
    let groups = (share * tiling.tiles()).div_ceil(MAX_TILES).max(1);
    share.div_ceil(groups).max(1)
}

/// The 2×2 phase kernel `W'[o, (c,α,β)]` of the 4×4 kernel W `[out, channels, 4, 4]`, taps
/// row-major (u, v).
fn phase_kernel(weight: &[f32], channels: usize, o: usize, k: usize) -> [f32; 4] {
    let (c, alpha, beta) = (k / 4, (k / 2) % 2, k % 2);
    let w = &weight[(o * channels + c) * 16..][..16];
    std::array::from_fn(|tap| {
        let (u, v) = (tap / 2, tap % 2);
        w[(2 * u + 1 - alpha) * 4 + 2 * v + 1 - beta]
    })
}

/// The phase images of `x` (`[channels, h, w]`) into image `i` of `laid_out`:
/// `Q[t][s][(c,α,β)] = x[c, 2t − α, 2s − β]`, zero where that pixel does not exist. Pixel by
/// pixel, the four phases of a channel are four neighbours in `laid_out`.
#[inline(always)]
fn lay_out_phases(g: &Geometry, tiling: &Tiling, x: &[f32], i: usize, laid_out: &mut [f32]) {
    let (h_n, w_n, k_n) = (g.height, g.width, tiling.channels);
    let laid_row = tiling.cols() * k_n;
    for t in 0..tiling.rows() {
        let to = &mut laid_out[tiling.at(i, t, 0, 0)..][..laid_row];
        // the input rows of phases α = 0 and 1, where they exist
        let rows = [2 * t, (2 * t).wrapping_sub(1)].map(|h| (h < h_n).then_some(h));
        for c in 0..g.channels {
            let channel = &x[c * h_n * w_n..][..h_n * w_n];
            for (alpha, h) in rows.iter().enumerate() {
                let Some(h) = h else {
                    for s in 0..tiling.cols() {
                        to[s * k_n + 4 * c + 2 * alpha..][..2].fill(0.0);
                    }
                    continue;
                };
                let row = &channel[h * w_n..][..w_n];
                for s in 0..tiling.cols() {
                    let pair = &mut to[s * k_n + 4 * c + 2 * alpha..][..2];
                    let even = 2 * s;
                    pair[0] = if even < w_n { row[even] } else { 0.0 };
                    pair[1] = match even.wrapping_sub(1) {
                        w if w < w_n => row[w],
                        _ => 0.0,
                    };
                }
            }
        }
    }
}

/// `D[t][s][o] = dy[o, t − 1, s − 1]` (dy `[out, oh, ow]` padded by one, zero outside) into
/// image `i` of `laid_out`.
#[inline(always)]
fn lay_out_padded(
    tiling: &Tiling,
    dy: &[f32],
    (oh, ow): (usize, usize),
    i: usize,
    laid_out: &mut [f32],
) {
    for t in 0..tiling.rows() {
        for s in 0..tiling.cols() {
            let pixel = &mut laid_out[tiling.at(i, t, s, 0)..][..tiling.channels];
            let (h, w) = (t.wrapping_sub(1), s.wrapping_sub(1));
            if h < oh && w < ow {
                let from = dy[h * ow + w..].iter().step_by(oh * ow);
                pixel.iter_mut().zip(from).for_each(|(p, v)| *p = *v);
            } else {
                pixel.fill(0.0);
            }
        }
    }
}

/// Scratch of one thread, kept between calls (the transformed tiles are megabytes; fresh
/// buffers, cleared, cost 5% of a `gan_train` step): the laid-out images, their transformed
/// tiles, the points' products and (for the weight gradient) their sums.
#[derive(Default)]
struct Scratch {
    laid_out: Vec<f32>,
    v: Vec<f32>,
    m: Vec<f32>,
    /// A weight gradient's transformed kernels.
    du: Vec<f32>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

/// `f(scratch)` with this thread's scratch sized for groups of `images` images of `tiling` and
/// `o_n` output channels (its values are what the last call left: each step writes all it
/// reads).
fn with_scratch<R>(
    tiling: &Tiling,
    images: usize,
    o_n: usize,
    f: impl FnOnce(&mut Scratch) -> R,
) -> R {
    SCRATCH.with_borrow_mut(|scratch| {
        let tiles = images * tiling.tiles();
        let grow = |buffer: &mut Vec<f32>, len: usize| {
            if buffer.len() < len {
                buffer.resize(len, 0.0);
            }
        };
        grow(&mut scratch.laid_out, images * tiling.image());
        grow(&mut scratch.v, POINTS * tiles * tiling.channels);
        grow(&mut scratch.m, POINTS * tiles * o_n);
        f(scratch)
    })
}


/// One convolution of kernel 4, stride 2, padding 1 from `[channels, h, w]` images to `out`
/// channels, seen as its phase convolution: what the forward pass and the weight gradient share,
/// one group of images at a time.
struct PhaseConvolution<'g> {
    g: &'g Geometry,
    out: usize,
    tiling: Tiling,
    /// Values per input image and per output image.
    image: usize,
    plane: usize,
    /// Images per thread, and per group within a thread.
    share: usize,
    group: usize,
}

impl<'g> PhaseConvolution<'g> {
    fn new(g: &'g Geometry, batch: usize, out: usize) -> Self {
        let tiling = Tiling::covering(g.out_height(), g.out_width(), 4 * g.channels);
        let share = share_of(batch);
        Self {
            g,
            out,
            tiling,
            image: g.channels * g.in_pixels(),
            plane: out * g.out_pixels(),
            share,
            group: group_images(&tiling, share),
        }
    }

    /// The group's images `x` laid out by phase and transformed into `scratch.v`; returns how
    /// many images there are.
    #[inline(always)]
    fn transform_inputs(&self, x: &[f32], scratch: &mut Scratch) -> usize {
        let images = x.len() / self.image;
        for (i, x) in x.chunks(self.image).enumerate() {
            lay_out_phases(self.g, &self.tiling, x, i, &mut scratch.laid_out);
        }
        transform_inputs(&self.tiling, images, &scratch.laid_out, &mut scratch.v);
        images
    }

    /// The group's output `y` (`[images, out, oh, ow]`) from its transformed inputs and the
    /// transformed kernels `u`.
    #[inline(always)]
    fn forward(&self, images: usize, u: &[f32], scratch: &mut Scratch, y: &mut [MaybeUninit<f32>]) {
        let (out, oh, ow) = (self.out, self.g.out_height(), self.g.out_width());
        let tiles = images * self.tiling.tiles();
        multiply_points(&scratch.v, u, &mut scratch.m, (tiles, self.tiling.channels, out));
        let write = |(i, a, b): (usize, usize, usize), o: usize, tile: &[[Lanes; 4]; 4]| {
            let (rows, cols) = ((oh - 4 * a).min(4), (ow - 4 * b).min(4));
            let planes = y[(i * out + o) * oh * ow..].chunks_mut(oh * ow);
            for (l, plane) in planes.take(LANES).enumerate() {
                for (r, tile_row) in tile.iter().take(rows).enumerate() {
                    let row = &mut plane[(4 * a + r) * ow + 4 * b..][..cols];
                    for (value, lanes) in row.iter_mut().zip(tile_row) {
                        value.write(lanes[l]);
                    }
                }
            }
        };
        transform_outputs(&self.tiling, images, out, &scratch.m, write);
    }

    /// `scratch.du (+)= Σ_tiles v[p]ᵀ · (A dy Aᵀ)[p]` for the group's output gradient `dy`
    /// (`[images, out, oh, ow]`); the first group overwrites.
    #[inline(always)]
    fn add_weight_grad(&self, images: usize, dy: &[f32], first: bool, scratch: &mut Scratch) {
        let (out, k_n) = (self.out, self.tiling.channels);
        let (oh, ow) = (self.g.out_height(), self.g.out_width());
        let tiles = images * self.tiling.tiles();
        transform_output_grads(&self.tiling, dy, (images, out, oh, ow), &mut scratch.m);
        if scratch.du.len() < POINTS * k_n * out {
            scratch.du.resize(POINTS * k_n * out, 0.0);
        }
        for p in 0..POINTS {
            matmul(
                (k_n, out, tiles),
                Strided::new(&mut scratch.du[p * k_n * out..][..k_n * out], (out, 1)),
                !first,
                (&scratch.v[p * tiles * k_n..][..tiles * k_n], (1, k_n)),
                (&scratch.m[p * tiles * out..][..tiles * out], (out, 1)),
            );
        }
    }

    /// The transformed kernels of `weight` (`[out, channels, 4, 4]`).
    fn transformed_kernels(&self, weight: &[f32]) -> Vec<f32> {
        let (k_n, channels) = (self.tiling.channels, self.g.channels);
        wide(
            #[inline(always)]
            || transform_kernels(k_n, self.out, |k, o| phase_kernel(weight, channels, o, k)),
        )
    }

    /// `f(scratch)` compiled wide, with this thread's scratch for this convolution's groups.
    #[inline(always)]
    fn on_scratch<R>(&self, f: impl FnOnce(&mut Scratch) -> R) -> R {
        with_scratch(&self.tiling, self.group, self.out, |scratch| {
            wide(
                #[inline(always)]
                || f(scratch),
            )
        })
    }
}

/// `y = conv(x, W)`: x `[batch, channels, h, w]`, W `[out, channels, 4, 4]` → `[batch, out,
/// h/2, w/2]`.
pub fn forward(g: &Geometry, batch: usize, x: &[f32], weight: &[f32], out: usize) -> Vec<f32> {
    let conv = PhaseConvolution::new(g, batch, out);
    let u = conv.transformed_kernels(weight);
    let (image, plane, group) = (conv.image, conv.plane, conv.group);
    let mut y = Vec::with_capacity(batch * plane);
    y.spare_capacity_mut()[..batch * plane]
        .par_chunks_mut(conv.share * plane)
        .zip(x.par_chunks(conv.share * image))
        .for_each(|(y, x)| {
            conv.on_scratch(
                #[inline(always)]
                |scratch| {
                    for (y, x) in y.chunks_mut(group * plane).zip(x.chunks(group * image)) {
                        let images = conv.transform_inputs(x, scratch);
                        conv.forward(images, &u, scratch, y);
                    }
                },
            )
        });
    // SAFETY: every output pixel lies in one tile, written above.
    unsafe { y.set_len(batch * plane) };
    y
}

/// The weight gradient `[out, channels, 4, 4]`: for each point p,
/// `dU[p] = Σ_tiles (Bᵀ d B)[p]ᵀ · (A dy Aᵀ)[p]`, then `dW' = Gᵀ dU G` read back into the 4×4
/// kernels.
pub fn weight_grad(g: &Geometry, batch: usize, x: &[f32], dy: &[f32], out: usize) -> Vec<f32> {
    let conv = PhaseConvolution::new(g, batch, out);
    let (image, plane, group) = (conv.image, conv.plane, conv.group);
    let partial: Vec<Vec<f32>> = x
        .par_chunks(conv.share * image)
        .zip(dy.par_chunks(conv.share * plane))
        .map(|(x, dy)| {
            conv.on_scratch(
                #[inline(always)]
                |scratch| {
                    let groups = x.chunks(group * image).zip(dy.chunks(group * plane));
                    for (n, (x, dy)) in groups.enumerate() {
                        let images = conv.transform_inputs(x, scratch);
                        conv.add_weight_grad(images, dy, n == 0, scratch);
                    }
                    kernels_from_points(&scratch.du, g.channels, out)
                },
            )
        })
        .collect();
    sum(partial, out * g.channels * 16)
}

/// [`forward`] of x and [`weight_grad`] of (x, dy) in one pass, the inputs laid out and
/// transformed once: the backward pass of a transposed convolution.
pub fn forward_and_weight_grad(
    g: &Geometry,
    batch: usize,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    out: usize,
) -> (Vec<f32>, Vec<f32>) {
    let conv = PhaseConvolution::new(g, batch, out);
    let u = conv.transformed_kernels(weight);
    let (image, plane, group) = (conv.image, conv.plane, conv.group);
    let mut y = Vec::with_capacity(batch * plane);
    let partial: Vec<Vec<f32>> = y.spare_capacity_mut()[..batch * plane]
        .par_chunks_mut(conv.share * plane)
        .zip(x.par_chunks(conv.share * image))
        .zip(dy.par_chunks(conv.share * plane))
        .map(|((y, x), dy)| {
            conv.on_scratch(
                #[inline(always)]
                |scratch| {
                    let groups = y
                        .chunks_mut(group * plane)
                        .zip(x.chunks(group * image))
                        .zip(dy.chunks(group * plane));
                    for (n, ((y, x), dy)) in groups.enumerate() {
                        let images = conv.transform_inputs(x, scratch);
                        conv.forward(images, &u, scratch, y);
                        conv.add_weight_grad(images, dy, n == 0, scratch);
                    }
                    kernels_from_points(&scratch.du, g.channels, out)
                },
            )
        })
        .collect();
    // SAFETY: every output pixel lies in one tile, written above.
    unsafe { y.set_len(batch * plane) };
    (y, sum(partial, out * g.channels * 16))
}

/// The input gradient `[batch, channels, h, w]` from dy `[batch, out, h/2, w/2]`: the phase
/// images' gradients `dQ[k][t, s] = Σ_{o,u,v} W'[o, k, 1 − u, 1 − v] · D[o][t + u, s + v]`, where
/// `D[t, s] = dy[t − 1, s − 1]` (dy padded by one), each pixel of dx one of theirs.
pub fn input_grad(g: &Geometry, batch: usize, dy: &[f32], weight: &[f32], out: usize) -> Vec<f32> {
    let (oh, ow) = (g.out_height(), g.out_width());
    let (h_n, w_n) = (g.height, g.width);
    let k_n = 4 * g.channels;
    // the phase images are (oh + 1) × (ow + 1)
    let tiling = Tiling::covering(oh + 1, ow + 1, out);
    let u = wide(
        #[inline(always)]
        || {
            transform_kernels(out, k_n, |o, k| {
                let [w00, w01, w10, w11] = phase_kernel(weight, g.channels, o, k);
                [w11, w10, w01, w00]
            })
        },
    );
    let (image, plane) = (g.channels * g.in_pixels(), out * oh * ow);
    let per_share = share_of(batch);
    let size = group_images(&tiling, per_share);
    let mut dx = Vec::with_capacity(batch * image);
    dx.spare_capacity_mut()[..batch * image]
        .par_chunks_mut(per_share * image)
        .zip(dy.par_chunks(per_share * plane))
        .for_each(|(dx, dy)| {
            with_scratch(&tiling, size, k_n, |scratch| {
                wide(
                    #[inline(always)]
                    || {
                        for (dx, dy) in dx.chunks_mut(size * image).zip(dy.chunks(size * plane)) {
                            let images = dy.len() / plane;
                            for (i, dy) in dy.chunks(plane).enumerate() {
                                lay_out_padded(&tiling, dy, (oh, ow), i, &mut scratch.laid_out);
                            }
                            let tiles = images * tiling.tiles();
                            transform_inputs(&tiling, images, &scratch.laid_out, &mut scratch.v);
                            multiply_points(&scratch.v, &u, &mut scratch.m, (tiles, out, k_n));
                            // lanes k.. are channels k/4.. in their four phases (α, β): the tile's
                            // pixel (t, s) of phase (α, β) is dx's (2t − α, 2s − β)
                            let write =
                                |(i, a, b): (usize, usize, usize),
                                 k: usize,
                                 tile: &[[Lanes; 4]; 4]| {
                                    for c in 0..LANES / 4 {
                                        let channel = (i * g.channels + k / 4 + c) * h_n * w_n;
                                        for (r, tile_row) in tile.iter().enumerate() {
                                            for alpha in 0..2 {
                                                let h = (2 * (4 * a + r)).wrapping_sub(alpha);
                                                if h >= h_n {
                                                    continue;
                                                }
                                                // one row of dx: 8 neighbours, (s, β) = (0, 1), (0, 0), (1, 1), …
                                                let row = &mut dx[channel + h * w_n..][..w_n];
                                                for (s, lanes) in tile_row.iter().enumerate() {
                                                    for beta in 0..2 {
                                                        let w =
                                                            (2 * (4 * b + s)).wrapping_sub(beta);
                                                        if w < w_n {
                                                            row[w].write(
                                                                lanes[4 * c + 2 * alpha + beta],
                                                            );
                                                        }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                };
                            transform_outputs(&tiling, images, k_n, &scratch.m, write);
                        }
                    },
                )
            })
        });
    // SAFETY: every pixel of dx is one pixel of one phase image, written above.
    unsafe { dx.set_len(batch * image) };
    dx
}


/// The 4×4 kernels' gradient `[out, channels, 4, 4]` from that of the transformed 2×2 phase
/// kernels `du[p][k][o]`: `dW' = Gᵀ dU G`, each tap back where [`phase_kernel`] took it.
#[inline(always)]
fn kernels_from_points(du: &[f32], channels: usize, out: usize) -> Vec<f32> {
    let k_n = 4 * channels;
    let mut dw = vec![0.0; out * channels * 16];
    for k in 0..k_n {
        let (c, alpha, beta) = (k / 4, (k / 2) % 2, k % 2);
        for o in (0..out).step_by(LANES) {
            let first = k * out + o;
            transform(
                gt_times,
                |p1, p2| lanes(du, (p1 * 5 + p2) * k_n * out + first),
                |u, v, lanes| {
                    let tap = (2 * u + 1 - alpha) * 4 + 2 * v + 1 - beta;
                    for (l, value) in lanes.iter().enumerate() {
                        dw[((o + l) * channels + c) * 16 + tap] = *value;
                    }
                },
            );
        }
    }
    dw
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::conv::products;

    // The matrices of F(4×4, 2×2) for the points 0, 1, −1, 2 and ∞.
    /// Bᵀ: input tile (5) → points (5).
    const BT: [[f32; 5]; 5] = [
        [2.0, -1.0, -2.0, 1.0, 0.0],
        [0.0, -2.0, -1.0, 1.0, 0.0],
        [0.0, 2.0, -3.0, 1.0, 0.0],
        [0.0, -1.0, 0.0, 1.0, 0.0],
        [0.0, 2.0, -1.0, -2.0, 1.0],
    ];
    /// G: kernel (2) → points (5).
    const G: [[f32; 2]; 5] = [
        [0.5, 0.0],
        [-0.5, -0.5],
        [-1.0 / 6.0, 1.0 / 6.0],
        [1.0 / 6.0, 1.0 / 3.0],
        [0.0, 1.0],
    ];
    /// Gᵀ: points (5) → kernel (2), for the weight gradient.
    const GT: [[f32; 5]; 2] = [
        [0.5, -0.5, -1.0 / 6.0, 1.0 / 6.0, 0.0],
        [0.0, -0.5, 1.0 / 6.0, 1.0 / 3.0, 1.0],
    ];
    /// Aᵀ: points (5) → output tile (4).
    const AT: [[f32; 5]; 4] = [
        [1.0, 1.0, 1.0, 1.0, 0.0],
        [0.0, 1.0, -1.0, 2.0, 0.0],
        [0.0, 1.0, 1.0, 4.0, 0.0],
        [0.0, 1.0, -1.0, 8.0, 1.0],
    ];
    /// A: output tile (4) → points (5), for the weight gradient.
    const A: [[f32; 4]; 5] = [
        [1.0, 0.0, 0.0, 0.0],
        [1.0, 1.0, 1.0, 1.0],
        [1.0, -1.0, 1.0, -1.0],
        [1.0, 2.0, 4.0, 8.0],
        [0.0, 0.0, 0.0, 1.0],
    ];

    /// Each straight-line transform applied to the unit vectors gives its matrix's columns.
    #[test]
    fn transforms_are_the_matrices() {
        fn columns<const I: usize, const J: usize>(
            times: impl Fn(&[Lanes; I]) -> [Lanes; J],
            matrix: &[[f32; I]; J],
        ) {
            for i in 0..I {
                let unit: [Lanes; I] = std::array::from_fn(|r| [f32::from(r == i); LANES]);
                for (column, row) in times(&unit).iter().zip(matrix) {
                    assert!(column.iter().all(|v| (v - row[i]).abs() < 1e-7));
                }
            }
        }
        columns(bt_times, &BT);
        columns(g_times, &G);
        columns(gt_times, &GT);
        columns(at_times, &AT);
        columns(a_times, &A);
        // and the matrices compute a 4-output, 2-tap correlation: Aᵀ[(G g) ⊙ (Bᵀ d)]
        let (d, g) = ([0.3f32, -1.2, 0.7, 2.0, -0.4], [1.5f32, -0.8]);
        for (i, row) in AT.iter().enumerate() {
            let winograd: f32 = (0..5)
                .map(|p| {
                    let gp: f32 = (0..2).map(|k| G[p][k] * g[k]).sum();
                    let dp: f32 = (0..5).map(|r| BT[p][r] * d[r]).sum();
                    row[p] * gp * dp
                })
                .sum();
            assert!((winograd - (d[i] * g[0] + d[i + 1] * g[1])).abs() < 1e-5);
        }
    }

    fn random(len: usize, seed: u64) -> Vec<f32> {
        // a small LCG: the values need only be varied and reproducible
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn assert_close(fast: &[f32], direct: &[f32], what: &str) {
        assert_eq!(fast.len(), direct.len(), "{what}: lengths");
        let scale = direct.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        for (i, (f, d)) in fast.iter().zip(direct).enumerate() {
            assert!(
                (f - d).abs() <= 1e-5 * scale + 1e-6,
                "{what}[{i}]: {f} against {d} (largest {scale})"
            );
        }
    }

    /// The three products against the im2col ones (tested against burn's in `tests.rs`) on the
    /// labs' widest layers and on uneven shapes (a 5×5 output: tiles past the edge).
    #[test]
    fn phase_winograd_matches_the_direct_products() {
        for (batch, channels, out, [height, width]) in [
            (3, 64, 128, [14, 14]),
            (2, 32, 64, [28, 28]),
            (5, 16, 16, [10, 10]),
            (1, 20, 32, [6, 12]),
            (2, 16, 16, [4, 4]),
        ] {
            let g = Geometry {
                channels,
                height,
                width,
                kernel: [4, 4],
                stride: [2, 2],
                padding: [1, 1],
            };
            assert!(applies(&g, out));
            let x = random(batch * channels * height * width, 1);
            let weight = random(out * channels * 16, 2);
            let dy = random(batch * out * g.out_pixels(), 3);
            assert_close(
                &forward(&g, batch, &x, &weight, out),
                &products::direct_forward(&g, batch, &x, &weight, out),
                "forward",
            );
            assert_close(
                &input_grad(&g, batch, &dy, &weight, out),
                &products::direct_input_grad(&g, batch, &dy, &weight, out),
                "input grad",
            );
            let direct_weight_grad = products::direct_weight_grad(&g, batch, &x, &dy, out);
            assert_close(
                &weight_grad(&g, batch, &x, &dy, out),
                &direct_weight_grad,
                "weight grad",
            );
            let (y, dw) = forward_and_weight_grad(&g, batch, &x, &weight, &dy, out);
            assert_close(&y, &forward(&g, batch, &x, &weight, out), "forward, with dw");
            assert_close(&dw, &direct_weight_grad, "weight grad, with y");
        }
    }
}
