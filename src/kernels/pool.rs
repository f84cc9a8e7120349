//! 2-D max pooling without padding or dilation (every pooling layer of the labs), forward with
//! the position of each window's maximum, and the backward pass that routes each output
//! gradient to that position.
//!
//! Why by hand: flex pools through a generic 3-D loop that recomputes the valid window for every
//! output and keeps 64-bit indices; in the `cnn` lab it took a third of the time.

use rayon::prelude::*;

/// Pooling windows over one `[height, width]` plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    pub height: usize,
    pub width: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
}

impl Windows {
    pub fn out_height(&self) -> usize {
        (self.height - self.kernel[0]) / self.stride[0] + 1
    }

    pub fn out_width(&self) -> usize {
        (self.width - self.kernel[1]) / self.stride[1] + 1
    }

    fn out_pixels(&self) -> usize {
        self.out_height() * self.out_width()
    }

    /// Maximum of every window of `plane` into `out`, and its position in the plane into `at`.
    /// A NaN wins its window, as in burn and PyTorch.
    fn pool_plane(&self, plane: &[f32], out: &mut [f32], at: &mut [u32]) {
        let (ow_n, [kh, kw], [sh, sw]) = (self.out_width(), self.kernel, self.stride);
        for (oh, (out_row, at_row)) in out
            .chunks_exact_mut(ow_n)
            .zip(at.chunks_exact_mut(ow_n))
            .enumerate()
        {
            for (ow, (o, a)) in out_row.iter_mut().zip(at_row.iter_mut()).enumerate() {
                let first = oh * sh * self.width + ow * sw;
                let (mut best, mut best_at) = (plane[first], first);
                for i in 0..kh {
                    let row = first + i * self.width;
                    for (j, &v) in plane[row..row + kw].iter().enumerate() {
                        // the first maximum wins a tie; the last NaN wins over everything
                        if v > best || v.is_nan() {
                            best = v;
                            best_at = row + j;
                        }
                    }
                }
                *o = best;
                *a = best_at as u32;
            }
        }
    }
}

/// `x` `[planes, height, width]` → maxima `[planes, oh, ow]` and their positions in each plane.
pub fn forward(w: &Windows, planes: usize, x: &[f32]) -> (Vec<f32>, Vec<u32>) {
    let (size, pixels) = (w.height * w.width, w.out_pixels());
    let mut out = vec![0.0; planes * pixels];
    let mut at = vec![0u32; planes * pixels];
    out.par_chunks_mut(pixels)
        .zip(at.par_chunks_mut(pixels))
        .zip(x.par_chunks(size))
        .for_each(|((out, at), plane)| w.pool_plane(plane, out, at));
    (out, at)
}

/// Gradient of the input: each output's gradient added at the position of its maximum.
pub fn backward(w: &Windows, planes: usize, dy: &[f32], at: &[u32]) -> Vec<f32> {
    let (size, pixels) = (w.height * w.width, w.out_pixels());
    let mut dx = vec![0.0; planes * size];
    dx.par_chunks_mut(size)
        .zip(dy.par_chunks(pixels).zip(at.par_chunks(pixels)))
        .for_each(|(dx, (dy, at))| {
            for (&g, &a) in dy.iter().zip(at) {
                dx[a as usize] += g;
            }
        });
    dx
}
