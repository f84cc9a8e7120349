//! Convolutions as matrix products that never write `cols` (implicit GEMM), for the strided
//! layers that Winograd's filtering does not cover (the VAE's and the autoencoder's 3×3 stride-2
//! ones).
//!
//! Each of the three products of [`super::products`] is a sum over steps t of a row of lanes
//! times scattered scalars, computed one tile of 16·M lanes by R columns at a time:
//! `acc[lane, r] = Σ_t A[t, lane] · B[r_off[r] + t_off[t]]`, where
//! - forward:     lanes are output channels, A = Wᵀ `[c·k·k, out]`, the columns output pixels, B
//!   the zero-padded input at `pixel(r) + tap(c, i, j)`;
//! - weight grad: lanes are output channels, A = dyᵀ `[pixel, out]`, the columns taps, B the
//!   zero-padded input at `tap(c, i, j) + pixel(t)`;
//! - input grad:  lanes are input channels, the columns the input pixels of one phase (see
//!   [`input_grad`]), A the weights `[o, tap, channels]` of that phase's taps, B dy zero-padded.
//!
//! Each scalar is read where it lies and broadcast to the 16·M lanes, so the `cols` that im2col
//! writes (nine copies of every input value for a 3×3 kernel) and that `gemm` packs once more
//! never exist. Why by hand: `gemm` takes its operands as strided matrices only. Measured alone
//! (batch 64, 2 threads), on the VAE's 32 → 64 and 64 → 64 stride-2 layers: forward 20–25%,
//! weight gradient 20–25%, input gradient 4–15% faster than im2col and `gemm`.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::avx512;
use super::im2col::Geometry;
use crate::kernels::product::{share_of, sum};
use crate::kernels::rectifier::Rectifier;

const LANES: usize = 16;
/// Vectors of lanes per tile, at most.
const BLOCKS: usize = 4;
/// Columns per tile, at most.
const COLUMNS: usize = 8;

/// Columns of a tile of `blocks` vectors of lanes: 24 accumulators at most, and the rows of A,
/// within the 32 vector registers. Each column is a scalar loaded and broadcast per step, which
/// limits them: measured on the VAE's layers, 4 × 6 ran 20–25% faster than `gemm`'s products,
/// 4 × 7 and 2 × 12 slower than they; 2 × 8 ran 10% faster than 2 × 6.
fn columns(blocks: usize) -> usize {
    (24 / blocks).min(COLUMNS)
}

/// Values of padded input per group of images, at most (384 KB, within a core's L2 cache).
const GROUP_VALUES: usize = 96 << 10;

/// Rows of `cols` below which im2col and `gemm` stay.
const MIN_PATCH: usize = 64;

/// Whether the kernels here compute this layer: a strided one with output channels by sixteens
/// and a deep enough patch, on a CPU with AVX-512. A tile stores its 16·M × R values one by one
/// (the lanes of a vector are channels, a plane apart), which a patch of a few taps does not pay
/// for.
pub fn applies(g: &Geometry, out: usize) -> bool {
    g.stride != [1, 1] && out.is_multiple_of(LANES) && g.patch() >= MIN_PATCH && avx512()
}

/// Where one tile writes its lanes: `out[r_at[r] + lane·lane_stride]`, and how.
struct Store<const R: usize> {
    out: *mut f32,
    r_at: [usize; R],
    lane_stride: usize,
    write: Write,
}

/// How a tile's values reach their place.
#[derive(Debug, Clone, Copy)]
enum Write {
    /// Overwritten.
    Set,
    /// Added to what is there.
    Add,
    /// `rectify(value + bias[lane])`, the bias of the tile's first lane at the pointer: a
    /// convolution's [`super::products::Epilogue`] without a pass of its own.
    Epilogue(*const f32, Option<Rectifier>),
}

