//! What the user sees while a model learns: a live bar per epoch on a terminal (batches done,
//! loss, accuracy, samples/s, ETA), one plain line per epoch otherwise.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Prints a line on stdout. A closed stdout (`neurons list | head -1`) is not an error: the
/// reader has seen what it wanted, so the line is dropped, as ripgrep and the coreutils do.
pub fn print_line(text: &str) {
    if let Err(e) = writeln!(std::io::stdout().lock(), "{text}")
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        // a full disk or a read-only file behind stdout: the output is lost, and the user must
        // know (the exit code 1 of a failed write)
        eprintln!("error: cannot write to the standard output: {e}");
        std::process::exit(1);
    }
}

/// Where a run's messages go: stdout, or stderr when `--json` keeps stdout for the summary; on a
/// terminal, under a bar of its own when several runs follow each other (`neurons tour`).
#[derive(Debug, Clone)]
pub struct Console {
    to_stderr: bool,
    /// The bars drawn together: the tour's above, the epoch's below.
    bars: Option<MultiProgress>,
}

impl Console {
    pub fn new(json: bool) -> Self {
        Self {
            to_stderr: json,
            bars: None,
        }
    }

    /// A console that draws its bars in `bars`, below those already there, on a terminal.
    pub fn under(&self, bars: &MultiProgress) -> Self {
        Self {
            to_stderr: self.to_stderr,
            bars: self.is_terminal().then(|| bars.clone()),
        }
    }

    /// A new bar drawn where this console draws, when it writes to a terminal.
    pub fn bar(&self, len: u64) -> Option<ProgressBar> {
        self.is_terminal().then(|| {
            let bar = ProgressBar::new(len);
            match &self.bars {
                Some(bars) => bars.add(bar),
                None => {
                    bar.set_draw_target(if self.to_stderr {
                        ProgressDrawTarget::stderr()
                    } else {
                        ProgressDrawTarget::stdout()
                    });
                    bar
                }
            }
        })
    }

    /// The bars this console draws in, for a caller that adds its own.
    pub fn multi(&self) -> MultiProgress {
        match &self.bars {
            Some(bars) => bars.clone(),
            None => MultiProgress::with_draw_target(if self.to_stderr {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::stdout()
            }),
        }
    }

    /// Prints one line for the user (above the bars, when there are).
    pub fn line(&self, text: &str) {
        if let Some(bars) = &self.bars
            && bars.println(text).is_ok()
        {
            return;
        }
        if self.to_stderr {
            let _ = writeln!(std::io::stderr().lock(), "{text}");
        } else {
            print_line(text);
        }
    }

    fn is_terminal(&self) -> bool {
        if self.to_stderr {
            std::io::stderr().is_terminal()
        } else {
            std::io::stdout().is_terminal()
        }
    }
}

/// The progress of one epoch.
pub struct EpochProgress {
    bar: Option<ProgressBar>,
    started: Instant,
    samples: usize,
    loss_sum: f64,
    batches: usize,
}

impl EpochProgress {
    /// Starts the display of epoch `epoch` of `epochs`, made of `batches` batches.
    pub fn start(console: &Console, epoch: usize, epochs: usize, batches: usize) -> Self {
        let bar = console.bar(batches as u64).inspect(|bar| {
            let style = ProgressStyle::with_template(
                "epoch {prefix} [{bar:25}] {pos}/{len} {msg} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(format!("{epoch}/{epochs}"));
        });
        Self {
            bar,
            started: Instant::now(),
            samples: 0,
            loss_sum: 0.0,
            batches: 0,
        }
    }

    /// Records one batch: its mean loss, its size, and the running value of the epoch's first
    /// metric (e.g. accuracy) if the task has one.
    pub fn batch(&mut self, loss: f64, metric: Option<(&str, f64)>, size: usize) {
        self.batches += 1;
        self.samples += size;
        self.loss_sum += loss * size as f64;
        if let Some(bar) = &self.bar {
            let metric = metric
                .map(|(name, m)| format!(" {name} {m:.4}"))
                .unwrap_or_default();
            bar.set_message(format!(
                "loss {:.4}{metric} {:.0} samples/s",
                self.mean_loss(),
                self.samples_per_second()
            ));
            bar.inc(1);
        }
    }

    pub fn mean_loss(&self) -> f64 {
        self.loss_sum / self.samples.max(1) as f64
    }

    pub fn samples(&self) -> usize {
        self.samples
    }

    pub fn seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    pub fn samples_per_second(&self) -> f64 {
        self.samples as f64 / self.seconds().max(1e-9)
    }

    /// Clears the bar and prints the epoch's line.
    pub fn finish(self, console: &Console, line: &str) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
        console.line(line);
    }
}
