//! The whole course at once: `neurons tour` runs every lab in the lecture's order into one
//! folder, and `neurons report` makes one self-contained HTML page of any run directories.
//!
//! This sits between the command line and the labs: it knows the registry (names, slides,
//! reference figures) and drives labs through the same [`LabCommand`] as `neurons run`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use indicatif::ProgressStyle;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::labs::{Lab, LabCommand};
use crate::report::html::{Mark, Page, Picture, Section};
use crate::report::{RunDir, Summary};
use crate::train::Console;
use crate::train::progress::print_line;

// --- a run, finished -----------------------------------------------------------------------------

/// Writes `summary.json` (with whether the run was `--quick`, when known), removes the
/// checkpoints, and says where the run is; prints the summary for `--json`.
pub fn finish(
    run: &RunDir,
    summary: &Summary,
    console: &Console,
    json: bool,
    quick: Option<bool>,
) -> Result<()> {
    let mut written = serde_json::to_value(summary).map_err(|e| Error::BadRunDir {
        path: run.file("summary.json"),
        reason: e.to_string(),
    })?;
    if let Some(fields) = written.as_object_mut() {
        if let Some(seconds) = crate::runtime::seconds_to_first_batch() {
            fields.insert("seconds_to_first_batch".into(), seconds.into());
        }
        if let Some(quick) = quick {
            fields.insert("quick".into(), quick.into());
        }
    }
    run.write_json("summary.json", &written)?;
    crate::train::fit::remove_checkpoints(run)?;
    let metrics: Vec<String> = if summary.metrics.len() <= 6 {
        summary
            .metrics
            .iter()
            .map(|(k, v)| format!("{k} {v:.4}"))
            .collect()
    } else {
        vec![format!("{} figures in summary.json", summary.metrics.len())]
    };
    console.line(&format!(
        "done in {:.1} s: {}; run directory {}",
        summary.train_seconds,
        metrics.join(", "),
        run.path().display()
    ));
    if json {
        print_line(&serde_json::to_string_pretty(&written).unwrap_or_default());
    }
    Ok(())
}

// --- the report ----------------------------------------------------------------------------------

/// A run to put in the report, or a lab of a tour that left no run: its directory and, when it
/// failed, why.
#[derive(Debug, Clone)]
pub struct ReportEntry {
    pub dir: PathBuf,
    pub failure: Option<String>,
}

/// Writes the report of `entries` to `out`, atomically. `out` must be an `.html` file, and one
/// that exists is replaced only if it is a page of ours: nothing else of the user's is lost.
pub fn write_report(entries: &[ReportEntry], out: &Path, subtitle: &str) -> Result<()> {
    let html = out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm"));
    if !html {
        return Err(Error::Usage(format!(
            "--out {}: the report is an .html file",
            out.display()
        )));
    }
    if out.exists() {
        let ours = std::fs::read(out)
            .map(|bytes| {
                bytes.starts_with(b"<!DOCTYPE html>") && bytes.windows(8).any(|w| w == b"neurons:")
            })
            .unwrap_or(false);
        if !ours {
            return Err(Error::Usage(format!(
                "--out {}: the file exists and is not a report of neurons; choose another name",
                out.display()
            )));
        }
    }
    let page = report_page(entries, subtitle)?;
    crate::report::write_atomic(out, page.to_html().as_bytes())
}

/// The page of `entries`, one section per run in the lecture's order.
pub fn report_page(entries: &[ReportEntry], subtitle: &str) -> Result<Page> {
    let mut sections = Vec::new();
    for entry in entries {
        sections.push(section(entry)?);
    }
    sections.sort_by_key(|(order, _)| *order);
    Ok(Page {
        title: "neurons: Deep Learning, histoire et principes… De la régression aux GANs"
            .to_string(),
        subtitle: subtitle.to_string(),
        sections: sections.into_iter().map(|(_, s)| s).collect(),
    })
}

