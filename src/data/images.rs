//! Labelled grey images in memory, their burn `Dataset` and `Batcher`, and user pictures
//! (PNG files, IDX files) turned into MNIST-like inputs for `neurons predict`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::idx::{self, IdxImages};
use crate::error::{Error, Result};

/// One split of an image data set: `len()` images of `rows`×`cols` bytes and their labels.
#[derive(Debug, Clone)]
pub struct ImageSet {
    pub rows: usize,
    pub cols: usize,
    pub pixels: Vec<u8>,
    pub labels: Vec<u8>,
}

impl ImageSet {
    /// Pairs images with labels, checking that the counts agree and that every label is a class
    /// below `n_classes`. `paths` name the two files in errors.
    pub fn new(
        images: IdxImages,
        labels: Vec<u8>,
        paths: (&Path, &Path),
        n_classes: u8,
    ) -> Result<Self> {
        if images.count != labels.len() {
            return Err(Error::CountMismatch {
                images_path: paths.0.to_path_buf(),
                images: images.count,
                labels_path: paths.1.to_path_buf(),
                labels: labels.len(),
            });
        }
        if let Some((index, &label)) = labels.iter().enumerate().find(|(_, l)| **l >= n_classes) {
            return Err(Error::BadLabel {
                path: paths.1.to_path_buf(),
                index,
                label,
                max: n_classes - 1,
            });
        }
        Ok(Self {
            rows: images.rows,
            cols: images.cols,
            pixels: images.pixels,
            labels,
        })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The pixels of image `i`, row-major.
    pub fn image(&self, i: usize) -> &[u8] {
        let size = self.rows * self.cols;
        &self.pixels[i * size..(i + 1) * size]
    }

    /// Image `i` as floats in 0..=1.
    pub fn image_f32(&self, i: usize) -> Vec<f32> {
        self.image(i).iter().map(|&p| p as f32 / 255.0).collect()
    }

    /// The mean image, pixel by pixel, in 0..=1.
    pub fn mean_image(&self) -> Vec<f32> {
        let size = self.rows * self.cols;
        let mut sum = vec![0.0f64; size];
        for image in self.pixels.chunks(size) {
            for (s, &p) in sum.iter_mut().zip(image) {
                *s += p as f64;
            }
        }
        let n = self.len().max(1) as f64 * 255.0;
        sum.iter().map(|s| (s / n) as f32).collect()
    }

    /// Mean and standard deviation of all pixels, scaled to 0..=1.
    pub fn pixel_statistics(&self) -> (f32, f32) {
        let n = self.pixels.len().max(1) as f64;
        let mean = self.pixels.iter().map(|&p| p as f64 / 255.0).sum::<f64>() / n;
        let var = self
            .pixels
            .iter()
            .map(|&p| (p as f64 / 255.0 - mean).powi(2))
            .sum::<f64>()
            / n;
        (mean as f32, var.sqrt().max(1e-6) as f32)
    }

    /// The first `n` images only (for `--quick` runs).
    pub fn truncated(&self, n: usize) -> Self {
        let n = n.min(self.len());
        Self {
            rows: self.rows,
            cols: self.cols,
            pixels: self.pixels[..n * self.rows * self.cols].to_vec(),
            labels: self.labels[..n].to_vec(),
        }
    }
}

/// A labelled image data set with its train and test splits.
#[derive(Debug, Clone)]
pub struct ImageDataset {
    /// What `--dataset` calls it, or the folder it came from.
    pub name: String,
    /// Where it came from, for `config.toml`.
    pub origin: String,
    pub classes: Vec<String>,
    pub train: ImageSet,
    pub test: ImageSet,
    /// The user's folder (absolute) and the SHA-256 of its four IDX files; none for the
    /// embedded and downloaded sets, which are known by their name.
    pub folder: Option<(PathBuf, String)>,
}

/// The image sizes a lab's network takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageShape {
    /// Any size of at least one pixel (a dense network sizes its input from the data).
    Any,
    /// At least `rows`×`cols` (two poolings of a CNN).
    AtLeast(usize, usize),
    /// Exactly `rows`×`cols` (a network built for MNIST's 28×28).
    Exactly(usize, usize),
}

impl ImageDataset {
    /// The first `train` and `test` images only (`--quick` runs, and resumed ones).
    pub fn truncated(self, train: usize, test: usize) -> Self {
        Self {
            train: self.train.truncated(train),
            test: self.test.truncated(test),
            ..self
        }
    }

