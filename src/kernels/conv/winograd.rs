//! Convolutions with fewer multiplications, by Winograd's minimal filtering (Lavin and Gray 2016):
//! F(3×3, 3×3) or F(4×4, 3×3) for the 3×3 stride-1 layers, F(4×4, 2×2) for the phases of the 4×4
//! stride-2 ones (the DCGAN's, the VAE's decoder's and the U-Net's halving and doubling layers).
//!
//! **F(M×M, R×R).** Each M×M tile of a stride-1 convolution's output comes from an N×N tile `d`
//! of its input (N = M + R − 1): `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`, N² products instead of M²R²,
//! summed over the channels as N² matrix products (one per point of the transformed tile).
//! F(4×4, 2×2) and F(3×3, 3×3) use the points 0, 1, −1, 2 and ∞ (coefficients 1/6 to 8), so the
//! same Bᵀ; F(4×4, 3×3) adds −2 (coefficients 1/24 to 8).
//! - 3×3 layers: 25 products per 3×3 tile for 81, or 36 per 4×4 tile for 144 where that needs at
//!   most three quarters of the products (see [`by_fours`]). On the `cnn`'s 11×11 output, 3×3
//!   tiles: 400 per channel pair for 1,089 (324 with 4×4 tiles, not enough fewer to pay for their
//!   dearer transforms); on 7×7, 4×4 tiles: 144 for 441 (225 with 3×3 tiles).
//! - 4×4 stride-2 layers, through their **phases**. Output pixel (h, w) reads input rows 2h − 1 …
//!   2h + 2. Split the input into its four phase images `Q_{c,α,β}[t, s] = x[c, 2t − α, 2s − β]`
//!   (α, β ∈ {0, 1}, zero outside): then `y[o, h, w] = Σ_{(c,α,β), u, v} W'[o, (c,α,β), u, v] ·
//!   Q_{c,α,β}[h + u, w + v]` with the 2×2 kernels `W'[o, (c,α,β), u, v] = W[o, c, 2u + 1 − α,
//!   2v + 1 − β]`: one stride-1 2×2 convolution from 4·C channels, with the same
//!   multiplications as the layer. F(4×4, 2×2): on a 7×7 output (2×2 tiles) 100 products for
//!   196; on 14×14, 400 for 784.
//!
//! **Backward.** The input gradient is the same kind of convolution of dy, by the flipped
//! kernels: a 3×3 layer's is its mirror's forward pass (dy padded by 2 − p); a 4×4 layer's pads
//! dy by one and is read back through the phases. The weight gradient sums, point by point,
//! `(transformed input)ᵀ · (A dy Aᵀ)` over the tiles, then maps it back with Gᵀ · G.
//!
//! Values are carried in lanes of 16 channels (one AVX-512 register), which is why the layers
//! must have output channels by sixteens, and input channels by sixteens (3×3) or fours (4×4, the
//! phases making four times as many).

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::im2col::Geometry;
use crate::kernels::product::{Strided, matmul, share_of, sum};

const LANES: usize = 16;
type Lanes = [f32; LANES];
/// The distance between the planes of the N² points, for planes of `len` values: a cache line
/// more. The planes' lengths are multiples of 4 KB in the labs' layers, and the 25 (or 36)
/// values a transform reads or writes at one place of each plane then all fell in one set of the
/// L1 cache, each access a miss.
const fn plane(len: usize) -> usize {
    len + LANES
}

/// Tiles a matrix product covers at most (its rows): the laid-out and transformed inputs of one
/// group (N² × 32 × channels values: 25 or, through F(4×4, 3×3), 36) stay in a core's L2 cache. Measured on `gan_train`: groups
/// of 32 tiles ran 10–15% faster than of 128 or 64; 16 made the products too thin.
const MAX_TILES: usize = 32;

// The matrices as straight-line code on 16 lanes, `m · x` for x one column of lanes (here Bᵀ, the
// others in [`Minimal`]): the compiler keeps every value in a register and drops the zero
// coefficients (a generic loop over the matrices ran 4 lanes wide, multiplying by each zero).
// The test `transforms_are_the_matrices` holds them to the matrices.

