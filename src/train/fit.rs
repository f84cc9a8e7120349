//! The training loop every supervised lab shares, with what a long run needs to be trusted:
//! a checkpoint after every epoch (`--resume` continues a run killed at any moment, even by
//! SIGKILL, and ends with exactly the metrics of an uninterrupted run), early stopping that keeps
//! the best weights, a divergence guard, Ctrl-C that stops cleanly, and progress on screen.
//!
//! Exactness on resume comes from making every random choice a function of (seed, epoch): the
//! shuffle of epoch e and the dropout masks of epoch e are seeded from them, never from a state
//! carried over from earlier epochs.

use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use burn::data::dataloader::DataLoader;
use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::progress::{Console, EpochProgress};
use super::schedule::LrSchedule;
use super::{DivergenceGuard, epoch_seed};
use crate::error::{Error, Result};
use crate::report::metrics::Split;
use crate::report::{MetricsLog, RunDir};

/// What one training batch gave: its mean loss (still in the autodiff graph), its size, and sums
/// from which the task computes its training metrics.
pub struct BatchOutcome {
    pub loss: Tensor<1>,
    pub size: usize,
    pub sums: Vec<f64>,
}

/// One shard of a batch cut for a data-parallel step ([`Supervised::split`]): its size, and its
/// forward pass and loss as [`Supervised::batch`] would give them for a batch of its own.
pub struct Shard<'a, M> {
    pub size: usize,
    pub outcome: Box<dyn FnOnce(&M) -> BatchOutcome + Send + 'a>,
}

/// A supervised learning task: the data, the loss and the metrics of one kind of lab.
pub trait Supervised {
    type Model: Module;
    type Batch: Send + Clone + std::fmt::Debug + 'static;

    /// The metrics of `metrics.csv` after the loss, e.g. `["accuracy"]`.
    fn metric_names(&self) -> &'static [&'static str];
    fn train_len(&self) -> usize;
    /// The training batches of one epoch, shuffled with `shuffle_seed`.
    fn train_loader(
        &self,
        batch_size: usize,
        shuffle_seed: u64,
        device: &Device,
    ) -> Arc<dyn DataLoader<Self::Batch>>;
    /// The forward pass and the loss of one batch.
    fn batch(&self, model: &Self::Model, batch: Self::Batch) -> BatchOutcome;
    /// `batch` cut into shards ([`super::sharded::shard_count`] of them) for a step whose shards
    /// run in parallel, each on its own graph ([`super::sharded`]); `None` (the default) keeps
    /// it whole. Only for a loss that does not couple the samples (no batch norm), with any
    /// random numbers it needs drawn here, before the shards, and a model without burn's
    /// per-tensor checkpointing.
    fn split(&self, _batch: &Self::Batch) -> Option<Vec<Shard<'_, Self::Model>>> {
        None
    }
    /// The training metrics of an epoch from the summed batch sums over `samples` samples.
    fn finish(&self, sums: &[f64], samples: usize) -> Vec<f64>;
    /// Loss and metrics on the validation split, `model` being out of autodiff.
    fn validate(&self, model: &Self::Model, device: &Device) -> Result<(f64, Vec<f64>)>;
    /// What [`Supervised::validate`] measures on, as `metrics.csv` names it: the test split
    /// (FIDLE's habit, kept by the image labs) unless the task holds a validation split out.
    fn watched_split(&self) -> Split {
        Split::Test
    }
    /// A second split measured after every epoch for the curves only (the graph lab's test
    /// nodes beside its validation nodes); it chooses nothing.
    fn also_measured(
        &self,
        _model: &Self::Model,
        _device: &Device,
    ) -> Result<Option<(Split, f64, Vec<f64>)>> {
        Ok(None)
    }
}

/// The settings of the loop.
#[derive(Debug, Clone)]
pub struct LoopSettings {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub schedule: LrSchedule,
    pub seed: u64,
    /// Stop after this many epochs without a better validation loss, keeping the best weights.
    pub early_stopping: Option<usize>,
}

/// A trained model and what its training left.
pub struct Trained<M> {
    pub model: M,
    pub log: MetricsLog,
    pub train_seconds: f64,
    pub samples_seen: usize,
    /// The epochs actually run (fewer than asked when stopped early).
    pub epochs_run: usize,
    /// The epoch whose weights were kept, when early stopping chose them.
    pub best_epoch: Option<usize>,
}