    /// Refuses a data set that `lab` cannot learn from, before any run directory exists: an
    /// empty split, or images of a size its network does not take. The error names the file.
    pub fn require(&self, lab: &str, shape: ImageShape) -> Result<()> {
        let file = |i: usize| match &self.folder {
            Some((dir, _)) => dir.join(super::mnist::IDX_FILES[i]).display().to_string(),
            None => format!("{}/{}", self.name, super::mnist::IDX_FILES[i]),
        };
        for (split, set, index) in [("training", &self.train, 0), ("test", &self.test, 2)] {
            if set.is_empty() {
                return Err(Error::BadIdx {
                    path: file(index).into(),
                    reason: format!("no {split} images: {lab} needs at least one"),
                });
            }
        }
        let (rows, cols) = (self.train.rows, self.train.cols);
        if (self.test.rows, self.test.cols) != (rows, cols) {
            return Err(Error::BadIdx {
                path: file(2).into(),
                reason: format!(
                    "test images of {}×{} pixels, training images of {rows}×{cols}: both splits must have one size",
                    self.test.rows, self.test.cols
                ),
            });
        }
        let most = super::limits::MAX_IMAGE_SIDE;
        let fits = match shape {
            ImageShape::Any => rows >= 1 && cols >= 1,
            ImageShape::AtLeast(r, c) => rows >= r && cols >= c,
            ImageShape::Exactly(r, c) => (rows, cols) == (r, c),
        } && rows <= most
            && cols <= most;
        if fits {
            return Ok(());
        }
        let wanted = match shape {
            ImageShape::Any => format!("from 1×1 to {most}×{most}"),
            ImageShape::AtLeast(r, c) => format!("from {r}×{c} to {most}×{most}"),
            ImageShape::Exactly(r, c) => format!("of {r}×{c}"),
        };
        Err(Error::BadIdx {
            path: file(0).into(),
            reason: format!("images of {rows}×{cols} pixels: {lab} takes images {wanted}"),
        })
    }
}

/// One image and its label, as burn's data loader hands them to the batcher.
#[derive(Debug, Clone)]
pub struct ImageItem {
    pub pixels: Vec<u8>,
    pub label: u8,
}

/// An [`ImageSet`] seen through burn's `Dataset` trait.
pub struct ImageSetDataset {
    set: Arc<ImageSet>,
}

impl ImageSetDataset {
    pub fn new(set: Arc<ImageSet>) -> Self {
        Self { set }
    }
}

impl Dataset<ImageItem> for ImageSetDataset {
    fn get(&self, index: usize) -> std::result::Result<ImageItem, DatasetError> {
        if index >= self.set.len() {
            return Err(DatasetError::new(std::io::Error::other(format!(
                "image {index} of a set of {}",
                self.set.len()
            ))));
        }
        Ok(ImageItem {
            pixels: self.set.image(index).to_vec(),
            label: self.set.labels[index],
        })
    }

    fn len(&self) -> usize {
        self.set.len()
    }
}

/// A batch of images and their classes.
#[derive(Debug, Clone)]
pub struct ImageBatch {
    /// Pixels scaled to 0..=1: `[batch, 1, rows, cols]`.
    pub images: Tensor<4>,
    /// `[batch]`
    pub targets: Tensor<1, Int>,
}

/// Turns image items into an [`ImageBatch`] on the loader's device.
#[derive(Debug, Clone, Copy)]
pub struct ImageBatcher {
    pub rows: usize,
    pub cols: usize,
}

impl Batcher<ImageItem, ImageBatch> for ImageBatcher {
    fn batch(&self, items: Vec<ImageItem>, device: &Device) -> ImageBatch {
        let batch = items.len();
        let pixels: Vec<f32> = items
            .iter()
            .flat_map(|item| item.pixels.iter().map(|&p| p as f32 / 255.0))
            .collect();
        let targets: Vec<i64> = items.iter().map(|item| item.label as i64).collect();
        ImageBatch {
            images: Tensor::from_data(
                TensorData::new(pixels, [batch, 1, self.rows, self.cols]),
                device,
            ),
            targets: Tensor::from_data(TensorData::new(targets, [batch]), device),
        }
    }
}