/// `acc[m·16 + l, r] = Σ_t a[t·lda + m·16 + l] · b[r_off[r] + t_off[t]]`, then stored.
///
/// # Safety
/// The CPU has AVX-512F; every index above and every store lies inside its allocation.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile<const M: usize, const R: usize>(
    (a, lda): (*const f32, usize),
    (b, r_off, t_off): (*const f32, [isize; R], &[isize]),
    store: Store<R>,
) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); R]; M];
    for (t, &at) in t_off.iter().enumerate() {
        // SAFETY (all below): the caller's contract.
        let row = unsafe { a.add(t * lda) };
        let mut rows = [_mm512_setzero_ps(); M];
        for (m, v) in rows.iter_mut().enumerate() {
            *v = unsafe { _mm512_loadu_ps(row.add(m * LANES)) };
        }
        let column = unsafe { b.offset(at) };
        for r in 0..R {
            let scalar = _mm512_set1_ps(unsafe { *column.offset(r_off[r]) });
            for m in 0..M {
                acc[m][r] = _mm512_fmadd_ps(rows[m], scalar, acc[m][r]);
            }
        }
    }
    let mut lanes = [0.0f32; LANES];
    for (m, acc) in acc.iter().enumerate() {
        for (r, v) in acc.iter().enumerate() {
            unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), *v) };
            let at = store.r_at[r] + m * LANES * store.lane_stride;
            for (l, value) in lanes.iter().enumerate() {
                let p = unsafe { store.out.add(at + l * store.lane_stride) };
                unsafe {
                    match store.write {
                        Write::Set => p.write(*value),
                        Write::Add => *p += value,
                        Write::Epilogue(bias, rectifier) => {
                            let z = value + *bias.add(m * LANES + l);
                            p.write(rectifier.map_or(z, |r| r.apply(z)));
                        }
                    }
                }
            }
        }
    }
}

/// One tile of `m` vectors of lanes (1 to [`BLOCKS`]) by `r` columns (1 to [`COLUMNS`]), the
/// first `r` entries of `r_off` and `r_at` used.
///
/// # Safety
/// As [`tile`].
unsafe fn run_tile(
    (m, r): (usize, usize),
    a: (*const f32, usize),
    (b, r_off, t_off): (*const f32, &[isize; COLUMNS], &[isize]),
    (out, r_at, lane_stride, write): (*mut f32, &[usize; COLUMNS], usize, Write),
) {
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! dispatch {
            ($m:literal; $($r:literal)*) => {
                match r {
                    $($r => {
                        let mut offsets = [0isize; $r];
                        offsets.copy_from_slice(&r_off[..$r]);
                        let mut at = [0usize; $r];
                        at.copy_from_slice(&r_at[..$r]);
                        let store = Store { out, r_at: at, lane_stride, write };
                        // SAFETY: the caller's contract.
                        unsafe { tile::<$m, $r>(a, (b, offsets, t_off), store) }
                    })*
                    _ => unreachable!("tiles have 1 to {COLUMNS} columns"),
                }
            };
        }
        match m {
            1 => dispatch!(1; 1 2 3 4 5 6 7 8),
            2 => dispatch!(2; 1 2 3 4 5 6 7 8),
            3 => dispatch!(3; 1 2 3 4 5 6 7 8),
            4 => dispatch!(4; 1 2 3 4 5 6),
            _ => unreachable!("tiles have 1 to {BLOCKS} vectors of lanes"),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (m, r, a, b, r_off, t_off, out, r_at, lane_stride, write);
        unreachable!("`applies` is false off x86-64")
    }
}

/// The input of one group of images, zero-padded, `[n, channels, h + 2p, w + 2p]`, and where
/// each kernel tap reads in it.
struct Padded<'g> {
    g: &'g Geometry,
    /// `[height, width]` with the padding.
    size: [usize; 2],
    values: Vec<f32>,
}

impl<'g> Padded<'g> {
    fn new(g: &'g Geometry, images: usize) -> Self {
        let size = [g.height + 2 * g.padding[0], g.width + 2 * g.padding[1]];
        Self {
            g,
            size,
            values: vec![0.0; images * g.channels * size[0] * size[1]],
        }
    }

    fn image(&self) -> usize {
        self.g.channels * self.size[0] * self.size[1]
    }

