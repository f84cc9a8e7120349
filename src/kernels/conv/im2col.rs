//! The `cols` of an image for a convolution's matrix products (see [`super::products`]), and the
//! way back: [`im2col`] copies each input pixel where each kernel offset reads it, [`col2im`]
//! sums each entry back into the pixel it was read from; strided convolutions go through the
//! phase layout of [`Geometry::phase`], where every run of `cols` is a contiguous copy.

use std::mem::MaybeUninit;

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

    pub fn out_pixels(&self) -> usize {
        self.out_height() * self.out_width()
    }

    /// Rows of `cols`: channels × kernel positions.
    pub fn patch(&self) -> usize {
        self.channels * self.kernel[0] * self.kernel[1]
    }

    pub fn in_pixels(&self) -> usize {
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
    ///
    /// With `gaps`, a run may also span output rows whose ends read the padding, when the
    /// input rows are as wide as the output rows: the run then copies a neighbouring row's
    /// values into those ends, which the caller must zero (`Run::gap` entries after each of
    /// the run's rows but the last). [`im2col`] does: one copy and a few zeros instead of one
    /// short copy per row (7 values a row in the 7×7 layers). [`col2im`] cannot: it would add
    /// those entries into the image, so it takes the runs row by row.
    fn for_each_run(&self, ld: usize, gaps: bool, mut visit: impl FnMut(Run)) {
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
                let (valid, rows) = (ow_last - ow_first, oh_last - oh_first);
                // Output rows that read rows of a sub-image as wide follow each other in `cols`
                // and in the input alike, so they make one run: whole rows always; rows with
                // padding at their ends when the caller zeroes the gaps.
                let (runs, len, gap) = if width == ow_n && (valid == ow_n || gaps) {
                    (1, (rows - 1) * ow_n + valid, ow_n - valid)
                } else {
                    (rows, valid, 0)
                };
                for c in 0..self.channels {
                    let row = (c * kh_n + i) * kw_n + j;
                    for n in 0..runs {
                        visit(Run {
                            at: row * ld + (oh_first + n) * ow_n + ow_first,
                            from: c * plane + first + n * width,
                            len,
                            gap,
                            row_len: ow_n,
                        });
                    }
                }
            }
        }
    }
}

/// A stretch of one row of `cols` that lies inside the image, or several output rows of it (see
/// [`Geometry::for_each_run`]): then `gap` entries after each output row but the last, every
/// `row_len`, read the padding.
struct Run {
    at: usize,
    from: usize,
    len: usize,
    gap: usize,
    row_len: usize,
}

impl Run {
    /// The entries of `cols` (from the run's start) that read the padding: `gap` of them at the
    /// end of every output row of the run but the last.
    fn gaps(&self) -> impl Iterator<Item = std::ops::Range<usize>> {
        let valid = self.row_len - self.gap;
        let starts = (valid..self.len).step_by(self.row_len.max(1));
        starts
            .take_while(move |_| self.gap > 0)
            .map(move |start| start..start + self.gap)
    }
}

/// `cols` of one image `x` (`[channels, height, width]`): `[patch, out_pixels]` with rows `ld`
/// apart; `phased` is scratch space of the image's size, used when the stride is above 1.
///
/// Only the entries that read inside the image are written: `cols` must start zeroed, and a
/// buffer reused for several images of one geometry keeps its padding entries at zero, since no
/// run ever writes them. (Clearing the whole buffer for every image cost 2–4% of a step.)
pub fn im2col(g: &Geometry, x: &[f32], cols: &mut [f32], ld: usize, phased: &mut [f32]) {
    let x = if g.strided() {
        g.split_into_phases(x, phased);
        &*phased
    } else {
        x
    };
    g.for_each_run(ld, true, |run| {
        let target = &mut cols[run.at..run.at + run.len];
        target.copy_from_slice(&x[run.from..run.from + run.len]);
        for gap in run.gaps() {
            target[gap].fill(0.0);
        }
    });
}

/// Sums each entry of `cols` (rows `ld` apart) into the pixel of `dx` it was read from; every
/// entry of `dx` is written. `phased` as in [`im2col`].
pub fn col2im(
    g: &Geometry,
    cols: &[f32],
    ld: usize,
    dx: &mut [MaybeUninit<f32>],
    phased: &mut [f32],
) {
    let add_runs = |target: &mut [f32]| {
        g.for_each_run(ld, false, |run| {
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