/// The lab a run directory (or a tour's folder for a lab) belongs to.
fn lab_of(entry: &ReportEntry) -> Result<Lab> {
    if entry.dir.join("config.toml").is_file() {
        return Lab::of_run(&RunDir::open(&entry.dir)?);
    }
    // a tour's lab that failed before writing anything: the folder is named after the lab
    let name = entry
        .dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Lab::ALL
        .iter()
        .copied()
        .find(|l| l.info().name == name)
        .ok_or_else(|| {
            Error::Usage(format!(
                "{}: not a run directory (no config.toml)",
                entry.dir.display()
            ))
        })
}

/// The section of one run, with its lab's place in the lecture.
fn section(entry: &ReportEntry) -> Result<(usize, Section)> {
    let lab = lab_of(entry)?;
    let info = lab.info();
    let order = Lab::ALL
        .iter()
        .position(|l| *l == lab)
        .unwrap_or(usize::MAX);
    let reference = info.reference;
    let mut section = Section {
        lab: info.name.to_string(),
        chapter: info.chapter.to_string(),
        formula: info.formula.to_string(),
        shows: info.shows.to_string(),
        run_dir: entry.dir.display().to_string(),
        expected: format!(
            "{} {} on {}",
            reference.metric,
            number(reference.expected),
            reference.dataset
        ),
        compared_with: reference.compared_with.to_string(),
        error: entry.failure.clone(),
        ..Section::default()
    };
    let config_path = entry.dir.join("config.toml");
    let config: Option<toml::Value> = std::fs::read_to_string(&config_path)
        .ok()
        .and_then(|text| text.parse().ok());
    if let Some(config) = &config {
        section.settings = settings(config);
    }
    let summary = match std::fs::read_to_string(entry.dir.join("summary.json")) {
        Ok(text) => serde_json::from_str::<serde_json::Value>(&text)
            .map_err(|e| format!("summary.json cannot be read: {e}")),
        Err(_) => Err("not finished: no summary.json".to_string()),
    };
    let summary = match summary {
        Ok(summary) => summary,
        Err(reason) => {
            section.mark = Some(Mark::Failed);
            section.error.get_or_insert(reason);
            section.pictures = pictures(&entry.dir)?;
            return Ok((order, section));
        }
    };
    let metrics = summary["metrics"].as_object().cloned().unwrap_or_default();
    section.figures = metrics
        .iter()
        .filter_map(|(k, v)| v.as_f64().map(|v| (k.clone(), number(v))))
        .collect();
    for key in ["dataset", "epochs", "seed", "device"] {
        if let Some(value) = summary.get(key) {
            let text = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_string);
            section.figures.insert(0, (key.to_string(), text));
        }
    }
    section.seconds = summary["train_seconds"].as_f64();
    let value = metrics.get(reference.metric).and_then(|v| v.as_f64());
    section.headline = value.map(|v| (reference.metric.to_string(), number(v)));
    let quick = summary["quick"].as_bool().unwrap_or_else(|| {
        config.as_ref().is_some_and(|c| {
            settings(c)
                .iter()
                .any(|(k, v)| k.ends_with("quick") && v == "true")
        })
    });
    let dataset = summary["dataset"].as_str().unwrap_or_default();
    section.mark = Some(if entry.failure.is_some() {
        Mark::Failed
    } else if quick {
        Mark::Quick
    } else {
        match value {
            Some(v) if dataset == reference.dataset => {
                // the README's figures are rounded: 1% of slack
                let meets = if reference.higher_is_better {
                    v >= reference.expected * (1.0 - 0.01)
                } else {
                    v <= reference.expected * (1.0 + 0.01)
                };
                if meets { Mark::Meets } else { Mark::Short }
            }
            _ => Mark::NotCompared,
        }
    });
    section.pictures = pictures(&entry.dir)?;
    Ok((order, section))
}

/// A figure with four significant digits, or in scientific notation when tiny or huge.
fn number(v: f64) -> String {
    if v != 0.0 && (v.abs() < 1e-3 || v.abs() >= 1e6) {
        format!("{v:.3e}")
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        let digits = (4 - v.abs().log10().floor() as i32 - 1).clamp(0, 6) as usize;
        format!("{v:.digits$}")
    }
}