    /// Images per group: their padded inputs within [`GROUP_VALUES`].
    fn group(g: &Geometry) -> usize {
        let image = g.channels * (g.height + 2 * g.padding[0]) * (g.width + 2 * g.padding[1]);
        (GROUP_VALUES / image.max(1)).clamp(1, 8)
    }

    /// Copies `x` (`[n, channels, h, w]`) inside the padding, which stays zero.
    fn fill(&mut self, x: &[f32]) {
        let (g, [hp, wp]) = (self.g, self.size);
        let [ph, pw] = g.padding;
        for (plane, from) in self.values.chunks_mut(hp * wp).zip(x.chunks(g.in_pixels())) {
            for (row, from) in from.chunks(g.width).enumerate() {
                plane[(row + ph) * wp + pw..][..g.width].copy_from_slice(from);
            }
        }
    }

    /// Where tap (c, i, j) of output pixel (0, 0) of image 0 reads, for every tap in the order
    /// of the weight's rows `[channels, kh, kw]`.
    fn tap_offsets(&self) -> Vec<isize> {
        let ([kh, kw], [hp, wp]) = (self.g.kernel, self.size);
        let mut offsets = Vec::with_capacity(self.g.patch());
        for c in 0..self.g.channels {
            for i in 0..kh {
                for j in 0..kw {
                    offsets.push(((c * hp + i) * wp + j) as isize);
                }
            }
        }
        offsets
    }

    /// Where each output pixel of `images` images (image-major) reads with tap (0, 0, 0):
    /// computed once, not per tile (the divisions that find a pixel's row and column cost a
    /// tenth of a tile's time).
    fn pixel_offsets(&self, images: usize) -> Vec<isize> {
        let (g, wp) = (self.g, self.size[1]);
        let mut offsets = Vec::with_capacity(images * g.out_pixels());
        for n in 0..images {
            for h in 0..g.out_height() {
                for w in 0..g.out_width() {
                    offsets
                        .push((n * self.image() + h * g.stride[0] * wp + w * g.stride[1]) as isize);
                }
            }
        }
        offsets
    }
}

/// `y = conv(x, W)` without `cols`: x `[batch, channels, h, w]`, W `[out, channels, kh, kw]` →
/// `[batch, out, oh, ow]`, for a layer that [`applies`]; with `epilogue` (the bias `[out]` and
/// a rectifier) `rectify(y + bias)`.
pub fn forward(
    g: &Geometry,
    batch: usize,
    (x, weight, out): (&[f32], &[f32], usize),
    epilogue: Option<(&[f32], Option<Rectifier>)>,
) -> Vec<f32> {
    let (patch, pixels, image) = (g.patch(), g.out_pixels(), g.channels * g.in_pixels());
    let mut transposed = vec![0.0; patch * out];
    for (o, row) in weight.chunks(patch).enumerate() {
        for (k, w) in row.iter().enumerate() {
            transposed[k * out + o] = *w;
        }
    }
    let group = Padded::group(g);
    let mut y = Vec::with_capacity(batch * out * pixels);
    y.spare_capacity_mut()[..batch * out * pixels]
        .par_chunks_mut(group * out * pixels)
        .zip(x.par_chunks(group * image))
        .for_each_init(
            || {
                let padded = Padded::new(g, group);
                let taps = padded.tap_offsets();
                let reads = padded.pixel_offsets(group);
                // where each pixel's channel 0 is written
                let writes: Vec<usize> = (0..group * pixels)
                    .map(|q| (q / pixels) * out * pixels + q % pixels)
                    .collect();
                (padded, taps, reads, writes)
            },
            |(padded, taps, reads, writes), (y, x)| {
                padded.fill(x);
                let columns = x.len() / image * pixels;
                let (y, last): (*mut MaybeUninit<f32>, _) = (y.as_mut_ptr(), columns - 1);
                for o in (0..out).step_by(BLOCKS * LANES) {
                    let blocks = ((out - o) / LANES).min(BLOCKS);
                    let write = match epilogue {
                        Some((bias, rectifier)) => Write::Epilogue(bias[o..].as_ptr(), rectifier),
                        None => Write::Set,
                    };
                    for q in (0..columns).step_by(self::columns(blocks)) {
                        let r = (columns - q).min(self::columns(blocks));
                        let r_off = std::array::from_fn(|r| reads[(q + r).min(last)]);
                        let r_at = std::array::from_fn(|r| writes[(q + r).min(last)] + o * pixels);
                        // SAFETY: `applies` checked AVX-512; rows o..o + 16·blocks of Wᵀ,
                        // every tap of pixels inside the padded images, and outputs q..q + r
                        // of channels o..o + 16·blocks lie inside their slices.
                        unsafe {
                            run_tile(
                                (blocks, r),
                                (transposed.as_ptr().add(o), out),
                                (padded.values.as_ptr(), &r_off, taps),
                                (y.cast(), &r_at, pixels, write),
                            )
                        };
                    }
                }
            },
        );
    // SAFETY: every output channel of every pixel was written by one tile.
    unsafe { y.set_len(batch * out * pixels) };
    y
}