/// A loader of batches of `set` on `device`, shuffled with `shuffle` when given.
pub fn image_loader(
    set: Arc<ImageSet>,
    batch_size: usize,
    shuffle: Option<u64>,
    device: &Device,
) -> Arc<dyn burn::data::dataloader::DataLoader<ImageBatch>> {
    let batcher = ImageBatcher {
        rows: set.rows,
        cols: set.cols,
    };
    super::batches(
        batcher,
        ImageSetDataset::new(set),
        batch_size,
        shuffle,
        device,
    )
}

/// Stacks images given as floats in 0..=1 into a `[n, 1, rows, cols]` tensor.
pub fn images_tensor(images: &[Vec<f32>], rows: usize, cols: usize, device: &Device) -> Tensor<4> {
    let flat: Vec<f32> = images.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [images.len(), 1, rows, cols]), device)
}

/// An input of `neurons predict`, ready for an MNIST-like model.
#[derive(Debug, Clone)]
pub struct InputImage {
    /// The file, with `#k` for the k-th image of an IDX file.
    pub name: String,
    /// 28×28 floats in 0..=1, white digit on black like MNIST.
    pub pixels: Vec<f32>,
}

/// Reads `neurons predict` inputs: PNG (or other) pictures of one digit, and IDX image files.
pub fn read_inputs(paths: &[PathBuf]) -> Result<Vec<InputImage>> {
    let mut inputs = Vec::new();
    for path in paths {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        inputs.extend(parse_input(path, &bytes)?);
    }
    Ok(inputs)
}

/// The largest picture `predict` decodes, a side: a photo of a digit needs far less, and a
/// small file claiming more (a decompression bomb) is refused before its pixels are allocated.
pub const MAX_PICTURE_SIDE: u32 = 4096;

/// One `predict` input from its bytes: a picture of a digit, or an IDX file of 28×28 images;
/// `path` names it.
pub fn parse_input(path: &Path, bytes: &[u8]) -> Result<Vec<InputImage>> {
    parse_sized_input(path, bytes, (28, 28), false)
}

/// Reads the inputs of an image-to-image model that takes `rows`×`cols` images: a picture of
/// exactly that size is taken as it is (a noisy digit, an outline, a small digit: made to look
/// like MNIST, it would be cropped and scaled); a picture of another size is made MNIST-like when
/// the model takes 28×28 images, and refused otherwise; IDX files must hold `rows`×`cols` images.
pub fn read_sized_inputs(
    paths: &[PathBuf],
    (rows, cols): (usize, usize),
) -> Result<Vec<InputImage>> {
    let mut inputs = Vec::new();
    for path in paths {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        inputs.extend(parse_sized_input(path, &bytes, (rows, cols), true)?);
    }
    Ok(inputs)
}

/// [`parse_input`] for a model of `rows`×`cols` inputs; with `as_is`, a picture of that size
/// keeps its pixels.
fn parse_sized_input(
    path: &Path,
    bytes: &[u8],
    (rows, cols): (usize, usize),
    as_is: bool,
) -> Result<Vec<InputImage>> {
    let size = rows * cols;
    if bytes.starts_with(&idx::IMAGES_MAGIC.to_be_bytes()) || is_gzipped_idx(path, bytes) {
        let images = idx::parse_images(path, bytes)?;
        if images.count == 0 {
            return Err(Error::BadImage {
                path: path.to_path_buf(),
                reason: "an IDX file of 0 images: nothing to predict".to_string(),
            });
        }
        if (images.rows, images.cols) != (rows, cols) {
            return Err(Error::BadImage {
                path: path.to_path_buf(),
                reason: format!(
                    "IDX images are {}×{}, the model expects {rows}×{cols}",
                    images.rows, images.cols
                ),
            });
        }
        return Ok((0..images.count)
            .map(|k| InputImage {
                name: format!("{}#{k}", path.display()),
                pixels: images.pixels[k * size..(k + 1) * size]
                    .iter()
                    .map(|&p| p as f32 / 255.0)
                    .collect(),
            })
            .collect());
    }
    let not_an_image = |e: &dyn std::fmt::Display| Error::BadImage {
        path: path.to_path_buf(),
        reason: format!("not an image or IDX file: {e}"),
    };
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| not_an_image(&e))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_PICTURE_SIDE);
    limits.max_image_height = Some(MAX_PICTURE_SIDE);
    limits.max_alloc = Some(4 * (MAX_PICTURE_SIDE as u64).pow(2));
    reader.limits(limits);
    let picture = reader.decode().map_err(|e| not_an_image(&e))?.to_luma8();
    let name = path.display().to_string();
    if as_is && picture.dimensions() == (cols as u32, rows as u32) {
        let pixels = picture.pixels().map(|p| p.0[0] as f32 / 255.0).collect();
        return Ok(vec![InputImage { name, pixels }]);
    }
    if (rows, cols) != (28, 28) {
        let (w, h) = picture.dimensions();
        return Err(Error::BadImage {
            path: path.to_path_buf(),
            reason: format!("a {w}×{h} picture; the model takes {cols}×{rows} pictures"),
        });
    }
    Ok(vec![InputImage {
        name,
        pixels: mnist_like(&picture),
    }])
}