/// Bᵀ · d for the five points 0, 1, −1, 2 and ∞.
#[inline(always)]
fn bt5(d: &[Lanes; 5]) -> [Lanes; 5] {
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

/// Bᵀ · d for the six points 0, 1, −1, 2, −2 and ∞.
#[inline(always)]
fn bt6(d: &[Lanes; 6]) -> [Lanes; 6] {
    let mut o = [[0.0; LANES]; 6];
    for l in 0..LANES {
        let [d0, d1, d2, d3, d4, d5] = [d[0][l], d[1][l], d[2][l], d[3][l], d[4][l], d[5][l]];
        o[0][l] = 4.0 * d0 - 5.0 * d2 + d4;
        o[1][l] = -4.0 * d1 - 4.0 * d2 + d3 + d4;
        o[2][l] = 4.0 * d1 - 4.0 * d2 - d3 + d4;
        o[3][l] = -2.0 * d1 - d2 + 2.0 * d3 + d4;
        o[4][l] = 2.0 * d1 - d2 - 2.0 * d3 + d4;
        o[5][l] = 4.0 * d1 - 5.0 * d3 + d5;
    }
    o
}

/// One of the minimal filterings of this file, F(M×M, R×R) on N = M + R − 1 points (N × N input
/// tiles): Bᵀ, Aᵀ, A, G and Gᵀ as straight-line code on 16 lanes. Those on the same points share
/// their Bᵀ.
trait Minimal<const N: usize, const M: usize, const R: usize> {
    /// Bᵀ · d.
    fn bt(d: &[Lanes; N]) -> [Lanes; N];
    /// Aᵀ · m.
    fn at(m: &[Lanes; N]) -> [Lanes; M];
    /// A · y.
    fn a(y: &[Lanes; M]) -> [Lanes; N];
    /// G · g.
    fn g(g: &[Lanes; R]) -> [Lanes; N];
    /// Gᵀ · u.
    fn gt(u: &[Lanes; N]) -> [Lanes; R];
}

/// F(4×4, 2×2): the phase convolutions of the 4×4 stride-2 layers.
struct F4x2;

impl Minimal<5, 4, 2> for F4x2 {
    #[inline(always)]
    fn bt(d: &[Lanes; 5]) -> [Lanes; 5] {
        bt5(d)
    }

    #[inline(always)]
    fn at(m: &[Lanes; 5]) -> [Lanes; 4] {
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

    #[inline(always)]
    fn a(y: &[Lanes; 4]) -> [Lanes; 5] {
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

    #[inline(always)]
    fn g(g: &[Lanes; 2]) -> [Lanes; 5] {
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

    #[inline(always)]
    fn gt(u: &[Lanes; 5]) -> [Lanes; 2] {
        let mut o = [[0.0; LANES]; 2];
        for l in 0..LANES {
            let [u0, u1, u2, u3, u4] = [u[0][l], u[1][l], u[2][l], u[3][l], u[4][l]];
            o[0][l] = 0.5 * u0 - 0.5 * u1 - u2 / 6.0 + u3 / 6.0;
            o[1][l] = -0.5 * u1 + u2 / 6.0 + u3 / 3.0 + u4;
        }
        o
    }
}

/// F(3×3, 3×3): the 3×3 stride-1 layers.
struct F3x3;

impl Minimal<5, 3, 3> for F3x3 {
    #[inline(always)]
    fn bt(d: &[Lanes; 5]) -> [Lanes; 5] {
        bt5(d)
    }

    #[inline(always)]
    fn at(m: &[Lanes; 5]) -> [Lanes; 3] {
        let mut o = [[0.0; LANES]; 3];
        for l in 0..LANES {
            let [m0, m1, m2, m3, m4] = [m[0][l], m[1][l], m[2][l], m[3][l], m[4][l]];
            o[0][l] = m0 + m1 + m2 + m3;
            o[1][l] = m1 - m2 + 2.0 * m3;
            o[2][l] = m1 + m2 + 4.0 * m3 + m4;
        }
        o
    }

    #[inline(always)]
    fn a(y: &[Lanes; 3]) -> [Lanes; 5] {
        let mut o = [[0.0; LANES]; 5];
        for l in 0..LANES {
            let [y0, y1, y2] = [y[0][l], y[1][l], y[2][l]];
            o[0][l] = y0;
            o[1][l] = y0 + y1 + y2;
            o[2][l] = y0 - y1 + y2;
            o[3][l] = y0 + 2.0 * y1 + 4.0 * y2;
            o[4][l] = y2;
        }
        o
    }

    #[inline(always)]
    fn g(g: &[Lanes; 3]) -> [Lanes; 5] {
        let mut o = [[0.0; LANES]; 5];
        for l in 0..LANES {
            let [g0, g1, g2] = [g[0][l], g[1][l], g[2][l]];
            o[0][l] = 0.5 * g0;
            o[1][l] = -0.5 * g0 - 0.5 * g1 - 0.5 * g2;
            o[2][l] = -g0 / 6.0 + g1 / 6.0 - g2 / 6.0;
            o[3][l] = g0 / 6.0 + g1 / 3.0 + 2.0 * g2 / 3.0;
            o[4][l] = g2;
        }
        o
    }

    #[inline(always)]
    fn gt(u: &[Lanes; 5]) -> [Lanes; 3] {
        let mut o = [[0.0; LANES]; 3];
        for l in 0..LANES {
            let [u0, u1, u2, u3, u4] = [u[0][l], u[1][l], u[2][l], u[3][l], u[4][l]];
            o[0][l] = 0.5 * u0 - 0.5 * u1 - u2 / 6.0 + u3 / 6.0;
            o[1][l] = -0.5 * u1 + u2 / 6.0 + u3 / 3.0;
            o[2][l] = -0.5 * u1 - u2 / 6.0 + 2.0 * u3 / 3.0 + u4;
        }
        o
    }
}

/// F(4×4, 3×3) on six points: the 3×3 stride-1 layers whose outputs its 4×4 tiles cover with at
/// most three quarters of F(3×3, 3×3)'s products ([`by_fours`]; a 7×7 output: 4 tiles of 36
/// points, 144 products per channel pair, against 9 tiles of 25, 225).
struct F4x3;

impl Minimal<6, 4, 3> for F4x3 {
    #[inline(always)]
    fn bt(d: &[Lanes; 6]) -> [Lanes; 6] {
        bt6(d)
    }

    #[inline(always)]
    fn at(m: &[Lanes; 6]) -> [Lanes; 4] {
        let mut o = [[0.0; LANES]; 4];
        for l in 0..LANES {
            let [m0, m1, m2, m3, m4, m5] = [m[0][l], m[1][l], m[2][l], m[3][l], m[4][l], m[5][l]];
            o[0][l] = m0 + m1 + m2 + m3 + m4;
            o[1][l] = m1 - m2 + 2.0 * m3 - 2.0 * m4;
            o[2][l] = m1 + m2 + 4.0 * m3 + 4.0 * m4;
            o[3][l] = m1 - m2 + 8.0 * m3 - 8.0 * m4 + m5;
        }
        o
    }

    #[inline(always)]
    fn a(y: &[Lanes; 4]) -> [Lanes; 6] {
        let mut o = [[0.0; LANES]; 6];
        for l in 0..LANES {
            let [y0, y1, y2, y3] = [y[0][l], y[1][l], y[2][l], y[3][l]];
            o[0][l] = y0;
            o[1][l] = y0 + y1 + y2 + y3;
            o[2][l] = y0 - y1 + y2 - y3;
            o[3][l] = y0 + 2.0 * y1 + 4.0 * y2 + 8.0 * y3;
            o[4][l] = y0 - 2.0 * y1 + 4.0 * y2 - 8.0 * y3;
            o[5][l] = y3;
        }
        o
    }

    #[inline(always)]
    fn g(g: &[Lanes; 3]) -> [Lanes; 6] {
        let mut o = [[0.0; LANES]; 6];
        for l in 0..LANES {
            let [g0, g1, g2] = [g[0][l], g[1][l], g[2][l]];
            o[0][l] = g0 / 4.0;
            o[1][l] = -(g0 + g1 + g2) / 6.0;
            o[2][l] = -(g0 - g1 + g2) / 6.0;
            o[3][l] = g0 / 24.0 + g1 / 12.0 + g2 / 6.0;
            o[4][l] = g0 / 24.0 - g1 / 12.0 + g2 / 6.0;
            o[5][l] = g2;
        }
        o
    }

    #[inline(always)]
    fn gt(u: &[Lanes; 6]) -> [Lanes; 3] {
        let mut o = [[0.0; LANES]; 3];
        for l in 0..LANES {
            let [u0, u1, u2, u3, u4, u5] = [u[0][l], u[1][l], u[2][l], u[3][l], u[4][l], u[5][l]];
            o[0][l] = u0 / 4.0 - u1 / 6.0 - u2 / 6.0 + u3 / 24.0 + u4 / 24.0;
            o[1][l] = -u1 / 6.0 + u2 / 6.0 + u3 / 12.0 - u4 / 12.0;
            o[2][l] = -u1 / 6.0 - u2 / 6.0 + u3 / 6.0 + u4 / 6.0 + u5;
        }
        o
    }
}

/// `m · x · mᵀ` for a square tile of lanes (I × I → J × J), `m` given as `m_times` (a Bᵀ or
/// one of a filtering's matrices above), `x(r, s)` the lanes at (r, s), each result handed to `store(j, q, lanes)`.
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
    if super::avx512() {
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

/// How a layer's input becomes the images of its stride-1 convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// The four phase images of a 4×4 stride-2 layer's input (4·C channels, see the top).
    Phases,
    /// The input padded by this much on every side (C channels).
    Padded(usize),
}

/// Which of the two ways computes the layer `g` to `out` channels, if one does.
fn layout(g: &Geometry, out: usize) -> Option<Layout> {
    let square = g.kernel[0] == g.kernel[1] && g.stride[0] == g.stride[1];
    let even = g.height.is_multiple_of(2) && g.width.is_multiple_of(2);
    let lanes = out.is_multiple_of(LANES) && g.channels >= 16;
    if !(square && lanes && g.padding[0] == g.padding[1]) {
        return None;
    }
    match (g.kernel[0], g.stride[0], g.padding[0]) {
        (4, 2, 1) if even && g.height >= 4 && g.width >= 4 && g.channels.is_multiple_of(4) => {
            Some(Layout::Phases)
        }
        (3, 1, p)
            if p <= 2 && g.channels.is_multiple_of(LANES) && g.height.min(g.width) + 2 * p >= 3 =>
        {
            Some(Layout::Padded(p))
        }
        _ => None,
    }
}

/// Whether the layer `g` to `out` channels goes through this file: kernel 4, stride 2,
/// padding 1 and an even input (through its phases), or kernel 3, stride 1 and padding up to 2;
/// output channels by sixteens and input channels by fours (phases) or sixteens (the lanes), at
/// least 16 of them for the transforms to pay.
pub fn applies(g: &Geometry, out: usize) -> bool {
    layout(g, out).is_some()
}

/// A batch of images laid out for the tiles: each image `[rows][cols][channels]` (channels
/// innermost, so that a tile's values for 16 channels are one load), `rows = tile·tiles_h + n −
/// tile` for output tiles of `tile × tile` (n × n input tiles, overlapping).
#[derive(Debug, Clone, Copy)]
struct Tiling {
    tiles_h: usize,
    tiles_w: usize,
    channels: usize,
    tile: usize,
    /// The input tiles' side, M + R − 1.
    n: usize,
}

impl Tiling {
    /// The tiling whose tiles of `tile × tile`, from input tiles of `n × n`, cover an output of
    /// `out_h × out_w`.
    fn covering(out_h: usize, out_w: usize, channels: usize, (tile, n): (usize, usize)) -> Self {
        Self {
            tiles_h: out_h.div_ceil(tile),
            tiles_w: out_w.div_ceil(tile),
            channels,
            tile,
            n,
        }
    }

    fn rows(&self) -> usize {
        self.tile * self.tiles_h + self.n - self.tile
    }

    fn cols(&self) -> usize {
        self.tile * self.tiles_w + self.n - self.tile
    }

    /// Points of a transformed tile.
    fn points(&self) -> usize {
        self.n * self.n
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

/// `v[p][n][k]`: the transformed N×N input tiles `Bᵀ d B` of `images` images laid out by
/// `tiling`, tile n in [`Tiling::each_tile`]'s order.
#[inline(always)]
fn transform_inputs<F: Minimal<N, M, R>, const N: usize, const M: usize, const R: usize>(
    tiling: &Tiling,
    images: usize,
    laid_out: &[f32],
    v: &mut [f32],
) {
    let (k_n, tiles, tile) = (tiling.channels, images * tiling.tiles(), tiling.tile);
    let (row, col) = (tiling.cols() * k_n, k_n);
    let point = plane(tiles * k_n);
    for (n, (i, a, b)) in tiling.each_tile(images).enumerate() {
        for k in (0..k_n).step_by(LANES) {
            let corner = tiling.at(i, tile * a, tile * b, k);
            transform(
                F::bt,
                |r, s| lanes(laid_out, corner + r * row + s * col),
                |p1, p2, lanes| {
                    v[(p1 * N + p2) * point + n * k_n + k..][..LANES].copy_from_slice(lanes);
                },
            );
        }
    }
}

/// The transformed kernels `u[k][p][o] = (G g Gᵀ)[p]` of the R×R kernels `kernel(k, o)`, for
/// `k_n` input and `o_n` output channels, each thread a share of the k. The kernels' taps are
/// first copied out with the output channels side by side, so that the transform loads 16 of
/// them at once (filling the lanes one value at a time, then loading them, stalled on every load:
/// 5% of a `gan_train` step, on one thread).
fn transform_kernels<F: Minimal<N, M, R>, const N: usize, const M: usize, const R: usize>(
    k_n: usize,
    o_n: usize,
    kernel: impl Fn(usize, usize) -> [[f32; R]; R] + Sync,
) -> Vec<f32> {
    let mut u = vec![0.0; k_n * N * N * o_n];
    u.par_chunks_mut(N * N * o_n).enumerate().for_each_init(
        || vec![0.0; R * R * o_n],
        |taps, (k, u)| {
            for o in 0..o_n {
                for (r, row) in kernel(k, o).iter().enumerate() {
                    for (s, value) in row.iter().enumerate() {
                        taps[(r * R + s) * o_n + o] = *value;
                    }
                }
            }
            wide(
                #[inline(always)]
                || {
                    for o in (0..o_n).step_by(LANES) {
                        transform(
                            F::g,
                            |r, s| lanes(taps, (r * R + s) * o_n + o),
                            |p1, p2, lanes| {
                                u[(p1 * N + p2) * o_n + o..][..LANES].copy_from_slice(lanes);
                            },
                        );
                    }
                },
            )
        },
    );
    u
}

/// For each point p, `m[p] = v[p] · u[·][p]`: `[tiles, o_n]` from `[tiles, k_n]` and `[k_n, o_n]`.
fn multiply_points(
    v: &[f32],
    u: &[f32],
    m: &mut [f32],
    (points, tiles, k_n, o_n): (usize, usize, usize, usize),
) {
    for p in 0..points {
        matmul(
            (tiles, o_n, k_n),
            Strided::new(&mut m[p * plane(tiles * o_n)..][..tiles * o_n], (o_n, 1)),
            false,
            (&v[p * plane(tiles * k_n)..][..tiles * k_n], (k_n, 1)),
            (&u[p * o_n..], (points * o_n, 1)),
        );
    }
}

/// The output tiles `Aᵀ m A` of `images` images: `write((image, tile row, tile column), first
/// channel, tile)` for every tile and block of 16 channels (tiles may reach past the output's
/// edge: the caller skips those pixels).
#[inline(always)]
fn transform_outputs<F: Minimal<N, M, R>, const N: usize, const M: usize, const R: usize>(
    tiling: &Tiling,
    images: usize,
    o_n: usize,
    m: &[f32],
    mut write: impl FnMut((usize, usize, usize), usize, &[[Lanes; M]; M]),
) {
    let tiles = images * tiling.tiles();
    let point = plane(tiles * o_n);
    let mut y = [[[0.0; LANES]; M]; M];
    for (n, tile) in tiling.each_tile(images).enumerate() {
        for o in (0..o_n).step_by(LANES) {
            let first = n * o_n + o;
            transform(
                F::at,
                |p1, p2| lanes(m, (p1 * N + p2) * point + first),
                |r, s, lanes| y[r][s] = *lanes,
            );
            write(tile, o, &y);
        }
    }
}

/// `m[p][n][o] = (A dy Aᵀ)[p]` for each M×M tile n of the output gradient `dy` (`[images,
/// out, oh, ow]`), zero beyond its edge.
#[inline(always)]
fn transform_output_grads<F: Minimal<N, M, R>, const N: usize, const M: usize, const R: usize>(
    tiling: &Tiling,
    dy: &[f32],
    (images, out, oh, ow): (usize, usize, usize, usize),
    m: &mut [f32],
) {
    let tiles = images * tiling.tiles();
    for (n, (i, a, b)) in tiling.each_tile(images).enumerate() {
        let (rows, cols) = ((oh - M * a).min(M), (ow - M * b).min(M));
        for o in (0..out).step_by(LANES) {
            let mut d = [[[0.0; LANES]; M]; M];
            for (l, plane) in dy[(i * out + o) * oh * ow..]
                .chunks(oh * ow)
                .take(LANES)
                .enumerate()
            {
                for r in 0..rows {
                    let row = &plane[(M * a + r) * ow + M * b..][..cols];
                    for (s, value) in row.iter().enumerate() {
                        d[r][s][l] = *value;
                    }
                }
            }
            transform(
                F::a,
                |r, s| &d[r][s],
                |p1, p2, lanes| {
                    let at = (p1 * N + p2) * plane(tiles * out) + n * out + o;
                    m[at..][..LANES].copy_from_slice(lanes);
                },
            );
        }
    }
}

/// The R×R kernels' gradient from that of the transformed kernels `du[p][k][o]`: `Gᵀ dU G`,
/// as taps `[k][u][v][o]` (16 output channels per store).
#[inline(always)]
fn kernels_from_points<F: Minimal<N, M, R>, const N: usize, const M: usize, const R: usize>(
    du: &[f32],
    (k_n, out): (usize, usize),
) -> Vec<f32> {
    let mut taps = vec![0.0; k_n * R * R * out];
    for k in 0..k_n {
        for o in (0..out).step_by(LANES) {
            let first = k * out + o;
            transform(
                F::gt,
                |p1, p2| lanes(du, (p1 * N + p2) * plane(k_n * out) + first),
                |u, v, lanes| {
                    taps[((k * R + u) * R + v) * out + o..][..LANES].copy_from_slice(lanes);
                },
            );
        }
    }
    taps
}

/// Images per group (one matrix product per point), at most `share`.
fn group_images(tiling: &Tiling, share: usize) -> usize {
    let groups = (share * tiling.tiles()).div_ceil(MAX_TILES).max(1);
    share.div_ceil(groups).max(1)
}

/// Tiles per panel of the `gemm` crate's products on these shapes (its AVX-512 micro-kernel
/// covers 6 columns, here tiles, at a time).
const PANEL: usize = 6;

/// Images per group for the outputs (forward pass, input gradient): [`group_images`], or one
/// or two images more or fewer if that makes the group's tiles whole panels of [`PANEL`] (at
/// most 1.5 · [`MAX_TILES`]). With 4 tiles an image, 8 images made 5 panels and a last one of 2
/// tiles that cost half a panel; 9 make 6 whole ones. Measured on the GAN's 64 → 128 layer (batch
/// 64, 2 threads, three rounds): forward 1.57–1.60 → 1.49–1.52 ms, input gradient 1.49–1.52 →
/// 1.42–1.48. Each output's sums are the same (its product over the channels does not depend on
/// the other tiles), so the values are too, to the bit; the weight gradient, which sums over the
/// tiles of a group, keeps [`group_images`] and its rounding.
fn output_group_images(tiling: &Tiling, share: usize) -> usize {
    let base = group_images(tiling, share);
    let tiles = tiling.tiles();
    let whole = |n: usize| {
        (1..=share).contains(&n)
            && (n * tiles).is_multiple_of(PANEL)
            && n * tiles <= MAX_TILES * 3 / 2
    };
    (0..=2)
        .flat_map(|d| [base + d, base.saturating_sub(d)])
        .find(|&n| whole(n))
        .unwrap_or(base)
}

/// The 2×2 phase kernel `W'[o, (c,α,β)]` of the 4×4 kernel W `[out, channels, 4, 4]`.
fn phase_kernel(weight: &[f32], channels: usize, o: usize, k: usize) -> [[f32; 2]; 2] {
    let (c, alpha, beta) = (k / 4, (k / 2) % 2, k % 2);
    let w = &weight[(o * channels + c) * 16..][..16];
    std::array::from_fn(|u| std::array::from_fn(|v| w[(2 * u + 1 - alpha) * 4 + 2 * v + 1 - beta]))
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

/// `D[t][s][c] = x[c, t − padding, s − padding]` (x `[channels, h, w]`, zero outside) into image
/// `i` of `laid_out`.
#[inline(always)]
fn lay_out_padded(
    tiling: &Tiling,
    x: &[f32],
    (h_n, w_n, padding): (usize, usize, usize),
    i: usize,
    laid_out: &mut [f32],
) {
    for t in 0..tiling.rows() {
        for s in 0..tiling.cols() {
            let pixel = &mut laid_out[tiling.at(i, t, s, 0)..][..tiling.channels];
            let (h, w) = (t.wrapping_sub(padding), s.wrapping_sub(padding));
            if h < h_n && w < w_n {
                let from = x[h * w_n + w..].iter().step_by(h_n * w_n);
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
        grow(
            &mut scratch.v,
            tiling.points() * plane(tiles * tiling.channels),
        );
        grow(&mut scratch.m, tiling.points() * plane(tiles * o_n));
        f(scratch)
    })
}

/// One layer seen as a stride-1 R×R convolution computed by F(M×M, R×R): from `[channels, h, w]`
/// images (`g`) laid out by `layout` to `out` channels; what the forward pass and the weight
/// gradient share, one group of images at a time.
struct Convolution<'g, F, const N: usize, const M: usize, const R: usize> {
    g: &'g Geometry,
    layout: Layout,
    out: usize,
    /// The layer's output height and width.
    size: [usize; 2],
    tiling: Tiling,
    /// Values per input image and per output image.
    image: usize,
    plane: usize,
    /// Images per thread, and per group within a thread: for the weight gradient, and for the
    /// outputs (see [`output_group_images`]).
    share: usize,
    group: usize,
    output_group: usize,
    filter: std::marker::PhantomData<fn() -> F>,
}

impl<'g, F: Minimal<N, M, R>, const N: usize, const M: usize, const R: usize>
    Convolution<'g, F, N, M, R>
{
    fn new(g: &'g Geometry, batch: usize, out: usize, layout: Layout) -> Self {
        const { assert!(N == M + R - 1, "F(M×M, R×R) takes N = M + R − 1 points") };
        let size = [g.out_height(), g.out_width()];
        let channels = match layout {
            Layout::Phases => 4 * g.channels,
            Layout::Padded(_) => g.channels,
        };
        let tiling = Tiling::covering(size[0], size[1], channels, (M, N));
        let share = share_of(batch);
        Self {
            g,
            layout,
            out,
            size,
            tiling,
            image: g.channels * g.in_pixels(),
            plane: out * g.out_pixels(),
            share,
            group: group_images(&tiling, share),
            output_group: output_group_images(&tiling, share),
            filter: std::marker::PhantomData,
        }
    }

    /// The group's images `x` laid out and transformed into `scratch.v`; returns how many
    /// images there are.
    #[inline(always)]
    fn transform_inputs(&self, x: &[f32], scratch: &mut Scratch) -> usize {
        let images = x.len() / self.image;
        for (i, x) in x.chunks(self.image).enumerate() {
            match self.layout {
                Layout::Phases => lay_out_phases(self.g, &self.tiling, x, i, &mut scratch.laid_out),
                Layout::Padded(padding) => {
                    let shape = (self.g.height, self.g.width, padding);
                    lay_out_padded(&self.tiling, x, shape, i, &mut scratch.laid_out)
                }
            }
        }
        transform_inputs::<F, N, M, R>(&self.tiling, images, &scratch.laid_out, &mut scratch.v);
        images
    }

    /// The group's output tiles from its transformed inputs and the transformed kernels `u`, each
    /// handed to `write` (see [`transform_outputs`]).
    #[inline(always)]
    fn products(
        &self,
        images: usize,
        u: &[f32],
        scratch: &mut Scratch,
        write: impl FnMut((usize, usize, usize), usize, &[[Lanes; M]; M]),
    ) {
        let tiles = images * self.tiling.tiles();
        let shape = (N * N, tiles, self.tiling.channels, self.out);
        multiply_points(&scratch.v, u, &mut scratch.m, shape);
        transform_outputs::<F, N, M, R>(&self.tiling, images, self.out, &scratch.m, write);
    }

    /// The group's output `y` (`[images, out, oh, ow]`) from its transformed inputs and the
    /// transformed kernels `u`.
    #[inline(always)]
    fn forward(&self, images: usize, u: &[f32], scratch: &mut Scratch, y: &mut [MaybeUninit<f32>]) {
        let (out, [oh, ow]) = (self.out, self.size);
        self.products(images, u, scratch, |(i, a, b), o, tile| {
            let (rows, cols) = ((oh - M * a).min(M), (ow - M * b).min(M));
            let planes = y[(i * out + o) * oh * ow..].chunks_mut(oh * ow);
            for (l, plane) in planes.take(LANES).enumerate() {
                for (r, tile_row) in tile.iter().take(rows).enumerate() {
                    let row = &mut plane[(M * a + r) * ow + M * b..][..cols];
                    for (value, lanes) in row.iter_mut().zip(tile_row) {
                        value.write(lanes[l]);
                    }
                }
            }
        });
    }

    /// `scratch.du (+)= Σ_tiles v[p]ᵀ · (A dy Aᵀ)[p]` for the group's output gradient `dy`
    /// (`[images, out, oh, ow]`); the first group overwrites.
    #[inline(always)]
    fn add_weight_grad(&self, images: usize, dy: &[f32], first: bool, scratch: &mut Scratch) {
        let (out, k_n, [oh, ow]) = (self.out, self.tiling.channels, self.size);
        let tiles = images * self.tiling.tiles();
        let shape = (images, out, oh, ow);
        transform_output_grads::<F, N, M, R>(&self.tiling, dy, shape, &mut scratch.m);
        if scratch.du.len() < N * N * plane(k_n * out) {
            scratch.du.resize(N * N * plane(k_n * out), 0.0);
        }
        for p in 0..N * N {
            matmul(
                (k_n, out, tiles),
                Strided::new(
                    &mut scratch.du[p * plane(k_n * out)..][..k_n * out],
                    (out, 1),
                ),
                !first,
                (
                    &scratch.v[p * plane(tiles * k_n)..][..tiles * k_n],
                    (1, k_n),
                ),
                (
                    &scratch.m[p * plane(tiles * out)..][..tiles * out],
                    (out, 1),
                ),
            );
        }
    }

    /// The transformed kernels of the R×R kernels `kernel(k, o)`.
    fn transformed_kernels(
        &self,
        kernel: impl Fn(usize, usize) -> [[f32; R]; R] + Sync,
    ) -> Vec<f32> {
        transform_kernels::<F, N, M, R>(self.tiling.channels, self.out, kernel)
    }

    /// The layer's weight gradient `[out, channels, k, k]` from `du`, the transformed one.
    #[inline(always)]
    fn weight_grad(&self, du: &[f32]) -> Vec<f32> {
        let (channels, out) = (self.g.channels, self.out);
        let area = self.g.kernel[0] * self.g.kernel[1];
        let mut dw = vec![0.0; out * channels * area];
        let taps = kernels_from_points::<F, N, M, R>(du, (self.tiling.channels, out));
        let tap = |k: usize, u: usize, v: usize, o: usize| ((k * R + u) * R + v) * out + o;
        match self.layout {
            // Each tap back where `phase_kernel` took it, a whole 4×4 kernel (one cache line) per
            // store: 16 output channels' kernels are 4 KB apart when there are 64 input channels,
            // and storing the 16 lanes of a tap straight to them, all in one set of the L1 cache,
            // was a quarter of the weight gradient of `gan_train`'s widest layer.
            Layout::Phases => {
                for o in (0..out).step_by(LANES) {
                    for c in 0..channels {
                        let mut kernels = [[0.0; 16]; LANES];
                        for (phase, (alpha, beta)) in
                            [(0, 0), (0, 1), (1, 0), (1, 1)].iter().enumerate()
                        {
                            for u in 0..R {
                                for v in 0..R {
                                    let at = (2 * u + 1 - alpha) * 4 + 2 * v + 1 - beta;
                                    let values = lanes(&taps, tap(4 * c + phase, u, v, o));
                                    for (kernel, value) in kernels.iter_mut().zip(values) {
                                        kernel[at] = *value;
                                    }
                                }
                            }
                        }
                        for (l, kernel) in kernels.iter().enumerate() {
                            dw[((o + l) * channels + c) * 16..][..16].copy_from_slice(kernel);
                        }
                    }
                }
            }
            Layout::Padded(_) => {
                for o in 0..out {
                    for c in 0..channels {
                        for u in 0..R {
                            for v in 0..R {
                                dw[(o * channels + c) * area + u * R + v] = taps[tap(c, u, v, o)];
                            }
                        }
                    }
                }
            }
        }
        dw
    }

    /// `f(scratch)` compiled wide, with this thread's scratch for this convolution's groups.
    #[inline(always)]
    fn on_scratch<T>(&self, group: usize, f: impl FnOnce(&mut Scratch) -> T) -> T {
        with_scratch(&self.tiling, group, self.out, |scratch| {
            wide(
                #[inline(always)]
                || f(scratch),
            )
        })
    }

    /// The layer's output `[batch, out, oh, ow]` from x `[batch, channels, h, w]`, for the
    /// kernels `u` ([`Self::transformed_kernels`]).
    fn output(&self, batch: usize, x: &[f32], u: &[f32]) -> Vec<f32> {
        self.outputs(
            batch,
            x,
            self.plane,
            #[inline(always)]
            |images, scratch, y| self.forward(images, u, scratch, y),
        )
    }

    /// `[batch, out_image]` values from x `[batch, channels, h, w]`: each thread lays out and
    /// transforms its share of the images a group at a time, then `write_group(images, scratch,
    /// values)` must write every value of the group's (`#[inline(always)]`, to be compiled wide).
    fn outputs(
        &self,
        batch: usize,
        x: &[f32],
        out_image: usize,
        write_group: impl Fn(usize, &mut Scratch, &mut [MaybeUninit<f32>]) + Sync,
    ) -> Vec<f32> {
        let (image, group) = (self.image, self.output_group);
        let mut y = Vec::with_capacity(batch * out_image);
        y.spare_capacity_mut()[..batch * out_image]
            .par_chunks_mut(self.share * out_image)
            .zip(x.par_chunks(self.share * image))
            .for_each(|(y, x)| {
                self.on_scratch(
                    group,
                    #[inline(always)]
                    |scratch| {
                        let groups = y.chunks_mut(group * out_image).zip(x.chunks(group * image));
                        for (y, x) in groups {
                            let images = self.transform_inputs(x, scratch);
                            write_group(images, scratch, y);
                        }
                    },
                )
            });
        // SAFETY: `write_group` wrote every value of every group.
        unsafe { y.set_len(batch * out_image) };
        y
    }

    /// The layer's weight gradient for x and dy, and with `u` its output as well: both read the
    /// same transformed inputs.
    fn weight_grad_and_output(
        &self,
        batch: usize,
        (x, dy): (&[f32], &[f32]),
        u: Option<&[f32]>,
    ) -> (Vec<f32>, Option<Vec<f32>>) {
        let (image, plane, group) = (self.image, self.plane, self.group);
        let mut y = Vec::with_capacity(if u.is_some() { batch * plane } else { 0 });
        let outputs: Vec<Option<&mut [MaybeUninit<f32>]>> = match u {
            Some(_) => y.spare_capacity_mut()[..batch * plane]
                .chunks_mut(self.share * plane)
                .map(Some)
                .collect(),
            None => (0..batch.div_ceil(self.share)).map(|_| None).collect(),
        };
        let partial: Vec<Vec<f32>> = outputs
            .into_par_iter()
            .zip(x.par_chunks(self.share * image))
            .zip(dy.par_chunks(self.share * plane))
            .map(|((mut y, x), dy)| {
                self.on_scratch(
                    group,
                    #[inline(always)]
                    |scratch| {
                        let groups = x.chunks(group * image).zip(dy.chunks(group * plane));
                        for (n, (x, dy)) in groups.enumerate() {
                            let images = self.transform_inputs(x, scratch);
                            if let (Some(u), Some(y)) = (u, y.as_deref_mut()) {
                                let y = &mut y[n * group * plane..][..images * plane];
                                self.forward(images, u, scratch, y);
                            }
                            self.add_weight_grad(images, dy, n == 0, scratch);
                        }
                        self.weight_grad(&scratch.du)
                    },
                )
            })
            .collect();
        let dw = sum(
            partial,
            self.out * self.g.channels * self.g.kernel[0] * self.g.kernel[1],
        );
        if u.is_none() {
            return (dw, None);
        }
        // SAFETY: every output pixel lies in one tile, written above.
        unsafe { y.set_len(batch * plane) };
        (dw, Some(y))
    }
}

/// The 3×3 kernel `W[o, c]` of W `[out, channels, 3, 3]`.
fn kernel3(weight: &[f32], channels: usize, o: usize, c: usize) -> [[f32; 3]; 3] {
    let w = &weight[(o * channels + c) * 9..][..9];
    std::array::from_fn(|u| std::array::from_fn(|v| w[u * 3 + v]))
}

/// Whether the 3×3 stride-1 layer `g` goes through F(4×4, 3×3): where its 4×4 tiles need at most
/// three quarters of the products of F(3×3, 3×3)'s 3×3 tiles (36 per tile against 25). Its 6×6
/// transforms cost more per point, and measured alone (batch 64, 2 threads) it ran faster where
/// it saves a third (7×7 outputs, 144 products per channel pair against 225: forward 6–14%,
/// weight gradient 22% faster; 28×28, 1,764 against 2,500: 10% and 15%), not where it saves less
/// (11×11, 324 against 400: forward as fast, weight gradient 10% faster; 14×14, 576 against 625:
/// 3–17% slower).
fn by_fours(g: &Geometry) -> bool {
    let (oh, ow) = (g.out_height(), g.out_width());
    4 * (oh.div_ceil(4) * ow.div_ceil(4) * 36) <= 3 * (oh.div_ceil(3) * ow.div_ceil(3) * 25)
}

/// `$body` with `$conv` the [`Convolution`] type of the 3×3 stride-1 layer `$g`'s filtering.
macro_rules! three_by_three {
    ($g:expr, |$conv:ident| $body:expr) => {
        if by_fours($g) {
            type $conv<'g> = Convolution<'g, F4x3, 6, 4, 3>;
            $body
        } else {
            type $conv<'g> = Convolution<'g, F3x3, 5, 3, 3>;
            $body
        }
    };
}

/// `y = conv(x, W)`: x `[batch, channels, h, w]`, W `[out, channels, k, k]` → `[batch, out, oh,
/// ow]`, for a layer that [`applies`].
pub fn forward(g: &Geometry, batch: usize, x: &[f32], weight: &[f32], out: usize) -> Vec<f32> {
    let channels = g.channels;
    match layout(g, out).expect("a layer this file computes") {
        Layout::Phases => {
            let conv = Convolution::<F4x2, 5, 4, 2>::new(g, batch, out, Layout::Phases);
            let u = conv.transformed_kernels(|k, o| phase_kernel(weight, channels, o, k));
            conv.output(batch, x, &u)
        }
        padded => three_by_three!(g, |C| {
            let conv = C::new(g, batch, out, padded);
            let u = conv.transformed_kernels(|c, o| kernel3(weight, channels, o, c));
            conv.output(batch, x, &u)
        }),
    }
}

/// The weight gradient `[out, channels, k, k]` of a layer that [`applies`]: for each point p,
/// `dU[p] = Σ_tiles (Bᵀ d B)[p]ᵀ · (A dy Aᵀ)[p]`, then `Gᵀ dU G` read back into the kernels.
pub fn weight_grad(g: &Geometry, batch: usize, x: &[f32], dy: &[f32], out: usize) -> Vec<f32> {
    match layout(g, out).expect("a layer this file computes") {
        Layout::Phases => {
            Convolution::<F4x2, 5, 4, 2>::new(g, batch, out, Layout::Phases)
                .weight_grad_and_output(batch, (x, dy), None)
                .0
        }
        padded => three_by_three!(g, |C| {
            C::new(g, batch, out, padded)
                .weight_grad_and_output(batch, (x, dy), None)
                .0
        }),
    }
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
    let channels = g.channels;
    let (dw, y) = match layout(g, out).expect("a layer this file computes") {
        Layout::Phases => {
            let conv = Convolution::<F4x2, 5, 4, 2>::new(g, batch, out, Layout::Phases);
            let u = conv.transformed_kernels(|k, o| phase_kernel(weight, channels, o, k));
            conv.weight_grad_and_output(batch, (x, dy), Some(&u))
        }
        padded => three_by_three!(g, |C| {
            let conv = C::new(g, batch, out, padded);
            let u = conv.transformed_kernels(|c, o| kernel3(weight, channels, o, c));
            conv.weight_grad_and_output(batch, (x, dy), Some(&u))
        }),
    };
    (y.expect("asked for"), dw)
}

/// The input gradient `[batch, channels, h, w]` from dy `[batch, out, oh, ow]` of a layer that
/// [`applies`]. A 3×3 layer's is the forward pass of its mirror: dy padded by 2 − p through the
/// flipped, transposed kernels. A 4×4 stride-2 layer's comes through the phase images'
/// gradients `dQ[k][t, s] = Σ_{o,u,v} W'[o, k, 1 − u, 1 − v] · D[o][t + u, s + v]`, where
/// `D[t, s] = dy[t − 1, s − 1]` (dy padded by one), each pixel of dx one of theirs.
pub fn input_grad(g: &Geometry, batch: usize, dy: &[f32], weight: &[f32], out: usize) -> Vec<f32> {
    let (oh, ow) = (g.out_height(), g.out_width());
    let channels = g.channels;
    if let Some(Layout::Padded(p)) = layout(g, out) {
        let mirror = Geometry {
            channels: out,
            height: oh,
            width: ow,
            kernel: [3, 3],
            stride: [1, 1],
            padding: [2 - p, 2 - p],
        };
        return three_by_three!(&mirror, |C| {
            let conv = C::new(&mirror, batch, channels, Layout::Padded(2 - p));
            let u = conv.transformed_kernels(|o, c| {
                let w = kernel3(weight, channels, o, c);
                std::array::from_fn(|u| std::array::from_fn(|v| w[2 - u][2 - v]))
            });
            conv.output(batch, dy, &u)
        });
    }
    let (h_n, w_n) = (g.height, g.width);
    let k_n = 4 * channels;
    // dy padded by one through a 2×2 kernel: the (oh + 1) × (ow + 1) phase images
    let padded = Geometry {
        channels: out,
        height: oh,
        width: ow,
        kernel: [2, 2],
        stride: [1, 1],
        padding: [1, 1],
    };
    let conv = Convolution::<F4x2, 5, 4, 2>::new(&padded, batch, k_n, Layout::Padded(1));
    let u = conv.transformed_kernels(|o, k| {
        let [[w00, w01], [w10, w11]] = phase_kernel(weight, channels, o, k);
        [[w11, w10], [w01, w00]]
    });
    // every pixel of dx is one pixel of one phase image
    conv.outputs(
        batch,
        dy,
        channels * g.in_pixels(),
        #[inline(always)]
        |images, scratch, dx| {
            // lanes k.. are channels k/4.. in their four phases (α, β): the tile's pixel (t, s)
            // of phase (α, β) is dx's (2t − α, 2s − β)
            conv.products(images, &u, scratch, |(i, a, b), k, tile| {
                for c in 0..LANES / 4 {
                    let channel = (i * channels + k / 4 + c) * h_n * w_n;
                    for (r, tile_row) in tile.iter().enumerate() {
                        for alpha in 0..2 {
                            let h = (2 * (4 * a + r)).wrapping_sub(alpha);
                            if h >= h_n {
                                continue;
                            }
                            // a row of dx: (s, β) = (0, 1), (0, 0), (1, 1), …
                            let row = &mut dx[channel + h * w_n..][..w_n];
                            for (s, lanes) in tile_row.iter().enumerate() {
                                for beta in 0..2 {
                                    let w = (2 * (4 * b + s)).wrapping_sub(beta);
                                    if w < w_n {
                                        row[w].write(lanes[4 * c + 2 * alpha + beta]);
                                    }
                                }
                            }
                        }
                    }
                }
            })
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::conv::products;
    use crate::kernels::testing::{assert_slices_close as assert_close, varied};

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

    // F(3×3, 3×3) for the same points: the same Bᵀ.
    const G3: [[f32; 3]; 5] = [
        [0.5, 0.0, 0.0],
        [-0.5, -0.5, -0.5],
        [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
        [1.0 / 6.0, 1.0 / 3.0, 2.0 / 3.0],
        [0.0, 0.0, 1.0],
    ];
    const AT3: [[f32; 5]; 3] = [
        [1.0, 1.0, 1.0, 1.0, 0.0],
        [0.0, 1.0, -1.0, 2.0, 0.0],
        [0.0, 1.0, 1.0, 4.0, 1.0],
    ];

    // F(4×4, 3×3) on the points 0, 1, −1, 2, −2 and ∞ (Lavin and Gray's).
    const BT6: [[f32; 6]; 6] = [
        [4.0, 0.0, -5.0, 0.0, 1.0, 0.0],
        [0.0, -4.0, -4.0, 1.0, 1.0, 0.0],
        [0.0, 4.0, -4.0, -1.0, 1.0, 0.0],
        [0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
        [0.0, 2.0, -1.0, -2.0, 1.0, 0.0],
        [0.0, 4.0, 0.0, -5.0, 0.0, 1.0],
    ];
    const G43: [[f32; 3]; 6] = [
        [0.25, 0.0, 0.0],
        [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
        [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
        [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
        [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
        [0.0, 0.0, 1.0],
    ];
    const AT43: [[f32; 6]; 4] = [
        [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
        [0.0, 1.0, -1.0, 2.0, -2.0, 0.0],
        [0.0, 1.0, 1.0, 4.0, 4.0, 0.0],
        [0.0, 1.0, -1.0, 8.0, -8.0, 1.0],
    ];

    fn transposed<const I: usize, const J: usize>(m: &[[f32; I]; J]) -> [[f32; J]; I] {
        std::array::from_fn(|i| std::array::from_fn(|j| m[j][i]))
    }

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
        columns(bt5, &BT);
        columns(F4x2::g, &G);
        columns(F4x2::gt, &GT);
        columns(F4x2::at, &AT);
        columns(F4x2::a, &A);
        columns(F3x3::g, &G3);
        columns(F3x3::gt, &transposed(&G3));
        columns(F3x3::at, &AT3);
        columns(F3x3::a, &transposed(&AT3));
        columns(F4x3::bt, &BT6);
        columns(F4x3::g, &G43);
        columns(F4x3::gt, &transposed(&G43));
        columns(F4x3::at, &AT43);
        columns(F4x3::a, &transposed(&AT43));
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
        let g3 = [1.5f32, -0.8, 0.6];
        for (i, row) in AT3.iter().enumerate() {
            let winograd: f32 = (0..5)
                .map(|p| {
                    let gp: f32 = (0..3).map(|k| G3[p][k] * g3[k]).sum();
                    let dp: f32 = (0..5).map(|r| BT[p][r] * d[r]).sum();
                    row[p] * gp * dp
                })
                .sum();
            let direct: f32 = (0..3).map(|k| d[i + k] * g3[k]).sum();
            assert!((winograd - direct).abs() < 1e-5);
        }
        let d6 = [0.3f32, -1.2, 0.7, 2.0, -0.4, 1.1];
        for (i, row) in AT43.iter().enumerate() {
            let winograd: f32 = (0..6)
                .map(|p| {
                    let gp: f32 = (0..3).map(|k| G43[p][k] * g3[k]).sum();
                    let dp: f32 = (0..6).map(|r| BT6[p][r] * d6[r]).sum();
                    row[p] * gp * dp
                })
                .sum();
            let direct: f32 = (0..3).map(|k| d6[i + k] * g3[k]).sum();
            assert!((winograd - direct).abs() < 1e-5, "F(4, 3) output {i}");
        }
    }

    /// The three products against the im2col ones (tested against burn's in `tests.rs`) on the
    /// labs' widest layers and on uneven shapes (outputs that end inside a tile).
    #[test]
    fn winograd_matches_the_direct_products() {
        // (batch, channels, out, [h, w], kernel, padding); kernel 4 has stride 2, kernel 3 stride 1
        let (mut filterings, mut mirror_filterings) = ([0; 2], [0; 2]);
        for (batch, channels, out, [height, width], k, p) in [
            (3, 64, 128, [14, 14], 4, 1),
            (2, 32, 64, [28, 28], 4, 1),
            (5, 16, 16, [10, 10], 4, 1),
            (1, 20, 32, [6, 12], 4, 1),
            (2, 16, 16, [4, 4], 4, 1),
            // F(3×3, 3×3): outputs 11×11, 5×8, 14×14, 6×7, 9×9, 6×6, 3×5
            (3, 32, 64, [13, 13], 3, 0),
            (2, 16, 32, [5, 8], 3, 1),
            (1, 32, 16, [14, 14], 3, 1),
            (2, 16, 16, [4, 5], 3, 2),
            (2, 16, 32, [9, 9], 3, 1),
            (3, 32, 16, [8, 8], 3, 0),
            (2, 16, 16, [3, 5], 3, 1),
            // F(4×4, 3×3): outputs 7×7, 8×4, 16×16, 8×8 (padding 2), 28×28
            (2, 64, 64, [7, 7], 3, 1),
            (1, 16, 32, [8, 4], 3, 1),
            (2, 32, 16, [16, 16], 3, 1),
            (1, 16, 16, [6, 6], 3, 2),
            (1, 32, 16, [28, 28], 3, 1),
        ] {
            let g = Geometry {
                channels,
                height,
                width,
                kernel: [k, k],
                stride: [k - 2, k - 2],
                padding: [p, p],
            };
            assert!(applies(&g, out));
            if k == 3 {
                filterings[usize::from(by_fours(&g))] += 1;
                // the input gradient is the forward pass of the mirror (see `input_grad`),
                // whose output is the layer's input: its filtering is chosen by that size
                let mirror = Geometry {
                    channels: out,
                    height: g.out_height(),
                    width: g.out_width(),
                    kernel: [3, 3],
                    stride: [1, 1],
                    padding: [2 - p, 2 - p],
                };
                assert_eq!([mirror.out_height(), mirror.out_width()], [height, width]);
                mirror_filterings[usize::from(by_fours(&mirror))] += 1;
            }
            let x = varied(batch * channels * height * width, 1);
            let weight = varied(out * channels * k * k, 2);
            let dy = varied(batch * out * g.out_pixels(), 3);
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
            assert_close(
                &y,
                &forward(&g, batch, &x, &weight, out),
                "forward, with dw",
            );
            assert_close(&dw, &direct_weight_grad, "weight grad, with y");
        }
        assert_eq!(
            filterings,
            [7, 5],
            "3×3 layers through F(3×3, 3×3) and F(4×4, 3×3)"
        );
        assert_eq!(
            mirror_filterings,
            [6, 6],
            "3×3 layers whose input gradient goes through F(3×3, 3×3) and F(4×4, 3×3)"
        );
    }
}