/// The settings of a `config.toml` as `table.key = value` rows; long arrays (standardizers,
/// vocabularies) are summarised.
fn settings(config: &toml::Value) -> Vec<(String, String)> {
    fn walk(prefix: &str, value: &toml::Value, rows: &mut Vec<(String, String)>) {
        match value {
            toml::Value::Table(table) => {
                for (key, value) in table {
                    let name = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(&name, value, rows);
                }
            }
            toml::Value::Array(items) if items.len() > 6 => {
                rows.push((prefix.to_string(), format!("[{} values]", items.len())))
            }
            toml::Value::String(s) => rows.push((prefix.to_string(), s.clone())),
            other => rows.push((prefix.to_string(), other.to_string())),
        }
    }
    let mut rows = Vec::new();
    walk("", config, &mut rows);
    rows.retain(|(k, _)| k != "lab");
    rows
}

/// The run's pictures: curves first, then the others by name (epochs in their order).
fn pictures(dir: &Path) -> Result<Vec<Picture>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        // example-*.png are inputs left for `predict` to try, not pictures of the run
        .filter(|n| n.ends_with(".png") && !n.starts_with("example-"))
        .collect();
    let curve = |n: &str| {
        ["loss.png", "accuracy.png", "mae.png"]
            .iter()
            .position(|c| *c == n)
            .unwrap_or(usize::MAX)
    };
    // samples-epoch-10 after samples-epoch-9
    let natural = |n: &str| {
        let digits: String = n.chars().filter(char::is_ascii_digit).collect();
        (
            n.trim_end_matches(".png")
                .trim_end_matches(|c: char| c.is_ascii_digit())
                .to_string(),
            digits.parse::<u64>().unwrap_or(0),
        )
    };
    names.sort_by_key(|n| (curve(n), natural(n)));
    names
        .into_iter()
        .map(|name| {
            let path = dir.join(&name);
            let png = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            Ok(Picture {
                caption: name.trim_end_matches(".png").replace('-', " "),
                png,
            })
        })
        .collect()
}

// --- the tour ------------------------------------------------------------------------------------

/// `neurons tour`'s flags.
#[derive(Debug, Clone, clap::Args)]
pub struct TourArgs {
    /// Every lab with its --quick settings: the whole course in a few minutes
    #[arg(long)]
    pub quick: bool,
    /// The tour's folder (default: tour-<YYYYMMDD-HHMMSS>)
    #[arg(long, conflicts_with = "resume")]
    pub out: Option<PathBuf>,
    /// Only these labs, e.g. --labs cnn,vae (default: all, in the lecture's order)
    #[arg(long, value_delimiter = ',', conflicts_with = "resume")]
    pub labs: Option<Vec<String>>,
    /// Continue the tour in this folder: finished labs are kept, the one that was running resumes
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// Seed of every lab
    #[arg(
        long,
        default_value_t = 1,
        conflicts_with = "resume",
        allow_negative_numbers = true
    )]
    pub seed: u64,
}

/// `tour.toml`: what a tour was asked, so that `--resume` continues the same tour.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TourConfig {
    neurons_version: String,
    quick: bool,
    seed: u64,
    labs: Vec<String>,
}

const TOUR: &str = "tour.toml";

/// What happened to one lab of the tour.
enum Outcome {
    Done,
    AlreadyDone,
    Failed(String),
}

