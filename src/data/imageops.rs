//! Image operations on grey images stored row-major as `&[f32]` with pixel values in 0..=1:
//! edges (Sobel, outline, sharpness), resampling (block-mean downsampling, PyTorch-exact bicubic
//! upsampling), Gaussian blur, and the quality measures PSNR and SSIM.
//!
//! Every function takes the image's `rows` (height) and `cols` (width) and panics with a clear
//! message when `pixels.len() != rows * cols`. Borders are zero-padded where a filter needs pixels
//! outside the image, because digits lie on a black background.

/// Horizontal Sobel kernel, correlated (not flipped); the vertical one is its transpose.
const SOBEL_X: [[f32; 3]; 3] = [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]];

/// Keys' cubic-convolution parameter, the value PyTorch's bicubic uses (OpenCV's too).
const CUBIC_A: f64 = -0.75;

/// SSIM constants for data range 1: C1 = (0.01·1)², C2 = (0.03·1)².
const SSIM_C1: f64 = 0.01 * 0.01;
const SSIM_C2: f64 = 0.03 * 0.03;
/// SSIM window: Gaussian of σ = 1.5 truncated to radius 5, i.e. 11×11.
const SSIM_SIGMA: f64 = 1.5;
const SSIM_RADIUS: usize = 5;

/// Floor on the MSE in `psnr` so that identical images give 10·log10(1e10) = 100 dB.
const PSNR_MIN_MSE: f64 = 1e-10;

fn check_size(pixels: &[f32], rows: usize, cols: usize) {
    assert_eq!(
        pixels.len(),
        rows * cols,
        "image of {rows}×{cols} pixels needs {} values, got {}",
        rows * cols,
        pixels.len()
    );
}

/// Sobel gradient magnitude sqrt(Gx² + Gy²), Gx = [[-1,0,1],[-2,0,2],[-1,0,1]] ⋆ I, Gy = Gxᵀ ⋆ I,
/// with pixels outside the image taken as 0.
pub fn sobel(pixels: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    check_size(pixels, rows, cols);
    let at = |r: isize, c: isize| -> f32 {
        if r < 0 || c < 0 || r >= rows as isize || c >= cols as isize {
            0.0
        } else {
            pixels[r as usize * cols + c as usize]
        }
    };
    let mut magnitude = Vec::with_capacity(rows * cols);
    for r in 0..rows as isize {
        for c in 0..cols as isize {
            let (mut gx, mut gy) = (0.0f32, 0.0f32);
            for (i, kernel_row) in SOBEL_X.iter().enumerate() {
                for (j, &weight) in kernel_row.iter().enumerate() {
                    let value = at(r + i as isize - 1, c + j as isize - 1);
                    gx += weight * value;
                    // Gy's kernel is Gx's transpose: entry (i, j) of Gy is entry (j, i) of Gx.
                    gy += SOBEL_X[j][i] * value;
                }
            }
            magnitude.push((gx * gx + gy * gy).sqrt());
        }
    }
    magnitude
}

/// Edge map: 1.0 where sobel(I) > threshold, else 0.0.
pub fn outline(pixels: &[f32], rows: usize, cols: usize, threshold: f32) -> Vec<f32> {
    sobel(pixels, rows, cols)
        .into_iter()
        .map(|g| if g > threshold { 1.0 } else { 0.0 })
        .collect()
}

/// Sharpness: mean over the image of sobel(I) (0 for an empty image).
pub fn mean_gradient(pixels: &[f32], rows: usize, cols: usize) -> f64 {
    let gradient = sobel(pixels, rows, cols);
    if gradient.is_empty() {
        return 0.0;
    }
    gradient.iter().map(|&g| f64::from(g)).sum::<f64>() / gradient.len() as f64
}

