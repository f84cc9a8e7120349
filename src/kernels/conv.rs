//! 2-D convolution and transposed convolution (groups 1, dilation 1) as im2col + one matrix
//! product per sample (or per group of small samples, see [`Group`]), with both backward passes
//! written out, for the `flex` CPU backend.
//!
//! For a convolution with kernel k, stride s and padding p, `cols` holds for every input channel
//! c and kernel offset (i, j) one row of the input seen through that offset:
//! `cols[(c,i,j), (oh,ow)] = x[c, oh·s+i−p, ow·s+j−p]` (0 outside), so that
//! - forward:      `y_b  = W · cols_b`          (W as `[out, in·k·k]`);
//! - input grad:   `dx_b = col2im(Wᵀ · dy_b)`   (col2im adds each column back where it was read);
//! - weight grad:  `dW   = Σ_b dy_b · cols_bᵀ`.
//!
//! A transposed convolution is the input-grad product of the convolution it mirrors, so the
//! same three products serve it, with the roles of forward and input grad swapped.
//!
//! Why by hand: flex runs every convolution through a 3-D kernel that converts the input to
//! NHWC on one thread, and computes the weight gradient as a convolution of the transposed
//! input by the transposed output gradient (batch and channel swapped), whose shape suits its
//! matrix products badly. In `cnn_train` that gradient, the layout copies and the max-pool
//! were most of a step.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::norm::lane_sum;
use super::product::{Strided, matmul};
use super::rectifier::Rectifier;

/// Shape of one 2-D convolution: input `[channels, height, width]`, kernel, stride, padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

impl Geometry {
    pub fn out_height(&self) -> usize {
        (self.height + 2 * self.padding[0] - self.kernel[0]) / self.stride[0] + 1
    }

    pub fn out_width(&self) -> usize {
        (self.width + 2 * self.padding[1] - self.kernel[1]) / self.stride[1] + 1
    }

    fn out_pixels(&self) -> usize {
        self.out_height() * self.out_width()
    }

    /// Rows of `cols`: channels × kernel positions.
    fn patch(&self) -> usize {
        self.channels * self.kernel[0] * self.kernel[1]
    }

    fn in_pixels(&self) -> usize {
        self.height * self.width
    }

    /// For kernel offset `offset` along an axis of input size `size`, the output positions `o`
    /// whose input `o·stride + offset − padding` lies inside the image.
    fn valid(
        size: usize,
        out: usize,
        stride: usize,
        offset: usize,
        padding: usize,
    ) -> (usize, usize) {
        // o·s + offset ≥ padding  ⇔  o ≥ ceil((padding − offset) / s)
        let first = padding.saturating_sub(offset).div_ceil(stride);
        // o·s + offset − padding ≤ size − 1  ⇔  o ≤ (size − 1 + padding − offset) / s
        let last = match (size + padding).checked_sub(offset + 1) {
            Some(room) => (room / stride + 1).min(out),
            None => 0,
        };
        (first.min(last), last)
    }

    fn strided(&self) -> bool {
        self.stride != [1, 1]
    }

    /// Where sub-image `(a, b)` of a channel starts, and its width, in the phase layout.
    ///
    /// With stride s, output pixel o reads input pixel o·s + t (t = kernel offset − padding):
    /// all the pixels one kernel offset reads lie in one of the s² sub-images
    /// `x[a::s, b::s]`, side by side in a row of it. In that layout (each channel's sub-images
    /// one after the other, row-major) every run of `cols` is a contiguous copy.
    fn phase(&self, a: usize, b: usize) -> (usize, usize) {
        let [sh, sw] = self.stride;
        let rows = |a: usize| (self.height - a).div_ceil(sh);
        let cols = |b: usize| (self.width - b).div_ceil(sw);
        let before_a: usize = (0..a).map(|a| rows(a) * self.width).sum();
        let before_b: usize = (0..b).map(|b| rows(a) * cols(b)).sum();
        (before_a + before_b, cols(b))
    }