/// Runs the labs of a tour one after the other, then writes `index.html`; fails (exit 1) if any
/// lab failed, after running all the others.
pub fn tour(args: &TourArgs) -> anyhow::Result<()> {
    let (folder, config) = match &args.resume {
        Some(dir) => {
            let path = dir.join(TOUR);
            let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
            let config: TourConfig = toml::from_str(&text).map_err(|e| Error::BadRunDir {
                path: path.clone(),
                reason: crate::report::toml_error(&text, &e),
            })?;
            if config.labs.is_empty() {
                return Err(Error::BadRunDir {
                    path,
                    reason: "labs: empty; the tour has no lab to run".to_string(),
                }
                .into());
            }
            chosen_labs(Some(&config.labs)).map_err(|e| Error::BadRunDir {
                path: path.clone(),
                reason: e.to_string().replace("--labs: ", "labs: "),
            })?;
            (dir.clone(), config)
        }
        None => {
            let labs = chosen_labs(args.labs.as_deref())?;
            let folder = args.out.clone().unwrap_or_else(|| {
                PathBuf::from(format!(
                    "tour-{}",
                    chrono::Local::now().format("%Y%m%d-%H%M%S")
                ))
            });
            if folder.join(TOUR).exists() {
                return Err(Error::Usage(format!(
                    "{} already holds a tour: continue it with --resume {}, or choose another --out",
                    folder.display(),
                    folder.display()
                ))
                .into());
            }
            let config = TourConfig {
                neurons_version: crate::report::config::VERSION.to_string(),
                quick: args.quick,
                seed: args.seed,
                labs: labs.iter().map(|l| l.info().name.to_string()).collect(),
            };
            std::fs::create_dir_all(&folder).map_err(|e| Error::io(&folder, e))?;
            let text = toml::to_string_pretty(&config).map_err(|e| Error::BadRunDir {
                path: folder.join(TOUR),
                reason: e.to_string(),
            })?;
            crate::report::write_atomic(&folder.join(TOUR), text.as_bytes())?;
            (folder, config)
        }
    };
    let labs = chosen_labs(Some(&config.labs))?;

    let console = Console::new(false);
    let bars = console.multi();
    let tour_bar = console.bar(labs.len() as u64).map(|bar| {
        let bar = bars.add(bar);
        bar.set_style(
            ProgressStyle::with_template(
                "tour [{bar:25}] {msg}  elapsed {elapsed}, about {eta} left",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar
    });
    let lab_console = console.under(&bars);
    let started = Instant::now();
    let mut entries = Vec::new();
    let mut failed = Vec::new();
    for (k, lab) in labs.iter().enumerate() {
        let name = lab.info().name;
        let elapsed = started.elapsed().as_secs_f64();
        let left = if k == 0 {
            String::new()
        } else {
            format!(
                ", about {:.0} s left",
                elapsed / k as f64 * (labs.len() - k) as f64
            )
        };
        match &tour_bar {
            Some(bar) => bar.set_message(format!("lab {}/{} {name}", k + 1, labs.len())),
            None => console.line(&format!(
                "tour: lab {}/{} {name} ({elapsed:.0} s elapsed{left})",
                k + 1,
                labs.len()
            )),
        }
        let dir = folder.join(name);
        let outcome = match run_one(*lab, &dir, &folder, &config, &lab_console) {
            Ok(outcome) => outcome,
            Err(err) => Outcome::Failed(format!("{err:#}")),
        };
        match &outcome {
            Outcome::Done => {}
            Outcome::AlreadyDone => lab_console.line(&format!("{name}: finished before, kept")),
            Outcome::Failed(reason) => {
                lab_console.line(&format!("{name} failed: {reason}"));
                failed.push(name);
            }
        }
        entries.push(ReportEntry {
            dir,
            failure: match outcome {
                Outcome::Failed(reason) => Some(reason),
                _ => None,
            },
        });
        if let Some(bar) = &tour_bar {
            bar.inc(1);
        }
    }
    if let Some(bar) = tour_bar {
        bar.finish_and_clear();
    }
    let index = folder.join("index.html");
    write_report(
        &entries,
        &index,
        &format!(
            "a tour of {} labs{}, seed {}, in {:.0} s",
            labs.len(),
            if config.quick { " with --quick" } else { "" },
            config.seed,
            started.elapsed().as_secs_f64()
        ),
    )?;
    console.line(&format!("report: {}", index.display()));
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::Numerical(format!(
            "{} of {} labs failed ({}); the others are in {}",
            failed.len(),
            labs.len(),
            failed.join(", "),
            index.display()
        ))
        .into())
    }
}