fn is_gzipped_idx(path: &Path, bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b]) && path.to_string_lossy().contains("idx")
}

/// Makes a picture of one digit look like an MNIST digit, as MNIST itself was made: white ink on
/// black (a light background is detected on the border and inverted), the ink's bounding box
/// scaled to fit 20×20, then placed in a 28×28 frame with its centre of mass in the middle.
pub fn mnist_like(picture: &image::GrayImage) -> Vec<f32> {
    let (w, h) = picture.dimensions();
    let value = |x: u32, y: u32| picture.get_pixel(x, y).0[0] as f32 / 255.0;
    let border: Vec<f32> = (0..w)
        .flat_map(|x| [value(x, 0), value(x, h - 1)])
        .chain((0..h).flat_map(|y| [value(0, y), value(w - 1, y)]))
        .collect();
    let light_background = border.iter().sum::<f32>() / border.len() as f32 > 0.5;
    let ink = |x: u32, y: u32| {
        if light_background {
            1.0 - value(x, y)
        } else {
            value(x, y)
        }
    };

    // bounding box of the ink
    let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
    for y in 0..h {
        for x in 0..w {
            if ink(x, y) > 0.2 {
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            }
        }
    }
    if x0 > x1 {
        return vec![0.0; 784]; // a blank picture
    }
    let (bw, bh) = (x1 - x0 + 1, y1 - y0 + 1);
    let crop = image::GrayImage::from_fn(bw, bh, |x, y| {
        image::Luma([(ink(x0 + x, y0 + y) * 255.0).round() as u8])
    });
    let scale = 20.0 / bw.max(bh) as f32;
    let (sw, sh) = (
        ((bw as f32 * scale).round() as u32).max(1),
        ((bh as f32 * scale).round() as u32).max(1),
    );
    let small = image::imageops::resize(&crop, sw, sh, image::imageops::FilterType::Triangle);

    // centre of mass of the scaled digit
    let (mut mass, mut cx, mut cy) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y, p) in small.enumerate_pixels() {
        let v = p.0[0] as f32;
        mass += v;
        cx += v * x as f32;
        cy += v * y as f32;
    }
    let (cx, cy) = if mass > 0.0 {
        (cx / mass, cy / mass)
    } else {
        (sw as f32 / 2.0, sh as f32 / 2.0)
    };
    let (ox, oy) = ((14.0 - cx).round() as i64, (14.0 - cy).round() as i64);
    let mut out = vec![0.0f32; 784];
    for (x, y, p) in small.enumerate_pixels() {
        let (tx, ty) = (x as i64 + ox, y as i64 + oy);
        if (0..28).contains(&tx) && (0..28).contains(&ty) {
            out[(ty * 28 + tx) as usize] = p.0[0] as f32 / 255.0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_black_on_white_picture_becomes_a_centred_white_digit() {
        // a dark vertical bar on a white 100×60 picture, off centre
        let picture = image::GrayImage::from_fn(60, 100, |x, y| {
            image::Luma([if (10..18).contains(&x) && (20..80).contains(&y) {
                0
            } else {
                255
            }])
        });
        let digit = mnist_like(&picture);
        let at = |x: usize, y: usize| digit[y * 28 + x];
        assert!(at(14, 14) > 0.9, "the bar is centred and white");
        assert_eq!(at(0, 0), 0.0, "the background is black");
        let rows_with_ink = (0..28).filter(|&y| (0..28).any(|x| at(x, y) > 0.5)).count();
        assert!(
            (19..=21).contains(&rows_with_ink),
            "scaled to 20 pixels high: {rows_with_ink}"
        );
    }

    #[test]
    fn a_file_that_is_no_picture_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.png");
        std::fs::write(&path, b"hello").unwrap();
        let err = read_inputs(&[path]).unwrap_err().to_string();
        assert!(err.contains("notes.png: not an image"), "{err}");
    }
}