    /// `x` (`[channels, height, width]`) in the phase layout of [`Self::phase`].
    fn split_into_phases(&self, x: &[f32], phased: &mut [f32]) {
        let width = self.width;
        if self.stride[1] == 2 {
            self.for_each_row_in_two_phases(|plain, even, odd| {
                let row = &x[plain..plain + width];
                let (before_odd, odd) = phased.split_at_mut(odd);
                let even = &mut before_odd[even..even + width.div_ceil(2)];
                for ((pair, e), o) in row.chunks_exact(2).zip(even.iter_mut()).zip(odd.iter_mut()) {
                    *e = pair[0];
                    *o = pair[1];
                }
                if width % 2 == 1 {
                    even[width / 2] = row[width - 1];
                }
            });
            return;
        }
        self.for_each_phase_row(|plain, phased_at, len| {
            let [_, sw] = self.stride;
            for (n, p) in phased[phased_at..phased_at + len].iter_mut().enumerate() {
                *p = x[plain + n * sw];
            }
        });
    }

    /// Writes `phased` (the phase layout) into `dx` (`[channels, height, width]`): every pixel
    /// of `dx` is in exactly one sub-image.
    fn write_from_phases(&self, phased: &[f32], dx: &mut [MaybeUninit<f32>]) {
        let width = self.width;
        if self.stride[1] == 2 {
            self.for_each_row_in_two_phases(|plain, even, odd| {
                let row = &mut dx[plain..plain + width];
                let (even, odd) = (&phased[even..], &phased[odd..]);
                for ((pair, e), o) in row.chunks_exact_mut(2).zip(even).zip(odd) {
                    pair[0].write(*e);
                    pair[1].write(*o);
                }
                if width % 2 == 1 {
                    row[width - 1].write(even[width / 2]);
                }
            });
            return;
        }
        self.for_each_phase_row(|plain, phased_at, len| {
            let [_, sw] = self.stride;
            for (n, p) in phased[phased_at..phased_at + len].iter().enumerate() {
                dx[plain + n * sw].write(*p);
            }
        });
    }

    /// With stride 2 along the width: `visit(first plain index of the row, first phased index
    /// of its even columns, of its odd columns)` for every row of every channel. Row by row, the
    /// two sub-images interleave into a plain row without a strided access per pixel (which
    /// cost 4% of a `vae_train` step).
    fn for_each_row_in_two_phases(&self, mut visit: impl FnMut(usize, usize, usize)) {
        let [sh, _] = self.stride;
        let plane = self.in_pixels();
        let (even_width, odd_width) = (self.width.div_ceil(2), self.width / 2);
        for a in 0..sh.min(self.height) {
            let (even, odd) = (self.phase(a, 0).0, self.phase(a, 1).0);
            for (q, h) in (a..self.height).step_by(sh).enumerate() {
                for c in 0..self.channels {
                    visit(
                        c * plane + h * self.width,
                        c * plane + even + q * even_width,
                        c * plane + odd + q * odd_width,
                    );
                }
            }
        }
    }

    /// `visit(first plain index, first phased index, length)` for every row of every sub-image.
    fn for_each_phase_row(&self, mut visit: impl FnMut(usize, usize, usize)) {
        let [sh, sw] = self.stride;
        let plane = self.in_pixels();
        for a in 0..sh.min(self.height) {
            for b in 0..sw.min(self.width) {
                let (start, width) = self.phase(a, b);
                for (q, h) in (a..self.height).step_by(sh).enumerate() {
                    for c in 0..self.channels {
                        let plain = c * plane + h * self.width + b;
                        visit(plain, c * plane + start + q * width, width);
                    }
                }
            }
        }
    }