/// The labs asked for, in the lecture's order; an unknown name is a usage error listing them.
fn chosen_labs(names: Option<&[String]>) -> Result<Vec<Lab>> {
    let Some(names) = names else {
        return Ok(Lab::ALL.to_vec());
    };
    for name in names {
        if !Lab::ALL.iter().any(|l| l.info().name == name) {
            return Err(Error::Usage(format!(
                "--labs: no lab {name:?}; the labs are {}",
                Lab::ALL
                    .iter()
                    .map(|l| l.info().name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    Ok(Lab::ALL
        .iter()
        .copied()
        .filter(|l| names.iter().any(|n| n == l.info().name))
        .collect())
}

/// Runs (or resumes, or keeps) one lab of the tour in `dir`.
fn run_one(
    lab: Lab,
    dir: &Path,
    folder: &Path,
    config: &TourConfig,
    console: &Console,
) -> Result<Outcome> {
    let name = lab.info().name;
    if dir.join("summary.json").is_file() {
        return Ok(Outcome::AlreadyDone);
    }
    if dir.join("config.toml").is_file() {
        // the lab that was running when the tour stopped: continue it where it can be
        let run = RunDir::open(dir)?;
        match lab.resume(&run, console) {
            Ok(summary) => {
                finish(&run, &summary, console, false, Some(config.quick))?;
                return Ok(Outcome::Done);
            }
            Err(Error::Usage(_)) => {
                // a lab without checkpoints: its unfinished run is kept aside, then run again
                let aside = (1..)
                    .map(|k| dir.with_file_name(format!("{name}.unfinished-{k}")))
                    .find(|p| !p.exists())
                    .expect("a free name");
                std::fs::rename(dir, &aside).map_err(|e| Error::io(dir, e))?;
                console.line(&format!(
                    "{name}: its unfinished run moved to {}; running it again",
                    aside.display()
                ));
            }
            Err(err) => return Err(err),
        }
    } else if dir.is_dir() {
        // made by a failed start and left empty: nothing to keep
        let _ = std::fs::remove_dir(dir);
    }
    let mut argv = vec![
        "neurons".to_string(),
        name.to_string(),
        "--out".to_string(),
        dir.display().to_string(),
        "--seed".to_string(),
        config.seed.to_string(),
    ];
    if config.quick {
        argv.push("--quick".to_string());
    }
    // the generative labs are judged by the tour's own cnn, when it has one
    let judge = folder.join("cnn");
    if matches!(name, "gan" | "cgan") && judge.join("summary.json").is_file() {
        argv.extend(["--judge".to_string(), judge.display().to_string()]);
    }
    let command = OneLab::try_parse_from(&argv)
        .map_err(|e| Error::Usage(format!("tour: {name}: {e}")))?
        .lab;
    command.validate()?;
    let run = RunDir::create(Some(dir), name)?;
    let summary = command.run(&run, console)?;
    finish(&run, &summary, console, false, Some(config.quick))?;
    Ok(Outcome::Done)
}

/// One lab's command line, parsed as `neurons run` parses it.
#[derive(Debug, Parser)]
struct OneLab {
    #[command(subcommand)]
    lab: LabCommand,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_keep_four_significant_digits() {
        assert_eq!(number(0.97501), "0.9750");
        assert_eq!(number(157.23), "157.2");
        assert_eq!(number(2.0e-8), "2.000e-8");
        assert_eq!(number(20.0), "20");
    }

    #[test]
    fn an_unknown_lab_is_refused_naming_the_labs() {
        let err = chosen_labs(Some(&["cnn".to_string(), "telepathy".to_string()]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"telepathy\"") && err.contains("mlp-classifier"),
            "{err}"
        );
        let labs = chosen_labs(Some(&["vae".to_string(), "cnn".to_string()])).unwrap();
        assert_eq!(labs, vec![Lab::Cnn, Lab::Vae], "in the lecture's order");
    }
}
