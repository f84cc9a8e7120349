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

use super::im2col::{Geometry, col2im, im2col};
use super::{implicit, single, winograd};
use crate::kernels::norm::lane_sum;
use crate::kernels::pool::Windows;
use crate::kernels::product::{Strided, matmul, share_of, sum};
use crate::kernels::rectifier::Rectifier;

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
pub(super) fn direct_forward(
    g: &Geometry,
    batch: usize,
    x: &[f32],
    weight: &[f32],
    out: usize,
) -> Vec<f32> {
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

// --- The three products, each by the side of the convolution with fewer channels ----------------
//
// A stride-1 convolution g (kernel k, padding p < k) from `channels` C to `out` O has a mirror
// m: from the O-channel output plane back onto the C-channel input plane, kernel k flipped,
// padding k − 1 − p. Its `cols` of an output (gradient) dy are dy seen through every flipped
// offset, `cols_m(dy)[(o, k−1−i, k−1−j), (h, w)] = dy[o, h − i + p, w − j + p]`, so that with
// the flipped, transposed weight `Wm[c, o, i', j'] = W[o, c, k−1−i', k−1−j']`:
// - input grad:  dx = Wm · cols_m(dy)                 ([`direct_forward`] of m, or
//                                                     [`single::forward`] where m has one channel);
// - weight grad: dW[o, c, ·] = (Σ_b x[b] · cols_m(dy[b])ᵀ)[c, o, flipped ·]
//                                                     ([`direct_weight_grad`] of m, or
//                                                     [`single::weight_grad`]);
// - forward:     y = col2im_m(Wmᵀ · x)                ([`direct_input_grad`] of m).
// The same products, the same FLOPs; what changes is which side goes through im2col or col2im
// (C·k² rows of `cols` or O·k²) and the depth of each matrix product. With few output channels
// the mirror is cheaper: in `pix2pix_train`, whose U-Net narrows 32 → 16 → 1 and whose PatchGAN
// ends 64 → 1, a single output channel made `cols` 64 times as large as the output it fed.

/// The mirror of g (see above), if g has stride 1 and padding below its kernel.
fn mirror(g: &Geometry, out: usize) -> Option<Geometry> {
    let [(kh, ph), (kw, pw)] = [(g.kernel[0], g.padding[0]), (g.kernel[1], g.padding[1])];
    (g.stride == [1, 1] && ph < kh && pw < kw).then(|| Geometry {
        channels: out,
        height: g.out_height(),
        width: g.out_width(),
        kernel: g.kernel,
        stride: [1, 1],
        padding: [kh - 1 - ph, kw - 1 - pw],
    })
}

/// `Wm[c, o, i', j'] = W[o, c, kh−1−i', kw−1−j']` for W `[out, channels, kh, kw]`.
fn mirrored_weight(g: &Geometry, weight: &[f32], out: usize) -> Vec<f32> {
    let [kh, kw] = g.kernel;
    let mut mirrored = vec![0.0; weight.len()];
    for o in 0..out {
        for c in 0..g.channels {
            let from = &weight[(o * g.channels + c) * kh * kw..][..kh * kw];
            let to = &mut mirrored[(c * out + o) * kh * kw..][..kh * kw];
            // flipping both axes of a row-major kh × kw block reverses it
            to.iter_mut()
                .zip(from.iter().rev())
                .for_each(|(t, f)| *t = *f);
        }
    }
    mirrored
}

/// `y[b] = W ⊛ x[b]`: x `[batch, channels, h, w]`, weight `[out, channels, kh, kw]` →
/// `[batch, out, oh, ow]`. Through the mirror when there are at least twice as many input
/// channels as output ones (measured on `pix2pix_train`: 8·out ≤ channels, only the single-channel
/// outputs, gave 1,740 samples/s; 2·out ≤ channels 1,760–1,795).
pub fn forward(g: &Geometry, batch: usize, x: &[f32], weight: &[f32], out: usize) -> Vec<f32> {
    forward_then(g, batch, (x, weight, out), None)
}

/// `rectify(forward(x) + bias)`: [`forward`] and the [`Epilogue`], in one pass where the
/// products are [`implicit`] or [`single`].
pub fn forward_with_epilogue(
    g: &Geometry,
    batch: usize,
    (x, weight, bias): (&[f32], &[f32], &[f32]),
    epilogue: &Epilogue,
) -> Vec<f32> {
    forward_then(
        g,
        batch,
        (x, weight, epilogue.channels),
        Some((bias, epilogue)),
    )
}

/// [`forward`], then with `epilogue` its bias and rectifier: stored by the implicit tiles and the
/// single-channel kernels as they write, else in a pass of their own. The one place that orders
/// the four ways.
fn forward_then(
    g: &Geometry,
    batch: usize,
    (x, weight, out): (&[f32], &[f32], usize),
    epilogue: Option<(&[f32], &Epilogue)>,
) -> Vec<f32> {
    // the bias and rectifier as the kernels that store them take them
    let stored = epilogue.map(|(bias, e)| (bias, e.rectifier));
    let mut y = if winograd::applies(g, out) {
        winograd::forward(g, batch, x, weight, out)
    } else if implicit::applies(g, out) {
        return implicit::forward(g, batch, (x, weight, out), stored);
    } else if single::applies(g, out) {
        return single::forward(g, batch, (x, weight, out), stored);
    } else {
        match mirror(g, out) {
            Some(m) if 2 * out <= g.channels => {
                direct_input_grad(&m, batch, x, &mirrored_weight(g, weight, out), g.channels)
            }
            _ => direct_forward(g, batch, x, weight, out),
        }
    };
    if let Some((bias, epilogue)) = epilogue {
        epilogue.forward(&mut y, bias);
    }
    y
}

/// The input gradient `[batch, channels, h, w]` from dy `[batch, out, oh, ow]`. Through the
/// mirror when there are fewer output channels than input channels (with as many, the two ways
/// ran `vae_train` at the same speed; the direct one keeps the figures of the labs made before).
pub fn input_grad(g: &Geometry, batch: usize, dy: &[f32], weight: &[f32], out: usize) -> Vec<f32> {
    if winograd::applies(g, out) {
        return winograd::input_grad(g, batch, dy, weight, out);
    }
    if implicit::input_grad_applies(g, out) {
        return implicit::input_grad(g, batch, dy, weight, out);
    }
    match mirror(g, out) {
        Some(m) if out < g.channels => {
            let mirrored = mirrored_weight(g, weight, out);
            if single::applies(&m, g.channels) {
                single::forward(&m, batch, (dy, &mirrored, g.channels), None)
            } else {
                direct_forward(&m, batch, dy, &mirrored, g.channels)
            }
        }
        _ => direct_input_grad(g, batch, dy, weight, out),
    }
}

/// The weight gradient `[out, channels, kh, kw]`. Through the mirror when there are fewer
/// output channels than input channels.
pub fn weight_grad(g: &Geometry, batch: usize, x: &[f32], dy: &[f32], out: usize) -> Vec<f32> {
    if winograd::applies(g, out) {
        return winograd::weight_grad(g, batch, x, dy, out);
    }
    if implicit::applies(g, out) {
        return implicit::weight_grad(g, batch, x, dy, out);
    }
    if single::applies(g, out) {
        return single::weight_grad(g, batch, x, dy, out);
    }
    let Some(m) = mirror(g, out).filter(|_| out < g.channels) else {
        return direct_weight_grad(g, batch, x, dy, out);
    };
    // [channels, out, kh, kw] with flipped kernels: the mirrored weight's shape
    let mirrored = if single::applies(&m, g.channels) {
        single::weight_grad(&m, batch, dy, x, g.channels)
    } else {
        direct_weight_grad(&m, batch, dy, x, g.channels)
    };
    mirrored_weight(&m, &mirrored, g.channels)
}

/// [`forward`], its [`Epilogue`] and a max pooling of its output in one pass, one group of
/// images at a time: each thread holds only its group's convolution output, so the whole
/// `[batch, out, oh, ow]` tensor never exists (in `cnn_infer`, 86 MB for a batch of 1,000). For
/// inference: nothing is kept for a backward pass.
pub fn forward_pooled(
    g: &Geometry,
    batch: usize,
    (x, weight, bias): (&[f32], &[f32], &[f32]),
    epilogue: &Epilogue,
    windows: &Windows,
) -> Vec<f32> {
    let (pixels, image, out) = (
        g.out_pixels(),
        g.channels * g.in_pixels(),
        epilogue.channels,
    );
    let pooled = windows.out_pixels();
    let size = group_size(g);
    let mut y = vec![0.0; batch * out * pooled];
    y.par_chunks_mut(size * out * pooled)
        .zip(x.par_chunks(size * image))
        .for_each_init(
            || (Group::new(g, out), vec![0.0; size * out * pixels]),
            |(group, scratch), (y_group, x_group)| {
                let n = x_group.len() / image;
                let convolved = &mut scratch[..n * out * pixels];
                group.im2col(x_group);
                // SAFETY: f32 and MaybeUninit<f32> share their layout, and writing through
                // MaybeUninit to memory already initialized leaves it initialized.
                group.forward(weight, unsafe {
                    &mut *(convolved as *mut [f32] as *mut [MaybeUninit<f32>])
                });
                for image in convolved.chunks_mut(out * pixels) {
                    epilogue.apply(image, bias);
                }
                for (plane, pooled) in convolved.chunks(pixels).zip(y_group.chunks_mut(pooled)) {
                    windows.pool_plane(plane, pooled, None);
                }
            },
        );
    y
}

/// `dx[b] = col2im(Wᵀ · dy[b])`: dy `[batch, out, oh, ow]` → dx `[batch, channels, h, w]`.
pub(super) fn direct_input_grad(
    g: &Geometry,
    batch: usize,
    dy: &[f32],
    weight: &[f32],
    out: usize,
) -> Vec<f32> {
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
pub(super) fn direct_weight_grad(
    g: &Geometry,
    batch: usize,
    x: &[f32],
    dy: &[f32],
    out: usize,
) -> Vec<f32> {
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
    if winograd::applies(g, out) {
        return winograd::forward_and_weight_grad(g, batch, x, weight, dy, out);
    }
    if implicit::applies(g, out) {
        let y = implicit::forward(g, batch, (x, weight, out), None);
        return (y, implicit::weight_grad(g, batch, x, dy, out));
    }
    if single::applies(g, out) {
        let y = single::forward(g, batch, (x, weight, out), None);
        return (y, single::weight_grad(g, batch, x, dy, out));
    }
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

/// What follows a convolution inside its kernel: a bias per output channel, then a rectifier
/// (see [`crate::kernels::rectifier`]) or nothing.
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
        y.par_chunks_mut(self.channels * self.pixels.max(1))
            .for_each(|image| self.apply(image, bias));
    }

    /// [`Self::forward`] of one image `[channels, pixels]`, on this thread.
    fn apply(&self, image: &mut [f32], bias: &[f32]) {
        for (row, b) in image.chunks_mut(self.pixels.max(1)).zip(bias) {
            match self.rectifier {
                None => row.iter_mut().for_each(|v| *v += b),
                Some(r) => row.iter_mut().for_each(|v| *v = r.apply(*v + b)),
            }
        }
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