impl<M> Trained<M> {
    /// The `summary.json` of a lab trained by [`fit`] with `training`'s settings: its final test
    /// `metrics`, and the epoch whose weights early stopping kept.
    pub fn summary(
        &self,
        lab: &str,
        dataset: &str,
        training: &crate::train::config::TrainingConfig,
        mut metrics: std::collections::BTreeMap<String, f64>,
    ) -> crate::report::Summary {
        if let Some(epoch) = self.best_epoch {
            metrics.insert("best_epoch".to_string(), epoch as f64);
        }
        crate::report::Summary {
            lab: lab.to_string(),
            dataset: dataset.to_string(),
            seed: training.seed,
            device: training.device.clone(),
            epochs: self.epochs_run,
            train_seconds: self.train_seconds,
            samples_per_second: self.samples_seen as f64 / self.train_seconds.max(1e-9),
            metrics,
            parameters: Default::default(),
        }
    }
}

/// Trains a fresh model with the settings of a run's `config.toml`: the device seeded, the model
/// built by `init` on the device's autodiff twin, the optimizer, [`fit`] (or its resumption), and
/// `model.bpk` written. Returns the training, its model out of autodiff, and the plain device.
pub fn train_model<T: Supervised>(
    task: &T,
    training: &crate::train::config::TrainingConfig,
    init: impl FnOnce(&Device) -> T::Model,
    run: &RunDir,
    console: &Console,
    resume: bool,
) -> Result<(Trained<T::Model>, Device)> {
    training.validate(&run.file("config.toml"))?;
    let device = training.device()?;
    device.seed(training.seed);
    let autodiff = device.clone().autodiff();
    let model = init(&autodiff);
    let optimizer = training.optimizer.build(training.weight_decay);
    let mut trained = fit(
        task,
        model,
        optimizer,
        &training.loop_settings(),
        &autodiff,
        run,
        console,
        resume,
    )?;
    trained.model = trained.model.valid();
    run.save_weights("model.bpk", &trained.model)?;
    Ok((trained, device))
}

/// `checkpoint.toml`: the state of a run at the end of its last complete epoch.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointState {
    epoch: usize,
    train_seconds: f64,
    samples_seen: usize,
    best_loss: f64,
    best_epoch: usize,
    epochs_without_improvement: usize,
}

impl CheckpointState {
    /// Refuses a checkpoint that cannot belong to a run of `epochs` epochs, naming the field.
    fn validate(&self, epochs: usize, file: &std::path::Path) -> Result<()> {
        let reason = if self.epoch > epochs {
            Some(format!(
                "epoch: {}; the run has {epochs} epochs",
                self.epoch
            ))
        } else if self.best_epoch > self.epoch {
            Some(format!(
                "best_epoch: {}; after the checkpoint's epoch {}",
                self.best_epoch, self.epoch
            ))
        } else if self.epochs_without_improvement > self.epoch {
            Some(format!(
                "epochs_without_improvement: {}; more than the {} epochs done",
                self.epochs_without_improvement, self.epoch
            ))
        } else if !(self.train_seconds.is_finite() && self.train_seconds >= 0.0) {
            Some(format!(
                "train_seconds: {}; a duration ≥ 0",
                self.train_seconds
            ))
        } else if self.best_loss.is_nan() {
            Some("best_loss: nan".to_string())
        } else {
            None
        };
        match reason {
            Some(reason) => Err(Error::BadRunDir {
                path: file.to_path_buf(),
                reason,
            }),
            None => Ok(()),
        }
    }
}

const CHECKPOINT: &str = "checkpoint.toml";