    /// Every run of `cols` that reads inside the image: `len` entries from `cols[at..]`, copied
    /// from `len` consecutive values at `from` in the input, taken in the phase layout when the
    /// stride is above 1. All else in `cols` is padding (zero). The rows of `cols` lie `ld`
    /// apart (`ld` ≥ the output pixels: several images' `cols` side by side).
    fn for_each_run(&self, ld: usize, mut visit: impl FnMut(Run)) {
        let (oh_n, ow_n) = (self.out_height(), self.out_width());
        let [kh_n, kw_n] = self.kernel;
        let [sh, sw] = self.stride;
        let plane = self.in_pixels();
        for i in 0..kh_n {
            let (oh_first, oh_last) = Self::valid(self.height, oh_n, sh, i, self.padding[0]);
            for j in 0..kw_n {
                let (ow_first, ow_last) = Self::valid(self.width, ow_n, sw, j, self.padding[1]);
                if ow_first >= ow_last || oh_first >= oh_last {
                    continue;
                }
                // the first pixel read, (oh_first·s + i − p, ow_first·s + j − p), and its sub-image
                let ih = oh_first * sh + i - self.padding[0];
                let iw = ow_first * sw + j - self.padding[1];
                let (start, width) = self.phase(ih % sh, iw % sw);
                let first = start + (ih / sh) * width + iw / sw;
                // Whole output rows read whole rows of a sub-image as wide: the rows of a run
                // follow each other in `cols` and in the input alike, so they make one run.
                let (rows, len) = if ow_last - ow_first == ow_n && width == ow_n {
                    (1, (oh_last - oh_first) * ow_n)
                } else {
                    (oh_last - oh_first, ow_last - ow_first)
                };
                for c in 0..self.channels {
                    let row = (c * kh_n + i) * kw_n + j;
                    for n in 0..rows {
                        visit(Run {
                            at: row * ld + (oh_first + n) * ow_n + ow_first,
                            from: c * plane + first + n * width,
                            len,
                        });
                    }
                }
            }
        }
    }
}

/// A stretch of one row of `cols` that lies inside the image.
struct Run {
    at: usize,
    from: usize,
    len: usize,
}

/// `cols` of one image `x` (`[channels, height, width]`): `[patch, out_pixels]` with rows `ld`
/// apart; `phased` is scratch space of the image's size, used when the stride is above 1.
///
/// Only the entries that read inside the image are written: `cols` must start zeroed, and a
/// buffer reused for several images of one geometry keeps its padding entries at zero, since no
/// run ever writes them. (Clearing the whole buffer for every image cost 2–4% of a step.)
fn im2col(g: &Geometry, x: &[f32], cols: &mut [f32], ld: usize, phased: &mut [f32]) {
    let x = if g.strided() {
        g.split_into_phases(x, phased);
        &*phased
    } else {
        x
    };
    g.for_each_run(ld, |run| {
        cols[run.at..run.at + run.len].copy_from_slice(&x[run.from..run.from + run.len]);
    });
}

/// Sums each entry of `cols` (rows `ld` apart) into the pixel of `dx` it was read from; every
/// entry of `dx` is written. `phased` as in [`im2col`].
fn col2im(g: &Geometry, cols: &[f32], ld: usize, dx: &mut [MaybeUninit<f32>], phased: &mut [f32]) {
    let add_runs = |target: &mut [f32]| {
        g.for_each_run(ld, |run| {
            let src = &cols[run.at..run.at + run.len];
            target[run.from..run.from + run.len]
                .iter_mut()
                .zip(src)
                .for_each(|(d, v)| *d += *v);
        });
    };
    if g.strided() {
        phased.fill(0.0);
        add_runs(phased);
        g.write_from_phases(phased, dx);
    } else {
        dx.iter_mut().for_each(|v| {
            v.write(0.0);
        });
        // SAFETY: every entry was just initialized, and MaybeUninit<f32> has f32's layout.
        let dx = unsafe { &mut *(dx as *mut [MaybeUninit<f32>] as *mut [f32]) };
        add_runs(dx);
    }
}

/// Output pixels that one matrix product covers at least. gemm runs the product of one image of
/// a 7×7 layer (49 columns) at 65–80% of the speed of one four times as wide, so small images go
/// through the products in groups, their `cols` side by side.
const MIN_COLUMNS: usize = 196;

/// Values of `cols` for one group, at most, so that they stay in a core's L2 cache between the
/// product that writes them and col2im that reads them.
const MAX_COLS: usize = 128 << 10;

/// Images per matrix product.
fn group_size(g: &Geometry) -> usize {
    let image = g.patch() * g.out_pixels();
    let wanted = MIN_COLUMNS.div_ceil(g.out_pixels());
    wanted.min(MAX_COLS / image.max(1)).max(1)
}