/// Block mean: out[r][c] = mean of I over the factor×factor block at (r·factor, c·factor).
pub fn downsample(pixels: &[f32], rows: usize, cols: usize, factor: usize) -> Vec<f32> {
    check_size(pixels, rows, cols);
    assert!(factor > 0, "downsample factor must be at least 1");
    assert!(
        rows.is_multiple_of(factor) && cols.is_multiple_of(factor),
        "downsample: image of {rows}×{cols} is not a multiple of the factor {factor}"
    );
    let (out_rows, out_cols) = (rows / factor, cols / factor);
    let block_area = (factor * factor) as f64;
    let mut out = Vec::with_capacity(out_rows * out_cols);
    for r in 0..out_rows {
        for c in 0..out_cols {
            let block_rows = pixels[r * factor * cols..(r + 1) * factor * cols].chunks(cols);
            let sum: f64 = block_rows
                .flat_map(|row| &row[c * factor..(c + 1) * factor])
                .map(|&p| f64::from(p))
                .sum();
            out.push((sum / block_area) as f32);
        }
    }
    out
}

/// Keys' kernel W(x) with a = −0.75: (a+2)|x|³ − (a+3)|x|² + 1 for |x| ≤ 1,
/// a|x|³ − 5a|x|² + 8a|x| − 4a for 1 < |x| < 2, else 0.
fn cubic_weight(x: f64) -> f64 {
    let x = x.abs();
    if x <= 1.0 {
        ((CUBIC_A + 2.0) * x - (CUBIC_A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        ((CUBIC_A * x - 5.0 * CUBIC_A) * x + 8.0 * CUBIC_A) * x - 4.0 * CUBIC_A
    } else {
        0.0
    }
}

/// For each output index along one axis: the 4 source indices (clamped to the border) and their
/// weights, with source coordinate s = (d + 0.5)/factor − 0.5 as PyTorch's align_corners=False.
fn cubic_taps(in_len: usize, factor: usize) -> Vec<([usize; 4], [f64; 4])> {
    let last = in_len as isize - 1;
    (0..in_len * factor)
        .map(|d| {
            let source = (d as f64 + 0.5) / factor as f64 - 0.5;
            // Not clamped at 0 before the floor: PyTorch's cubic path lets s go negative.
            let base = source.floor();
            let t = source - base;
            let base = base as isize;
            let mut indices = [0usize; 4];
            let mut weights = [0.0f64; 4];
            for k in 0..4 {
                indices[k] = (base + k as isize - 1).clamp(0, last) as usize;
                weights[k] = cubic_weight(t - (k as f64 - 1.0));
            }
            (indices, weights)
        })
        .collect()
}

/// Bicubic upsampling by `factor`: out = clamp(Σᵢⱼ W(sᵧ−i)·W(sₓ−j)·I[clamp(i)][clamp(j)], 0, 1),
/// Keys a = −0.75, s = (d + 0.5)/factor − 0.5, as PyTorch's
/// `F.interpolate(x, scale_factor=factor, mode='bicubic', align_corners=False)`.
pub fn bicubic_upsample(pixels: &[f32], rows: usize, cols: usize, factor: usize) -> Vec<f32> {
    check_size(pixels, rows, cols);
    assert!(factor > 0, "bicubic_upsample factor must be at least 1");
    let row_taps = cubic_taps(rows, factor);
    let col_taps = cubic_taps(cols, factor);
    let mut out = Vec::with_capacity(row_taps.len() * col_taps.len());
    for (row_indices, row_weights) in &row_taps {
        for (col_indices, col_weights) in &col_taps {
            let mut value = 0.0f64;
            for (&i, &wy) in row_indices.iter().zip(row_weights) {
                let source_row = &pixels[i * cols..(i + 1) * cols];
                let along_row: f64 = col_indices
                    .iter()
                    .zip(col_weights)
                    .map(|(&j, &wx)| wx * f64::from(source_row[j]))
                    .sum();
                value += wy * along_row;
            }
            // The negative lobes of the kernel overshoot near edges; pixels stay in 0..=1.
            out.push(value.clamp(0.0, 1.0) as f32);
        }
    }
    out
}

/// Normalised 1-D Gaussian g(x) = exp(−x²/2σ²) / Σ g over x = −radius..=radius.
fn gaussian_kernel(sigma: f64, radius: usize) -> Vec<f64> {
    let radius = radius as isize;
    let raw: Vec<f64> = (-radius..=radius)
        .map(|x| (-((x * x) as f64) / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f64 = raw.iter().sum();
    raw.into_iter().map(|w| w / total).collect()
}

/// Separable Gaussian blur: out = g ⋆ (g ⋆ I along rows) along columns, g of radius ⌈3σ⌉
/// normalised to sum 1, pixels outside the image 0 — so mass near the borders leaks out and
/// the sum of the image drops there. σ ≤ 0 (or not finite) returns the image unchanged.
pub fn gaussian_blur(pixels: &[f32], rows: usize, cols: usize, sigma: f32) -> Vec<f32> {
    check_size(pixels, rows, cols);
    if !(sigma.is_finite() && sigma > 0.0) {
        return pixels.to_vec();
    }
    let radius = (3.0 * sigma).ceil() as usize;
    let kernel = gaussian_kernel(f64::from(sigma), radius);
    let radius = radius as isize;
    // Sum of kernel[k]·image[index(p + k − radius)], skipping taps that fall outside (zero padding).
    let blur_at = |len: usize, position: usize, value_at: &dyn Fn(usize) -> f64| -> f64 {
        kernel
            .iter()
            .enumerate()
            .filter_map(|(k, &w)| {
                let source = position as isize + k as isize - radius;
                (source >= 0 && source < len as isize).then(|| w * value_at(source as usize))
            })
            .sum()
    };
    let mut along_rows = vec![0.0f64; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            along_rows[r * cols + c] = blur_at(cols, c, &|j| f64::from(pixels[r * cols + j]));
        }
    }
    let mut out = vec![0.0f32; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            out[r * cols + c] = blur_at(rows, r, &|i| along_rows[i * cols + c]) as f32;
        }
    }
    out
}

/// PSNR for peak 1: 10·log10(1 / max(MSE, 1e-10)); the floor makes identical images 100 dB.
pub fn psnr(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(
        a.len(),
        b.len(),
        "psnr needs images of the same size, got {} and {} values",
        a.len(),
        b.len()
    );
    let squared_error: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum();
    let mse = squared_error / a.len().max(1) as f64;
    10.0 * (1.0 / mse.max(PSNR_MIN_MSE)).log10()
}

/// 'Valid' separable correlation with `kernel` (odd length): only positions where it fits whole.
fn filter_valid(image: &[f64], rows: usize, cols: usize, kernel: &[f64]) -> Vec<f64> {
    let span = kernel.len();
    let (out_rows, out_cols) = (rows + 1 - span, cols + 1 - span);
    let mut along_rows: Vec<f64> = Vec::with_capacity(rows * out_cols);
    for r in 0..rows {
        let row = &image[r * cols..(r + 1) * cols];
        for c in 0..out_cols {
            along_rows.push(
                kernel
                    .iter()
                    .zip(&row[c..c + span])
                    .map(|(w, v)| w * v)
                    .sum(),
            );
        }
    }
    let mut out = Vec::with_capacity(out_rows * out_cols);
    for r in 0..out_rows {
        for c in 0..out_cols {
            out.push(
                kernel
                    .iter()
                    .enumerate()
                    .map(|(k, w)| w * along_rows[(r + k) * out_cols + c])
                    .sum(),
            );
        }
    }
    out
}

/// Mean SSIM (Wang et al. 2004) = mean over valid windows of
/// (2μₐμᵦ + C1)(2σₐᵦ + C2) / ((μₐ² + μᵦ² + C1)(σₐ² + σᵦ² + C2)), 11×11 Gaussian window σ = 1.5,
/// C1 = 0.01², C2 = 0.03², population covariances; images must be at least 11×11.
pub fn ssim(a: &[f32], b: &[f32], rows: usize, cols: usize) -> f64 {
    check_size(a, rows, cols);
    check_size(b, rows, cols);
    let span = 2 * SSIM_RADIUS + 1;
    assert!(
        rows >= span && cols >= span,
        "ssim needs images of at least {span}×{span} for its window, got {rows}×{cols}"
    );
    let kernel = gaussian_kernel(SSIM_SIGMA, SSIM_RADIUS);
    let a: Vec<f64> = a.iter().map(|&p| f64::from(p)).collect();
    let b: Vec<f64> = b.iter().map(|&p| f64::from(p)).collect();
    let product =
        |x: &[f64], y: &[f64]| -> Vec<f64> { x.iter().zip(y).map(|(p, q)| p * q).collect() };
    let mean_a = filter_valid(&a, rows, cols, &kernel);
    let mean_b = filter_valid(&b, rows, cols, &kernel);
    let mean_aa = filter_valid(&product(&a, &a), rows, cols, &kernel);
    let mean_bb = filter_valid(&product(&b, &b), rows, cols, &kernel);
    let mean_ab = filter_valid(&product(&a, &b), rows, cols, &kernel);
    let positions = mean_a.len();
    let total: f64 = (0..positions)
        .map(|i| {
            let (mu_a, mu_b) = (mean_a[i], mean_b[i]);
            // Population (divide-by-weight-sum) moments: E[x²] − E[x]², as skimage without
            // use_sample_covariance.
            let var_a = mean_aa[i] - mu_a * mu_a;
            let var_b = mean_bb[i] - mu_b * mu_b;
            let cov_ab = mean_ab[i] - mu_a * mu_b;
            ((2.0 * mu_a * mu_b + SSIM_C1) * (2.0 * cov_ab + SSIM_C2))
                / ((mu_a * mu_a + mu_b * mu_b + SSIM_C1) * (var_a + var_b + SSIM_C2))
        })
        .sum();
    total / positions as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_close(actual: &[f32], expected: &[f32], tolerance: f32) {
        assert_eq!(actual.len(), expected.len());
        for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
            assert!(
                (a - e).abs() <= tolerance,
                "pixel {i}: got {a}, expected {e}"
            );
        }
    }

    /// 28×28 disk of radius `radius` centred at (cy, cx): 1 inside, 0 outside.
    fn disk(cy: f32, cx: f32, radius: f32) -> Vec<f32> {
        (0..28 * 28)
            .map(|i| {
                let (r, c) = ((i / 28) as f32, (i % 28) as f32);
                if (r - cy).powi(2) + (c - cx).powi(2) <= radius * radius {
                    1.0
                } else {
                    0.0
                }
            })
            .collect()
    }

    #[test]
    fn sobel_of_vertical_step_edge_matches_hand_computed_values() {
        // 5×5, columns 0–1 black, columns 2–4 white. Interior rows: Gy = 0 (rows above and
        // below agree), Gx = (1+2+1)·(right − left) = 4 at columns 1 and 2 (the step), 0 at
        // column 3 (flat), −4 at column 4 (white against the zero padding), 0 at column 0.
        // Top row (row above is padding): column 1: Gx = 2·1 + 1·1 = 3, Gy = 0+2·0+1 = 1 → √10;
        // column 2: Gx = 3, Gy = 0+2+1 = 3 → √18; column 3: Gx = 0, Gy = 1+2+1 = 4;
        // column 4: Gx = −2 − 1 = −3, Gy = 1+2+0 = 3 → √18. The bottom row mirrors it.
        let pixels: Vec<f32> = (0..25)
            .map(|i| if i % 5 >= 2 { 1.0 } else { 0.0 })
            .collect();
        let (s10, s18) = (10f32.sqrt(), 18f32.sqrt());
        let edge_row = [0.0, s10, s18, 4.0, s18];
        let inner_row = [0.0, 4.0, 4.0, 0.0, 4.0];
        let expected: Vec<f32> = [edge_row, inner_row, inner_row, inner_row, edge_row].concat();
        assert_close(&sobel(&pixels, 5, 5), &expected, 1e-6);
    }

    #[test]
    fn outline_of_filled_square_is_its_border_ring() {
        // 8×8 with a white square at rows/cols 2..=5. A 3×3 Sobel marks two pixels across each
        // edge — the square's own border and the black pixels touching it (gradients 4, √10,
        // √18, corners outside √2) — while the square's 2×2 core and the far background are 0.
        let pixels: Vec<f32> = (0..64)
            .map(|i| {
                let (r, c) = (i / 8, i % 8);
                if (2..=5).contains(&r) && (2..=5).contains(&c) {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        let expected: Vec<f32> = (0..64)
            .map(|i| {
                let (r, c) = (i / 8, i % 8);
                let near_square = (1..=6).contains(&r) && (1..=6).contains(&c);
                let core = (3..=4).contains(&r) && (3..=4).contains(&c);
                if near_square && !core { 1.0 } else { 0.0 }
            })
            .collect();
        assert_eq!(outline(&pixels, 8, 8, 1.0), expected);
    }

    #[test]
    fn downsample_of_4x4_gives_hand_computed_block_means() {
        // Pixels k/16 for k = 0..16. Top-left block {0,1,4,5}/16 → 10/64; top-right {2,3,6,7}
        // → 18/64; bottom-left {8,9,12,13} → 42/64; bottom-right {10,11,14,15} → 50/64.
        let pixels: Vec<f32> = (0..16).map(|k| k as f32 / 16.0).collect();
        let expected = [10.0 / 64.0, 18.0 / 64.0, 42.0 / 64.0, 50.0 / 64.0];
        assert_close(&downsample(&pixels, 4, 4, 2), &expected, 1e-7);
    }

    #[test]
    #[should_panic(expected = "not a multiple of the factor")]
    fn downsample_rejects_size_not_multiple_of_factor() {
        downsample(&[0.0; 15], 3, 5, 2);
    }

    #[test]
    fn bicubic_upsample_reproduces_a_constant_image_exactly() {
        // The four Keys weights sum to 1 for every phase, and border taps are clamped, so a
        // constant stays constant everywhere, edges included.
        let out = bicubic_upsample(&[0.37; 5 * 3], 5, 3, 3);
        assert_eq!(out.len(), 15 * 9);
        assert_close(&out, &[0.37; 15 * 9], 1e-6);
    }

    #[test]
    fn bicubic_upsample_matches_pytorch() {
        // Produced by: x = torch.tensor(INPUT, dtype=torch.float32).reshape(1, 1, 4, 4);
        // torch.nn.functional.interpolate(x, scale_factor=2, mode='bicubic',
        // align_corners=False) with torch 2.15.0 on CPU, printed to 7 decimals. Its values lie in
        // 0.037..0.942, so the clamp to 0..=1 does not touch them.
        const INPUT: [f32; 16] = [
            0.10, 0.35, 0.60, 0.30, 0.45, 0.80, 0.55, 0.20, 0.70, 0.25, 0.40, 0.65, 0.15, 0.50,
            0.75, 0.90,
        ];
        const EXPECTED: [f32; 64] = [
            0.0378311, 0.106694, 0.2163589, 0.4067436, 0.5761878, 0.5704285, 0.3879639, 0.2794625,
            0.1387848, 0.2343414, 0.3902069, 0.5424882, 0.6117904, 0.5315674, 0.3411499, 0.2264633,
            0.3009125, 0.4439057, 0.6816437, 0.7730759, 0.6745499, 0.4672119, 0.2599732, 0.1328018,
            0.5469467, 0.6047211, 0.7025543, 0.6887414, 0.5753671, 0.426799, 0.3239334, 0.2598549,
            0.7505447, 0.6333649, 0.4399749, 0.3299507, 0.3629845, 0.4264419, 0.4914291, 0.5311211,
            0.6390014, 0.5141998, 0.3059784, 0.2498474, 0.3717346, 0.5519806, 0.6958099, 0.7847534,
            0.2685669, 0.3067718, 0.3667023, 0.486737, 0.5952454, 0.734787, 0.8237702, 0.8796143,
            0.0461792, 0.1812454, 0.4004745, 0.6263077, 0.7284469, 0.8459885, 0.9039322, 0.9410751,
        ];
        assert_close(&bicubic_upsample(&INPUT, 4, 4, 2), &EXPECTED, 1e-5);
    }

    #[test]
    fn gaussian_blur_keeps_interior_impulse_mass_and_is_symmetric() {
        // σ = 1 → radius 3; an impulse at the centre of 15×15 is 7 pixels from every border, so
        // nothing leaks: the sum stays 1 and the result is symmetric about both axes and the
        // diagonal, peaking at the centre.
        let mut pixels = vec![0.0f32; 15 * 15];
        pixels[7 * 15 + 7] = 1.0;
        let out = gaussian_blur(&pixels, 15, 15, 1.0);
        let total: f32 = out.iter().sum();
        assert!((total - 1.0).abs() < 1e-5, "sum {total}");
        for r in 0..15 {
            for c in 0..15 {
                let v = out[r * 15 + c];
                assert!((v - out[c * 15 + r]).abs() < 1e-7, "diagonal at ({r}, {c})");
                assert!(
                    (v - out[(14 - r) * 15 + c]).abs() < 1e-7,
                    "vertical at ({r}, {c})"
                );
                assert!(
                    (v - out[r * 15 + 14 - c]).abs() < 1e-7,
                    "horizontal at ({r}, {c})"
                );
                assert!(v <= out[7 * 15 + 7]);
            }
        }
        // Only within the radius: 4 pixels away from the centre the blur is exactly 0.
        assert_eq!(out[7 * 15 + 11], 0.0);
    }

    #[test]
    fn gaussian_blur_leaks_mass_at_zero_padded_border() {
        let mut pixels = vec![0.0f32; 9 * 9];
        pixels[0] = 1.0;
        let total: f32 = gaussian_blur(&pixels, 9, 9, 1.0).iter().sum();
        assert!(
            total < 0.5,
            "a corner impulse keeps only about a quarter, got {total}"
        );
    }

    #[test]
    fn psnr_of_uniform_error_of_0_1_is_20_db() {
        // MSE = 0.1² = 0.01 → 10·log10(100) = 20 dB.
        let a = vec![0.5f32; 64];
        let b: Vec<f32> = (0..64)
            .map(|i| if i % 2 == 0 { 0.6 } else { 0.4 })
            .collect();
        assert!((psnr(&a, &b) - 20.0).abs() < 1e-4);
    }

    #[test]
    fn psnr_of_identical_images_is_100_db() {
        let a = disk(14.0, 14.0, 6.0);
        assert!((psnr(&a, &a) - 100.0).abs() < 1e-9);
    }

    #[test]
    fn ssim_of_image_with_itself_is_one() {
        let a = gaussian_blur(&disk(13.0, 14.0, 7.0), 28, 28, 1.0);
        assert!((ssim(&a, &a, 28, 28) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn ssim_matches_skimage() {
        // a = disk (radius 7 at (14, 14)), b = disk shifted to (15, 13) then gaussian_blur σ 1;
        // value from skimage.metrics.structural_similarity(a, b, data_range=1.0,
        // gaussian_weights=True, sigma=1.5, use_sample_covariance=False) on the same arrays
        // with a, b as float64 arrays of these f32 pixels (skimage computes in float32 for
        // float32 input, which moves the 7th digit). Tolerance 1e-6, tighter than the 1.3e-4 by
        // which sample covariances (skimage's default) would change the value.
        let a = disk(14.0, 14.0, 7.0);
        let b = gaussian_blur(&disk(15.0, 13.0, 7.0), 28, 28, 1.0);
        let expected = 0.546_158_127_401_399;
        let value = ssim(&a, &b, 28, 28);
        assert!(
            (value - expected).abs() < 1e-6,
            "ssim {value}, skimage {expected}"
        );
    }

    #[test]
    fn mean_gradient_of_blurred_digit_is_lower_than_sharp() {
        // A "0"-like ring: disk of radius 8 minus disk of radius 5.
        let outer = disk(14.0, 14.0, 8.0);
        let inner = disk(14.0, 14.0, 5.0);
        let ring: Vec<f32> = outer.iter().zip(&inner).map(|(o, i)| o - i).collect();
        let blurred = gaussian_blur(&ring, 28, 28, 1.5);
        let (sharp_score, blurred_score) = (
            mean_gradient(&ring, 28, 28),
            mean_gradient(&blurred, 28, 28),
        );
        assert!(
            blurred_score < 0.8 * sharp_score,
            "blurred {blurred_score} vs sharp {sharp_score}"
        );
    }
}