/// `dW = Σ_b dy[b] · cols(x[b])ᵀ` without `cols`, `[out, channels·kh·kw]`, for a layer that
/// [`applies`]; each thread sums its share of the batch.
pub fn weight_grad(g: &Geometry, batch: usize, x: &[f32], dy: &[f32], out: usize) -> Vec<f32> {
    let (patch, pixels, image) = (g.patch(), g.out_pixels(), g.channels * g.in_pixels());
    let group = Padded::group(g);
    let per_share = share_of(batch);
    let partial: Vec<Vec<f32>> = x
        .par_chunks(per_share * image)
        .zip(dy.par_chunks(per_share * out * pixels))
        .map(|(x, dy)| {
            let mut dw = vec![0.0; out * patch];
            let mut padded = Padded::new(g, group);
            let taps = padded.tap_offsets();
            let reads = padded.pixel_offsets(group);
            let mut transposed = vec![0.0; group * pixels * out];
            for (x, dy) in x.chunks(group * image).zip(dy.chunks(group * out * pixels)) {
                padded.fill(x);
                let columns = x.len() / image * pixels;
                // dyᵀ `[pixel, out]`, pixels image-major
                for (n, dy) in dy.chunks(out * pixels).enumerate() {
                    for (o, row) in dy.chunks(pixels).enumerate() {
                        for (p, v) in row.iter().enumerate() {
                            transposed[(n * pixels + p) * out + o] = *v;
                        }
                    }
                }
                for o in (0..out).step_by(BLOCKS * LANES) {
                    let blocks = ((out - o) / LANES).min(BLOCKS);
                    for k in (0..patch).step_by(self::columns(blocks)) {
                        let r = (patch - k).min(self::columns(blocks));
                        let r_off = std::array::from_fn(|r| taps.get(k + r).copied().unwrap_or(0));
                        let r_at = std::array::from_fn(|r| o * patch + k + r);
                        // SAFETY: `applies` checked AVX-512; rows of dyᵀ for every pixel of
                        // the group, every tap of those pixels inside the padded images, and
                        // taps k..k + r of channels o..o + 16·blocks inside dW.
                        unsafe {
                            run_tile(
                                (blocks, r),
                                (transposed.as_ptr().add(o), out),
                                (padded.values.as_ptr(), &r_off, &reads[..columns]),
                                (dw.as_mut_ptr(), &r_at, patch, Write::Add),
                            )
                        };
                    }
                }
            }
            dw
        })
        .collect();
    sum(partial, out * patch)
}

/// Whether [`input_grad`] computes this layer's input gradient: input channels by sixteens.
pub fn input_grad_applies(g: &Geometry, out: usize) -> bool {
    applies(g, out) && g.channels.is_multiple_of(LANES)
}