/// The scratch space of one thread for groups of up to `size` images: their `cols` side by side
/// (`[patch, size·pixels]`), and their outputs (or output gradients) side by side
/// (`[out, size·pixels]`), which the products need in that layout rather than image by image.
///
/// One `Group` serves either im2col (its `cols` then keep their padding at zero between groups)
/// or the input gradient's products (which overwrite all of `cols`), never both.
struct Group<'g> {
    g: &'g Geometry,
    size: usize,
    out: usize,
    /// Images in the current group.
    len: usize,
    cols: Vec<f32>,
    outputs: Vec<f32>,
    phased: Vec<f32>,
}

impl<'g> Group<'g> {
    fn new(g: &'g Geometry, out: usize) -> Self {
        let size = group_size(g);
        let ld = size * g.out_pixels();
        Self {
            g,
            size,
            out,
            len: 0,
            cols: vec![0.0; g.patch() * ld],
            outputs: vec![0.0; if size > 1 { out * ld } else { 0 }],
            phased: vec![0.0; g.channels * g.in_pixels()],
        }
    }

    /// Row stride of `cols` and of `outputs`.
    fn ld(&self) -> usize {
        self.size * self.g.out_pixels()
    }

    fn image(&self) -> usize {
        self.g.channels * self.g.in_pixels()
    }

    /// The `cols` of `images` (`[n, channels, h, w]`, n ≤ size), side by side.
    fn im2col(&mut self, images: &[f32]) {
        let (ld, pixels) = (self.ld(), self.g.out_pixels());
        self.len = images.len() / self.image();
        for (n, x) in images.chunks(self.image()).enumerate() {
            im2col(
                self.g,
                x,
                &mut self.cols[n * pixels..],
                ld,
                &mut self.phased,
            );
        }
    }

    /// `y = W · cols` for the current group; `y` is `[n, out, oh, ow]`, every entry written.
    fn forward(&mut self, weight: &[f32], y: &mut [MaybeUninit<f32>]) {
        let (ld, pixels, patch) = (self.ld(), self.g.out_pixels(), self.g.patch());
        let columns = self.len * pixels;
        let lhs = (weight, (patch, 1));
        let rhs = (&self.cols[..], (ld, 1));
        if self.len == 1 {
            matmul(
                (self.out, pixels, patch),
                Strided::uninit(y, (pixels, 1)),
                false,
                lhs,
                rhs,
            );
            return;
        }
        let dst = Strided::new(&mut self.outputs, (ld, 1));
        matmul((self.out, columns, patch), dst, false, lhs, rhs);
        for (n, y_b) in y.chunks_mut(self.out * pixels).enumerate() {
            for (row, y_row) in y_b.chunks_mut(pixels).enumerate() {
                let from = &self.outputs[row * ld + n * pixels..][..pixels];
                y_row.iter_mut().zip(from).for_each(|(y, v)| {
                    y.write(*v);
                });
            }
        }
    }