/// What shows that a run without `checkpoint.toml` got past its first epoch, if anything does.
/// The first epoch's folder and rows alone are no such sign: a run killed between writing them
/// and `checkpoint.toml` starts over as the same run.
fn progress_without_checkpoint(run: &RunDir) -> Option<String> {
    if run.file("model.bpk").is_file() {
        return Some("model.bpk is there (the run finished)".to_string());
    }
    let latest_folder = fs::read_dir(run.path())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.strip_prefix("checkpoint-epoch-")?
                .parse::<usize>()
                .ok()
        })
        .max();
    if let Some(epoch) = latest_folder.filter(|&e| e > 1) {
        return Some(format!("checkpoint-epoch-{epoch}/ is there"));
    }
    let later = fs::read_to_string(run.file("metrics.csv"))
        .map(|text| {
            text.lines()
                .skip(1)
                .filter_map(|l| l.split(',').next()?.trim().parse::<usize>().ok())
                .filter(|&epoch| epoch > 1)
                .max()
        })
        .unwrap_or(None);
    later.map(|epoch| format!("metrics.csv reaches epoch {epoch}"))
}
const BEST_WEIGHTS: &str = "best.bpk";

fn checkpoint_dir(epoch: usize) -> String {
    format!("checkpoint-epoch-{epoch}")
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Lets Ctrl-C end the loop at the next batch instead of killing the process mid-write.
fn install_interrupt_handler() {
    // A second installation (several runs in one process, as in tests) fails harmlessly: the
    // first handler already sets the same flag.
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst));
}