/// One phase of a layer's input, for [`input_grad`]: its pixels, where its taps read in the
/// padded dy, and their weights.
struct Phase {
    /// For each input pixel of the phase in a group of images (image-major): where it reads in
    /// the padded dy (from output channel 0, before the taps' steps), and where its channel 0
    /// lies in dx.
    columns: Vec<(isize, usize)>,
    /// For each (o, tap), where it reads in the padded dy relative to the pixel's own place.
    steps: Vec<isize>,
    /// `[o, tap, channels]`.
    weights: Vec<f32>,
}

/// The input gradient `[batch, channels, h, w]` from dy `[batch, out, oh, ow]` without `cols`,
/// for a layer that [`input_grad_applies`]. On one axis, padded input position y receives from
/// tap i the output pixel (y − i)/s where s divides y − i: the pixels of one phase (y mod s, x
/// mod s) share their taps, i = (y mod s) + s·I reading output row ⌊y/s⌋ − I. Each such pixel
/// is one column of a tile: lanes over input channels, steps over (o, tap), A the weights of the
/// phase's taps, B dy zero-padded so that every tap reads inside it.
pub fn input_grad(g: &Geometry, batch: usize, dy: &[f32], weight: &[f32], out: usize) -> Vec<f32> {
    let (channels, pixels, image) = (g.channels, g.out_pixels(), g.channels * g.in_pixels());
    let ([kh, kw], [sh, sw], [ph, pw]) = (g.kernel, g.stride, g.padding);
    let (oh, ow) = (g.out_height(), g.out_width());
    // dy with `before` rows (columns) of zeros above (left of) it, for the taps I > 0, and enough
    // below (right) for the last input pixel's ⌊y/s⌋
    let before = [(kh - 1) / sh, (kw - 1) / sw];
    let rows = ((g.height - 1 + ph) / sh).max(oh - 1) + before[0] + 1;
    let cols = ((g.width - 1 + pw) / sw).max(ow - 1) + before[1] + 1;
    let padded_plane = rows * cols;
    let group = Padded::group(g);
    let phases: Vec<Phase> = (0..sh)
        .flat_map(|a| (0..sw).map(move |b| (a, b)))
        .map(|(a, b)| {
            let taps: Vec<(usize, usize)> = (a..kh)
                .step_by(sh)
                .flat_map(|i| (b..kw).step_by(sw).map(move |j| (i, j)))
                .collect();
            let mut weights = Vec::with_capacity(out * taps.len() * channels);
            let mut steps = Vec::with_capacity(out * taps.len());
            for o in 0..out {
                for &(i, j) in &taps {
                    let at = |c: usize| ((o * channels + c) * kh + i) * kw + j;
                    weights.extend((0..channels).map(|c| weight[at(c)]));
                    let back = (i / sh) * cols + j / sw;
                    steps.push((o * padded_plane) as isize - back as isize);
                }
            }
            let mut columns = Vec::new();
            for n in 0..group {
                for y in (0..g.height).filter(|y| (y + ph) % sh == a) {
                    for x in (0..g.width).filter(|x| (x + pw) % sw == b) {
                        let (row, col) = ((y + ph) / sh + before[0], (x + pw) / sw + before[1]);
                        let read = n * out * padded_plane + row * cols + col;
                        columns.push((read as isize, n * image + y * g.width + x));
                    }
                }
            }
            Phase {
                columns,
                steps,
                weights,
            }
        })
        .collect();
    let mut dx = Vec::with_capacity(batch * image);
    dx.spare_capacity_mut()[..batch * image]
        .par_chunks_mut(group * image)
        .zip(dy.par_chunks(group * out * pixels))
        .for_each_init(
            || vec![0.0f32; group * out * padded_plane],
            |dy_padded, (dx, dy)| {
                let images = dy.len() / (out * pixels);
                for (plane, from) in dy_padded.chunks_mut(padded_plane).zip(dy.chunks(pixels)) {
                    for (h, from) in from.chunks(ow).enumerate() {
                        plane[(h + before[0]) * cols + before[1]..][..ow].copy_from_slice(from);
                    }
                }
                let dx: *mut MaybeUninit<f32> = dx.as_mut_ptr();
                for phase in &phases {
                    let columns = &phase.columns[..images * phase.columns.len() / group];
                    if phase.steps.is_empty() {
                        // no tap reads these pixels
                        for &(_, at) in columns {
                            for c in 0..channels {
                                // SAFETY: inside the group's images, so inside dx.
                                unsafe { (*dx.add(at + c * g.in_pixels())).write(0.0) };
                            }
                        }
                        continue;
                    }
                    let Some(last) = columns.len().checked_sub(1) else {
                        continue; // an image narrower than the stride: no pixel in this phase
                    };
                    for c in (0..channels).step_by(BLOCKS * LANES) {
                        let blocks = ((channels - c) / LANES).min(BLOCKS);
                        for q in (0..columns.len()).step_by(self::columns(blocks)) {
                            let r = (columns.len() - q).min(self::columns(blocks));
                            let column = |r: usize| columns[(q + r).min(last)];
                            let r_off = std::array::from_fn(|r| column(r).0);
                            let r_at = std::array::from_fn(|r| column(r).1 + c * g.in_pixels());
                            // SAFETY: `input_grad_applies` checked AVX-512; the weights of
                            // every step for channels c..c + 16·blocks, every tap of these
                            // pixels inside the padded dy (`before` above, `rows` below), and
                            // the pixels of channels c..c + 16·blocks inside dx.
                            unsafe {
                                run_tile(
                                    (blocks, r),
                                    (phase.weights.as_ptr().add(c), channels),
                                    (dy_padded.as_ptr(), &r_off, &phase.steps),
                                    (dx.cast(), &r_at, g.in_pixels(), Write::Set),
                                )
                            };
                        }
                    }
                }
            },
        );
    // SAFETY: every input pixel lies in one phase, whose tiles wrote all its channels.
    unsafe { dx.set_len(batch * image) };
    dx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::conv::products;
    use crate::kernels::testing::{assert_slices_close, varied};

    /// The three products against the im2col ones (tested against burn's in `tests.rs`) on the
    /// VAE's two stride-2 layers, with batches that leave a last group short and shares that
    /// split groups between the threads, and with the bias and rectifier stored by the tiles.
    #[test]
    fn implicit_matches_the_direct_products_on_the_labs_layers() {
        if !avx512() {
            eprintln!("no AVX-512 on this CPU: the implicit products do not run here");
            return;
        }
        for (batch, channels, out, size) in [(7, 32, 64, 28), (11, 64, 64, 14), (3, 16, 48, 9)] {
            let g = Geometry {
                channels,
                height: size,
                width: size,
                kernel: [3, 3],
                stride: [2, 2],
                padding: [1, 1],
            };
            assert!(applies(&g, out) && input_grad_applies(&g, out));
            let x = varied(batch * channels * size * size, 1);
            let weight = varied(out * g.patch(), 2);
            let dy = varied(batch * out * g.out_pixels(), 3);
            let bias = varied(out, 4);
            let direct = products::direct_forward(&g, batch, &x, &weight, out);
            assert_slices_close(
                &forward(&g, batch, (&x, &weight, out), None),
                &direct,
                "forward",
            );
            let rectifier = Rectifier { slope: 0.2 };
            let finished: Vec<f32> = direct
                .iter()
                .enumerate()
                .map(|(i, v)| rectifier.apply(v + bias[i / g.out_pixels() % out]))
                .collect();
            assert_slices_close(
                &forward(
                    &g,
                    batch,
                    (&x, &weight, out),
                    Some((&bias, Some(rectifier))),
                ),
                &finished,
                "forward with bias and rectifier",
            );
            assert_slices_close(
                &weight_grad(&g, batch, &x, &dy, out),
                &products::direct_weight_grad(&g, batch, &x, &dy, out),
                "weight grad",
            );
            assert_slices_close(
                &input_grad(&g, batch, &dy, &weight, out),
                &products::direct_input_grad(&g, batch, &dy, &weight, out),
                "input grad",
            );
        }
    }
}