    /// `dy` (`[n, out, oh, ow]`) as one `[out, n·pixels]` matrix and its row stride: `dy` itself
    /// for one image, else copied into `outputs`.
    fn output_matrix<'a>(
        outputs: &'a mut [f32],
        dy: &'a [f32],
        (out, pixels, ld): (usize, usize, usize),
    ) -> (&'a [f32], usize) {
        let images = dy.len() / (out * pixels);
        if images == 1 {
            return (dy, pixels);
        }
        for (n, dy_b) in dy.chunks(out * pixels).enumerate() {
            for (row, dy_row) in dy_b.chunks(pixels).enumerate() {
                outputs[row * ld + n * pixels..][..pixels].copy_from_slice(dy_row);
            }
        }
        (outputs, ld)
    }

    /// `dW (+)= dy · colsᵀ` for the current group; `dy` is `[n, out, oh, ow]`.
    fn add_weight_grad(&mut self, dy: &[f32], dw: &mut [f32], accumulate: bool) {
        let (ld, pixels, patch) = (self.ld(), self.g.out_pixels(), self.g.patch());
        let (dy, dy_ld) = Self::output_matrix(&mut self.outputs, dy, (self.out, pixels, ld));
        matmul(
            (self.out, patch, self.len * pixels),
            Strided::new(dw, (patch, 1)),
            accumulate,
            (dy, (dy_ld, 1)),
            (&self.cols, (1, ld)),
        );
    }

    /// `dx = col2im(Wᵀ · dy)`: dy `[n, out, oh, ow]` → dx `[n, channels, h, w]`, every entry
    /// written.
    fn input_grad(&mut self, weight: &[f32], dy: &[f32], dx: &mut [MaybeUninit<f32>]) {
        let (ld, pixels, patch) = (self.ld(), self.g.out_pixels(), self.g.patch());
        let images = dy.len() / (self.out * pixels);
        let (dy, dy_ld) = Self::output_matrix(&mut self.outputs, dy, (self.out, pixels, ld));
        matmul(
            (patch, images * pixels, self.out),
            Strided::new(&mut self.cols, (ld, 1)),
            false,
            (weight, (1, patch)),
            (dy, (dy_ld, 1)),
        );
        let image = self.image();
        for (n, dx_b) in dx.chunks_mut(image).enumerate() {
            col2im(self.g, &self.cols[n * pixels..], ld, dx_b, &mut self.phased);
        }
    }
}

/// `y[b] = W · cols(x[b])`: x `[batch, channels, h, w]`, weight `[out, channels, k, k]`.
pub fn forward(g: &Geometry, batch: usize, x: &[f32], weight: &[f32], out: usize) -> Vec<f32> {
    let (pixels, image) = (g.out_pixels(), g.channels * g.in_pixels());
    let size = group_size(g);
    let mut y = Vec::with_capacity(batch * out * pixels);
    y.spare_capacity_mut()[..batch * out * pixels]
        .par_chunks_mut(size * out * pixels)
        .zip(x.par_chunks(size * image))
        .for_each_init(
            || Group::new(g, out),
            |group, (y_group, x_group)| {
                group.im2col(x_group);
                group.forward(weight, y_group);
            },
        );
    // SAFETY: every group's chunk was written in full by its product.
    unsafe { y.set_len(batch * out * pixels) };
    y
}

/// `dx[b] = col2im(Wᵀ · dy[b])`: dy `[batch, out, oh, ow]` → dx `[batch, channels, h, w]`.
pub fn input_grad(g: &Geometry, batch: usize, dy: &[f32], weight: &[f32], out: usize) -> Vec<f32> {
    let (pixels, image) = (g.out_pixels(), g.channels * g.in_pixels());
    let size = group_size(g);
    let mut dx = Vec::with_capacity(batch * image);
    dx.spare_capacity_mut()[..batch * image]
        .par_chunks_mut(size * image)
        .zip(dy.par_chunks(size * out * pixels))
        .for_each_init(
            || Group::new(g, out),
            |group, (dx_group, dy_group)| group.input_grad(weight, dy_group, dx_group),
        );
    // SAFETY: col2im wrote every entry of every image.
    unsafe { dx.set_len(batch * image) };
    dx
}

/// `dW = Σ_b dy[b] · cols(x[b])ᵀ`, `[out, channels·k·k]`; each thread sums its share of the batch.
pub fn weight_grad(g: &Geometry, batch: usize, x: &[f32], dy: &[f32], out: usize) -> Vec<f32> {
    let (patch, pixels, image) = (g.patch(), g.out_pixels(), g.channels * g.in_pixels());
    let per_share = share_of(batch);
    let partial: Vec<Vec<f32>> = x
        .par_chunks(per_share * image)
        .zip(dy.par_chunks(per_share * out * pixels))
        .map(|(x_share, dy_share)| {
            let mut dw = vec![0.0; out * patch];
            let mut group = Group::new(g, out);
            let size = group.size;
            let groups = x_share
                .chunks(size * image)
                .zip(dy_share.chunks(size * out * pixels));
            for (n, (x_group, dy_group)) in groups.enumerate() {
                group.im2col(x_group);
                group.add_weight_grad(dy_group, &mut dw, n > 0);
            }
            dw
        })
        .collect();
    sum(partial, out * patch)
}

