//! The recurrence of a GRU (PyTorch's formulation, burn's `reset_after`), all time steps in one
//! operation, with its backward pass through time written out.
//!
//! With the input parts `gx = x·W_x + b_x` computed beforehand for every step (one product), and
//! `hp = h_{t−1}·W_h + b_h` (gates in the order update z, reset r, new n):
//! - `z = σ(gx_z + hp_z)`, `r = σ(gx_r + hp_r)`, `n = tanh(gx_n + r ⊙ hp_n)`;
//! - `h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}`, from `h_0 = 0`.
//!
//! Backward, from `dh_t` (the output's gradient plus what step t+1 sends back):
//! - `dn = dh ⊙ (1 − z)`, `dz = dh ⊙ (h_{t−1} − n)`;
//! - `da_n = dn ⊙ (1 − n²)`, `da_r = da_n ⊙ hp_n ⊙ r(1 − r)`, `da_z = dz ⊙ z(1 − z)`;
//! - `dgx = [da_z, da_r, da_n]`, `dhp = [da_z, da_r, da_n ⊙ r]`;
//! - `dh_{t−1} = dh ⊙ z + dhp · W_hᵀ`, `dW_h = Σ_t h_{t−1}ᵀ · dhp_t`, `db_h = Σ_t Σ_b dhp_t`.
//!
//! Why by hand: burn runs a GRU as some fifteen tensor operations per step, each recorded for
//! autodiff, with scalar `expf`/`tanhf`; in the benchmark's `gru_train` those took a third of the
//! time. Here the rows of the batch are independent, so each thread runs the whole recurrence
//! of its share of the rows, and the activations are written so that the compiler vectorises them.

use rayon::prelude::*;

use crate::kernels::activation::{sigmoid_in_place, tanh_in_place};
use crate::kernels::product::{Strided, matmul};

/// Sizes of one recurrence: `batch` sequences of `steps` steps, `hidden` units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recurrence {
    pub batch: usize,
    pub steps: usize,
    pub hidden: usize,
}

/// What the forward pass keeps per row and step for the backward pass: z, r, n and hp_n.
const SAVED: usize = 4;

impl Recurrence {
    /// The rows of the batch each thread takes.
    fn shares(&self) -> usize {
        let threads = rayon::current_num_threads().max(1);
        self.batch.div_ceil(threads).max(1)
    }
}

/// Runs the recurrence on `gx` (`[batch, steps, 3·hidden]`), `wh` (`[hidden, 3·hidden]`) and `bh`
/// (`[3·hidden]`): returns every hidden state `[batch, steps, hidden]` and the saved gates
/// `[batch, steps, 4·hidden]`, for the backward pass.
pub fn forward(shape: &Recurrence, gx: &[f32], wh: &[f32], bh: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let Recurrence {
        batch,
        steps,
        hidden: h,
    } = *shape;
    let rows = shape.shares();
    let mut hs = vec![0.0; batch * steps * h];
    let mut saved = vec![0.0; batch * steps * SAVED * h];
    hs.par_chunks_mut(rows * steps * h)
        .zip(saved.par_chunks_mut(rows * steps * SAVED * h))
        .zip(gx.par_chunks(rows * steps * 3 * h))
        .for_each(|((hs, saved), gx)| forward_rows(shape, (gx, wh, bh), hs, Some(saved)));
    (hs, saved)
}

/// The hidden states of [`forward`] alone, the gates not saved: for inference, where no backward
/// pass follows.
pub fn hidden_states(shape: &Recurrence, gx: &[f32], wh: &[f32], bh: &[f32]) -> Vec<f32> {
    let Recurrence {
        batch,
        steps,
        hidden: h,
    } = *shape;
    let rows = shape.shares();
    let mut hs = vec![0.0; batch * steps * h];
    hs.par_chunks_mut(rows * steps * h)
        .zip(gx.par_chunks(rows * steps * 3 * h))
        .for_each(|(hs, gx)| forward_rows(shape, (gx, wh, bh), hs, None));
    hs
}