/// Trains `model` for `settings.epochs` epochs, or continues the run in `run` when `resume`.
/// `device` must be an autodiff device.
#[allow(clippy::too_many_arguments)] // each is a distinct piece of the run; a struct would only rename them
pub fn fit<T: Supervised>(
    task: &T,
    mut model: T::Model,
    mut optimizer: ModuleOptimizer,
    settings: &LoopSettings,
    device: &Device,
    run: &RunDir,
    console: &Console,
    resume: bool,
) -> Result<Trained<T::Model>> {
    install_interrupt_handler();
    let mut log = MetricsLog::new(task.metric_names());
    let mut state = CheckpointState {
        epoch: 0,
        train_seconds: 0.0,
        samples_seen: 0,
        best_loss: f64::INFINITY,
        best_epoch: 0,
        epochs_without_improvement: 0,
    };
    if resume && run.file(CHECKPOINT).is_file() {
        state = run.read_toml(CHECKPOINT)?;
        state.validate(settings.epochs, &run.file(CHECKPOINT))?;
        let dir = checkpoint_dir(state.epoch);
        if !run.file(&dir).is_dir() {
            return Err(Error::BadRunDir {
                path: run.file(CHECKPOINT),
                reason: format!("epoch = {}, but the folder {dir} is missing", state.epoch),
            });
        }
        model = run.load_weights(&format!("{dir}/model.bpk"), model)?;
        let path = run.file(&format!("{dir}/optimizer.bpk"));
        let bytes = fs::read(&path).map_err(|e| Error::io(&path, e))?;
        optimizer = optimizer
            .from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
            .map_err(|e| Error::BadRunDir {
                path,
                reason: e.to_string(),
            })?;
        // metrics.csv may hold one epoch more than the checkpoint if the run died in between,
        // never fewer: a log that stops short of the checkpoint is not this run's
        let kept = MetricsLog::read(run, task.metric_names())?;
        // every epoch up to the checkpoint has the rows of the first (train, then the splits
        // measured)
        let rows_of = |e: usize| kept.rows().iter().filter(|r| r.epoch == e).count();
        let per_epoch = rows_of(1).max(1);
        if let Some(missing) = (1..=state.epoch).find(|&e| rows_of(e) < per_epoch) {
            return Err(Error::BadRunDir {
                path: run.file("metrics.csv"),
                reason: format!(
                    "no row (or not every split's) for epoch {missing}, but checkpoint.toml is at epoch {}",
                    state.epoch
                ),
            });
        }
        for row in kept.rows().iter().filter(|r| r.epoch <= state.epoch) {
            log.push(row.epoch, row.split, row.loss, &row.values);
        }
        console.line(&format!(
            "resuming after epoch {} of {}",
            state.epoch, settings.epochs
        ));
    } else if resume {
        // killed before its first checkpoint: every random choice comes from (seed, epoch), so
        // starting over from the saved settings is the run it would have been. A run that went
        // further (a finished one, or one whose checkpoint.toml was lost) is refused: starting it
        // over would quietly throw its epochs away
        if let Some(trace) = progress_without_checkpoint(run) {
            return Err(Error::BadRunDir {
                path: run.file(CHECKPOINT),
                reason: format!(
                    "missing, but {trace}: nothing to resume from; start a new run (neurons run <lab> with the same flags)"
                ),
            });
        }
        console.line("no checkpoint yet (killed during the first epoch): starting from epoch 1 with the run's settings");
    }

    let batches = task.train_len().div_ceil(settings.batch_size);
    let mut guard = DivergenceGuard::default();
    let mut stopped_early = false;
    for epoch in state.epoch + 1..=settings.epochs {
        if let Some(patience) = settings.early_stopping
            && state.epochs_without_improvement >= patience
        {
            stopped_early = true;
            break;
        }
        // dropout masks and the shuffle of this epoch depend on (seed, epoch) only
        device.seed(epoch_seed(settings.seed ^ 0xD20_F0E7, epoch));
        let loader = task.train_loader(
            settings.batch_size,
            epoch_seed(settings.seed, epoch),
            device,
        );
        let mut progress = EpochProgress::start(console, epoch, settings.epochs, batches);
        let mut sums = vec![0.0; task.metric_names().len()];
        for (index, batch) in loader.iter().enumerate() {
            let batch = batch.map_err(|e| Error::DataLoader(e.to_string()))?;
            crate::runtime::mark_first_batch();
            // forward and backward: ∂L/∂θ for every parameter, then one step θ ← update(θ, ∂L/∂θ, η)
            let (loss_value, size, batch_sums, grads) = match task.split(&batch) {
                Some(shards) => {
                    let stepped = step_on_shards(&model, shards);
                    guard.check(epoch, index + 1, stepped.0)?;
                    stepped
                }
                None => {
                    let outcome = task.batch(&model, batch);
                    let value = outcome.loss.clone().into_scalar::<f32>();
                    guard.check(epoch, index + 1, value)?;
                    let grads = GradientsParams::from_grads(outcome.loss.backward(), &model);
                    (value, outcome.size, outcome.sums, grads)
                }
            };
            let lr = settings.schedule.learning_rate(
                settings.learning_rate,
                epoch - 1,
                index,
                batches,
                settings.epochs,
            );
            model = optimizer.step(lr, model, grads);
            for (s, v) in sums.iter_mut().zip(&batch_sums) {
                *s += v;
            }
            let first_metric = task.metric_names().first().copied().zip(
                task.finish(&sums, progress.samples() + size)
                    .first()
                    .copied(),
            );
            progress.batch(loss_value as f64, first_metric, size);
            if INTERRUPTED.load(Ordering::SeqCst) {
                return Err(Error::Interrupted {
                    run_dir: run.path().to_path_buf(),
                    epoch: state.epoch,
                });
            }
        }

        state.train_seconds += progress.seconds();
        state.samples_seen += progress.samples();
        let train_metrics = task.finish(&sums, progress.samples());
        let valid = model.valid();
        let (val_loss, val_metrics) = task.validate(&valid, device)?;
        log.push(epoch, Split::Train, progress.mean_loss(), &train_metrics);
        log.push(epoch, task.watched_split(), val_loss, &val_metrics);
        if let Some((split, loss, values)) = task.also_measured(&valid, device)? {
            log.push(epoch, split, loss, &values);
        }
        // a write that fails (a full disk, a read-only folder) leaves the previous checkpoint
        // whole, since checkpoint.toml is rewritten last: the error says so
        let not_written = |e: Error| Error::CheckpointNotWritten {
            cause: e.to_string(),
            run_dir: run.path().to_path_buf(),
            kept: epoch - 1,
        };
        if val_loss < state.best_loss {
            state.best_loss = val_loss;
            state.best_epoch = epoch;
            state.epochs_without_improvement = 0;
            if settings.early_stopping.is_some() {
                run.save_weights(BEST_WEIGHTS, &model)
                    .map_err(not_written)?;
            }
        } else {
            state.epochs_without_improvement += 1;
        }
        state.epoch = epoch;
        save_checkpoint(run, &model, &optimizer, &log, &state).map_err(not_written)?;

        let names = task.metric_names();
        let show = |values: &[f64]| {
            names
                .iter()
                .zip(values)
                .map(|(n, v)| format!(" {n} {v:.4}"))
                .collect::<String>()
        };
        let line = format!(
            "epoch {epoch:>3}/{}  train loss {:.4}{}  {} loss {val_loss:.4}{}  {:.0} samples/s",
            settings.epochs,
            progress.mean_loss(),
            show(&train_metrics),
            task.watched_split().name(),
            show(&val_metrics),
            progress.samples_per_second()
        );
        progress.finish(console, &line);
    }
    if !stopped_early && let Some(patience) = settings.early_stopping {
        stopped_early =
            state.epochs_without_improvement >= patience && state.epoch < settings.epochs;
    }

    let mut best_epoch = None;
    if settings.early_stopping.is_some() && state.best_epoch > 0 {
        if state.best_epoch != state.epoch {
            model = run.load_weights(BEST_WEIGHTS, model)?;
        }
        best_epoch = Some(state.best_epoch);
        let why = if stopped_early {
            "stopped early"
        } else {
            "finished"
        };
        console.line(&format!(
            "{why}: keeping the weights of epoch {} (best {} loss {:.4})",
            state.best_epoch,
            task.watched_split().name(),
            state.best_loss
        ));
    }
    Ok(Trained {
        model,
        log,
        train_seconds: state.train_seconds,
        samples_seen: state.samples_seen,
        epochs_run: state.epoch,
        best_epoch,
    })
}

