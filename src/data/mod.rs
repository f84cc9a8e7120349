//! Data sets and how they reach a model: readers (IDX), the embedded and downloadable image sets,
//! batching for burn's data loader, and user inputs for `predict`.

pub mod download;
pub mod idx;
pub mod images;
pub mod iris;
pub mod mnist;
pub mod points;
pub mod synthetic;
pub mod table;
pub mod trajectory;
pub mod wine;