/// [`forward`] of `x` and [`weight_grad`] of `(x, dy)` together, with one im2col per sample: the
/// backward pass of a transposed convolution, whose input gradient is the forward pass of the
/// convolution it mirrors and whose weight gradient reads the same `cols`.
pub fn forward_and_weight_grad(
    g: &Geometry,
    batch: usize,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    out: usize,
) -> (Vec<f32>, Vec<f32>) {
    let (patch, pixels, image) = (g.patch(), g.out_pixels(), g.channels * g.in_pixels());
    let per_share = share_of(batch);
    let mut y = Vec::with_capacity(batch * out * pixels);
    let partial: Vec<Vec<f32>> = y.spare_capacity_mut()[..batch * out * pixels]
        .par_chunks_mut(per_share * out * pixels)
        .zip(x.par_chunks(per_share * image))
        .zip(dy.par_chunks(per_share * out * pixels))
        .map(|((y_share, x_share), dy_share)| {
            let mut dw = vec![0.0; out * patch];
            let mut group = Group::new(g, out);
            let size = group.size;
            let groups = y_share
                .chunks_mut(size * out * pixels)
                .zip(x_share.chunks(size * image))
                .zip(dy_share.chunks(size * out * pixels));
            for (n, ((y_group, x_group), dy_group)) in groups.enumerate() {
                group.im2col(x_group);
                group.forward(weight, y_group);
                group.add_weight_grad(dy_group, &mut dw, n > 0);
            }
            dw
        })
        .collect();
    // SAFETY: every image's chunk was written in full by its product.
    unsafe { y.set_len(batch * out * pixels) };
    (y, sum(partial, out * patch))
}

/// Samples per thread when each thread sums its own share of a gradient.
fn share_of(batch: usize) -> usize {
    let shares = rayon::current_num_threads().clamp(1, batch.max(1));
    batch.div_ceil(shares).max(1)
}

/// The sum of the threads' partial gradients.
fn sum(partial: Vec<Vec<f32>>, len: usize) -> Vec<f32> {
    let mut total = vec![0.0; len];
    for part in partial {
        total.iter_mut().zip(part).for_each(|(t, d)| *t += d);
    }
    total
}

/// What follows a convolution inside its kernel: a bias per output channel, then a rectifier
/// (see [`super::rectifier`]) or nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Epilogue {
    pub channels: usize,
    pub pixels: usize,
    pub rectifier: Option<Rectifier>,
}

impl Epilogue {
    /// `y ← rectify(y + bias[channel])` for `y` `[batch, channels, pixels]`, in place, split
    /// between the threads.
    pub fn forward(&self, y: &mut [f32], bias: &[f32]) {
        let plane = self.pixels.max(1);
        y.par_chunks_mut(self.channels * plane).for_each(|image| {
            for (row, b) in image.chunks_mut(plane).zip(bias) {
                match self.rectifier {
                    None => row.iter_mut().for_each(|v| *v += b),
                    Some(r) => row.iter_mut().for_each(|v| *v = r.apply(*v + b)),
                }
            }
        });
    }

    /// The gradient before the rectifier, in place of `dy`, from the rectified output `y`, and
    /// the bias gradient: the sum of that over the batch and the pixels, `[channels]`.
    pub fn backward(&self, y: Option<&[f32]>, dy: &mut [f32]) -> Vec<f32> {
        let plane = self.pixels.max(1);
        let image = self.channels * plane;
        let batch = dy.len() / image.max(1);
        let per_share = (share_of(batch) * image).max(1);
        let partial: Vec<Vec<f32>> = dy
            .par_chunks_mut(per_share)
            .enumerate()
            .map(|(share, dy_share)| {
                let mut db = vec![0.0; self.channels];
                for (n, row) in dy_share.chunks_mut(plane).enumerate() {
                    if let (Some(r), Some(y)) = (self.rectifier, y) {
                        let at = share * per_share + n * plane;
                        r.backward_row(&y[at..at + plane], row);
                    }
                    db[n % self.channels] += lane_sum(row, row, |v, _| v);
                }
                db
            })
            .collect();
        sum(partial, self.channels)
    }
}