/// The recurrence over the rows of one thread's share: their `gx` in, their hidden states into
/// `hs`, and their gates into `saved` when it is given.
fn forward_rows(
    shape: &Recurrence,
    (gx, wh, bh): (&[f32], &[f32], &[f32]),
    hs: &mut [f32],
    mut saved: Option<&mut [f32]>,
) {
    let Recurrence {
        steps, hidden: h, ..
    } = *shape;
    let m = hs.len() / (steps * h);
    let mut hp = vec![0.0; m * 3 * h];
    let mut a = vec![0.0; 3 * h];
    for t in 0..steps {
        // hp = h_{t−1} · W_h + b_h (h_0 = 0), the rows of h_{t−1} a sequence apart in `hs`
        hp.chunks_mut(3 * h).for_each(|row| row.copy_from_slice(bh));
        if t > 0 {
            matmul(
                (m, 3 * h, h),
                Strided::new(&mut hp, (3 * h, 1)),
                true,
                (&hs[(t - 1) * h..], (steps * h, 1)),
                (wh, (3 * h, 1)),
            );
        }
        for b in 0..m {
            let at = (b * steps + t) * h;
            let gx = &gx[(b * steps + t) * 3 * h..][..3 * h];
            let hp = &hp[b * 3 * h..][..3 * h];
            // a = [gx_z + hp_z, gx_r + hp_r, ·], then z, r in place
            a.iter_mut()
                .zip(gx.iter().zip(hp))
                .for_each(|(a, (x, p))| *a = x + p);
            sigmoid_in_place(&mut a[..2 * h]);
            let (zr, a_n) = a.split_at_mut(2 * h);
            let (z, r) = zr.split_at(h);
            let hp_n = &hp[2 * h..];
            a_n.iter_mut()
                .zip(&gx[2 * h..])
                .zip(r.iter().zip(hp_n))
                .for_each(|((a, x), (r, p))| *a = x + r * p);
            tanh_in_place(a_n);
            let n = &*a_n;
            let (before, now) = hs.split_at_mut(at);
            let h_prev = (t > 0).then(|| &before[at - h..]);
            for j in 0..h {
                let prev = h_prev.map_or(0.0, |p| p[j]);
                now[j] = (1.0 - z[j]) * n[j] + z[j] * prev;
            }
            if let Some(saved) = saved.as_deref_mut() {
                let saved = &mut saved[at * SAVED..][..SAVED * h];
                saved[..h].copy_from_slice(z);
                saved[h..2 * h].copy_from_slice(r);
                saved[2 * h..3 * h].copy_from_slice(n);
                saved[3 * h..].copy_from_slice(hp_n);
            }
        }
    }
}

