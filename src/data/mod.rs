//! Data sets and how they reach a model: readers (IDX, CSV, text), the embedded and downloadable sets,
//! batching for burn's data loader, and user inputs for `predict`.

pub mod degrade;
pub mod download;
pub mod graph;
pub mod idx;
pub mod imageops;
pub mod images;
pub mod iris;
pub mod limits;
pub mod mnist;
pub mod points;
pub mod synthetic;
pub mod table;
pub mod text;
pub mod trajectory;
pub mod wine;

use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataloader::{DataLoader, DataLoaderBuilder};
use burn::data::dataset::{Dataset, DatasetError};
use burn::tensor::Device;

/// The one way batches reach a model: `dataset` cut into batches of `batch_size` by `batcher`
/// on `device`, in the order of a shuffle seeded by `shuffle` (training) or in order (`None`:
/// evaluation, prediction).
pub fn batches<I, O>(
    batcher: impl Batcher<I, O> + 'static,
    dataset: impl Dataset<I> + 'static,
    batch_size: usize,
    shuffle: Option<u64>,
    device: &Device,
) -> Arc<dyn DataLoader<O>>
where
    I: Send + Sync + Clone + std::fmt::Debug + 'static,
    O: Send + Clone + std::fmt::Debug + 'static,
{
    let mut builder = DataLoaderBuilder::new(batcher)
        .batch_size(batch_size)
        .set_device(device.clone());
    if let Some(seed) = shuffle {
        builder = builder.shuffle(seed);
    }
    builder.build(dataset)
}

/// Items held once and shared with every epoch's data loader, seen through burn's `Dataset`
/// trait (burn's `InMemDataset` would need its own copy of them for each loader).
pub struct SharedItems<I> {
    items: Arc<Vec<I>>,
}

impl<I> SharedItems<I> {
    pub fn new(items: Arc<Vec<I>>) -> Self {
        Self { items }
    }
}

impl<I: Clone + Send + Sync> Dataset<I> for SharedItems<I> {
    fn get(&self, index: usize) -> std::result::Result<I, DatasetError> {
        self.items.get(index).cloned().ok_or_else(|| {
            DatasetError::new(std::io::Error::other(format!(
                "item {index} of {}",
                self.items.len()
            )))
        })
    }

    fn len(&self) -> usize {
        self.items.len()
    }
}