/// One batch's shards through [`super::sharded::sharded_gradients`], each loss weighted by its
/// share of the batch so that their sum is the batch's mean loss: (that loss, the batch's size,
/// its metric sums, the gradients).
pub fn step_on_shards<M: Module>(
    model: &M,
    shards: Vec<Shard<'_, M>>,
) -> (f32, usize, Vec<f64>, GradientsParams) {
    let total: usize = shards.iter().map(|shard| shard.size).sum();
    assert!(total > 0, "a batch cut into empty shards");
    let (grads, outcomes) = super::sharded::sharded_gradients(model, shards, |model, shard| {
        let weight = shard.size as f32 / total as f32;
        let outcome = (shard.outcome)(model);
        debug_assert_eq!(
            outcome.size, shard.size,
            "a shard's outcome of another size"
        );
        (outcome.loss * weight, outcome.sums)
    });
    let loss = outcomes.iter().map(|(value, _)| value).sum();
    let mut sums = Vec::new();
    for (_, shard_sums) in outcomes {
        sums.resize(shard_sums.len().max(sums.len()), 0.0);
        for (s, v) in sums.iter_mut().zip(shard_sums) {
            *s += v;
        }
    }
    (loss, total, sums, grads)
}

/// Removes the checkpoint files of a finished run, once its final weights and `summary.json` are
/// written: until then a run killed at the very end can still be resumed.
pub fn remove_checkpoints(run: &RunDir) -> Result<()> {
    for name in [CHECKPOINT, BEST_WEIGHTS] {
        let path = run.file(name);
        if path.exists() {
            fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    let entries = fs::read_dir(run.path()).map_err(|e| Error::io(run.path(), e))?;
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("checkpoint-epoch-")
        {
            let path = entry.path();
            fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}

/// Writes the end-of-epoch checkpoint: weights and optimizer state in a new folder, then
/// `metrics.csv`, then `checkpoint.toml` pointing at the folder (the commit point), then the
/// previous folder is removed. A run killed between any two steps resumes from a whole epoch.
fn save_checkpoint<M: Module>(
    run: &RunDir,
    model: &M,
    optimizer: &ModuleOptimizer,
    log: &MetricsLog,
    state: &CheckpointState,
) -> Result<()> {
    let dir = checkpoint_dir(state.epoch);
    let path = run.file(&dir);
    fs::create_dir_all(&path).map_err(|e| Error::io(&path, e))?;
    run.save_weights(&format!("{dir}/model.bpk"), model)?;
    let optimizer_path = run.file(&format!("{dir}/optimizer.bpk"));
    let bytes = optimizer.into_bytes().map_err(|e| Error::BadRunDir {
        path: optimizer_path.clone(),
        reason: format!("cannot encode the optimizer state: {e}"),
    })?;
    crate::report::write_atomic(&optimizer_path, &bytes)?;
    log.write(run)?;
    run.write_toml(CHECKPOINT, state)?;
    if state.epoch > 1 {
        let previous = run.file(&checkpoint_dir(state.epoch - 1));
        if previous.exists() {
            fs::remove_dir_all(&previous).map_err(|e| Error::io(&previous, e))?;
        }
    }
    Ok(())
}