/// Gradients of the recurrence: from that of every hidden state `dhs` (`[batch, steps, hidden]`),
/// the forward pass's `hs` and `saved`, and `wh`; returns `(dgx, dwh, dbh)`.
pub fn backward(
    shape: &Recurrence,
    dhs: &[f32],
    hs: &[f32],
    saved: &[f32],
    wh: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let Recurrence {
        batch,
        steps,
        hidden: h,
    } = *shape;
    let rows = shape.shares();
    let mut dgx = vec![0.0; batch * steps * 3 * h];
    let partial: Vec<(Vec<f32>, Vec<f32>)> = dgx
        .par_chunks_mut(rows * steps * 3 * h)
        .zip(dhs.par_chunks(rows * steps * h))
        .zip(hs.par_chunks(rows * steps * h))
        .zip(saved.par_chunks(rows * steps * SAVED * h))
        .map(|(((dgx, dhs), hs), saved)| {
            let m = hs.len() / (steps * h);
            // dhp of every row and step, and h_{t−1} beside it (0 at t = 0), for dW_h at the end
            let mut dhp = vec![0.0; m * steps * 3 * h];
            let mut h_prev = vec![0.0; m * steps * h];
            for b in 0..m {
                h_prev[(b * steps + 1) * h..(b + 1) * steps * h]
                    .copy_from_slice(&hs[b * steps * h..((b + 1) * steps - 1) * h]);
            }
            let mut dh = vec![0.0; m * h];
            let mut dh_next = vec![0.0; m * h];
            for t in (0..steps).rev() {
                for b in 0..m {
                    let at = (b * steps + t) * h;
                    let dh = &mut dh[b * h..][..h];
                    dh.iter_mut()
                        .zip(&dhs[at..at + h])
                        .for_each(|(d, g)| *d += g);
                    let saved = &saved[at * SAVED..][..SAVED * h];
                    let (z, r, n, hp_n) = (
                        &saved[..h],
                        &saved[h..2 * h],
                        &saved[2 * h..3 * h],
                        &saved[3 * h..],
                    );
                    let prev = &h_prev[at..at + h];
                    let dgx = &mut dgx[at * 3..][..3 * h];
                    let dhp = &mut dhp[at * 3..][..3 * h];
                    let dh_keep = &mut dh_next[b * h..][..h];
                    for j in 0..h {
                        let (z, r, n) = (z[j], r[j], n[j]);
                        let da_n = dh[j] * (1.0 - z) * (1.0 - n * n);
                        let da_r = da_n * hp_n[j] * r * (1.0 - r);
                        let da_z = dh[j] * (prev[j] - n) * z * (1.0 - z);
                        dgx[j] = da_z;
                        dgx[h + j] = da_r;
                        dgx[2 * h + j] = da_n;
                        dhp[j] = da_z;
                        dhp[h + j] = da_r;
                        dhp[2 * h + j] = da_n * r;
                        dh_keep[j] = dh[j] * z;
                    }
                }
                if t > 0 {
                    // dh_{t−1} = dh ⊙ z + dhp · W_hᵀ
                    matmul(
                        (m, h, 3 * h),
                        Strided::new(&mut dh_next, (h, 1)),
                        true,
                        (&dhp[t * 3 * h..], (steps * 3 * h, 1)),
                        (wh, (1, 3 * h)),
                    );
                }
                std::mem::swap(&mut dh, &mut dh_next);
            }
            // dW_h = Σ over rows and steps of h_{t−1}ᵀ · dhp
            let mut dwh = vec![0.0; h * 3 * h];
            matmul(
                (h, 3 * h, m * steps),
                Strided::new(&mut dwh, (3 * h, 1)),
                false,
                (&h_prev, (1, h)),
                (&dhp, (3 * h, 1)),
            );
            let mut dbh = vec![0.0; 3 * h];
            for row in dhp.chunks(3 * h) {
                dbh.iter_mut().zip(row).for_each(|(d, g)| *d += g);
            }
            (dwh, dbh)
        })
        .collect();
    let mut dwh = vec![0.0; h * 3 * h];
    let mut dbh = vec![0.0; 3 * h];
    for (w, b) in partial {
        dwh.iter_mut().zip(w).for_each(|(t, d)| *t += d);
        dbh.iter_mut().zip(b).for_each(|(t, d)| *t += d);
    }
    (dgx, dwh, dbh)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_states_are_those_of_the_forward_pass_that_saves_the_gates() {
        // rows that do not split evenly between the threads, one row and step, a wider layer
        for (batch, steps, hidden) in [(7, 5, 6), (1, 1, 3), (33, 4, 17)] {
            let shape = Recurrence {
                batch,
                steps,
                hidden,
            };
            // a fixed sequence of values in [-2, 2)
            let mut seed = 1u32;
            let mut values = |len: usize| -> Vec<f32> {
                (0..len)
                    .map(|_| {
                        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                        (seed >> 8) as f32 / (1 << 22) as f32 - 2.0
                    })
                    .collect()
            };
            let gx = values(batch * steps * 3 * hidden);
            let wh = values(hidden * 3 * hidden);
            let bh = values(3 * hidden);
            let (hs, saved) = forward(&shape, &gx, &wh, &bh);
            assert_eq!(saved.len(), batch * steps * SAVED * hidden);
            assert_eq!(hidden_states(&shape, &gx, &wh, &bh), hs);
        }
    }
}
