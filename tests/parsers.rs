//! Property tests of every parser of user input: IDX, CSV tables, pictures, texts, graphs (CSV
//! and `.npz`), and a run directory's `config.toml` and `metrics.csv` as `predict` and
//! `--resume` read them. Arbitrary bytes and mutations of valid files must never panic, and
//! never allocate more than the input justifies: the largest single allocation is bounded by a
//! multiple of the input's size (an IDX header claiming 10¹² bytes is refused before any
//! allocation). The allocations are counted by this test binary's own global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;
use std::sync::OnceLock;

use proptest::prelude::*;

#[path = "support/binary.rs"]
mod binary;

use neurons::data::{graph, idx, images, table, text};

// --- the largest allocation of this thread -----------------------------------------------------

struct Counting;

thread_local! {
    // const-initialised: reading it never allocates, as an allocator requires
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `parse` and returns the largest single allocation it made on this thread.
fn largest_allocation<T>(parse: impl FnOnce() -> T) -> usize {
    LARGEST.with(|l| l.set(0));
    let result = parse();
    drop(result);
    LARGEST.with(|l| l.get())
}

#[test]
fn the_counter_sees_an_allocation_of_ten_megabytes() {
    let largest = largest_allocation(|| vec![1u8; 10_000_000]);
    assert!(largest >= 10_000_000, "{largest}");
    // and an IDX header claiming 10¹² bytes in 16 is refused without one
    let claim = [
        &idx::IMAGES_MAGIC.to_be_bytes()[..],
        &1_000_000u32.to_be_bytes(),
        &1000u32.to_be_bytes(),
        &1000u32.to_be_bytes(),
    ]
    .concat();
    let largest = largest_allocation(|| idx::parse_images(Path::new("i"), &claim));
    assert!(largest < 4096, "{largest}");
    // nor an .npz whose labels claim 10¹² values
    let npz = corpus("graph/huge-shape.npz");
    let largest = largest_allocation(|| graph::read_npz(&npz, "huge-shape.npz"));
    assert!(largest <= justified(npz.len()), "{largest}");
}

/// What an input of `len` bytes justifies: a fixed allowance for buffers (the CSV reader's,
/// a zip's directory) plus a multiple of its size (a row of numbers held as f64 and Vec
/// headers, grown by doubling).
fn justified(len: usize) -> usize {
    (1 << 20) + 32 * len
}

// --- inputs: arbitrary bytes, and valid files mutated ------------------------------------------

/// A valid file with a few bytes changed, some removed or added, or cut short.
fn mutated(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = valid.len();
    (
        prop::collection::vec((0..len.max(1), any::<u8>()), 0..6),
        prop::collection::vec((0..len.max(1), any::<u8>()), 0..3),
        0..=len,
    )
        .prop_map(move |(flips, insertions, keep)| {
            let mut bytes = valid.clone();
            for (at, byte) in flips {
                if at < bytes.len() {
                    bytes[at] = byte;
                }
            }
            for (at, byte) in insertions {
                bytes.insert(at.min(bytes.len()), byte);
            }
            // cut short one time in four
            if keep % 4 == 0 {
                bytes.truncate(keep);
            }
            bytes
        })
}

fn any_or_mutated(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        mutated(valid.clone()),
        // the valid file's first bytes (its header), then noise
        prop::collection::vec(any::<u8>(), 0..256).prop_map(move |noise| {
            let mut bytes = valid[..valid.len().min(16)].to_vec();
            bytes.extend(noise);
            bytes
        }),
    ]
}

fn idx_file(count: usize) -> Vec<u8> {
    idx::encode_images(&idx::IdxImages {
        count,
        rows: 28,
        cols: 28,
        pixels: (0..count * 784).map(|i| (i * 31 % 256) as u8).collect(),
    })
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn corpus(file: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/corpus")
            .join(file),
    )
    .unwrap()
}

const WINES: &str = "fixed acidity;alcohol;quality\n7.4;9.4;5\n7.8;9.8;5\n11.2;9.8;6\n";

/// `cases` cases, each seeded anew (no regression files written into the repository).
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// --- the parsers -------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(200))]

    #[test]
    fn idx_images_never_panic_nor_allocate_beyond_their_size(
        bytes in any_or_mutated(idx_file(3))
    ) {
        let path = Path::new("train-images-idx3-ubyte");
        let largest = largest_allocation(|| idx::parse_images(path, &bytes));
        prop_assert!(largest <= justified(bytes.len()), "{largest} bytes for {}", bytes.len());
    }

    #[test]
    fn idx_labels_and_gzipped_images_never_panic(
        labels in any_or_mutated(idx::encode_labels(&[1, 2, 3, 4])),
        zipped in any_or_mutated(gzip(&idx_file(2))),
    ) {
        let _ = idx::parse_labels(Path::new("l"), &labels);
        // gzip: the buffer grows with what decompresses, never with what the header claims
        let _ = idx::parse_images(Path::new("i.gz"), &zipped);
    }

    #[test]
    fn csv_tables_never_panic_nor_allocate_beyond_their_size(
        bytes in any_or_mutated(WINES.as_bytes().to_vec()),
        separator in prop_oneof![Just(b';'), Just(b','), any::<u8>()],
    ) {
        let largest = largest_allocation(|| {
            table::Table::parse_csv("wines.csv", &bytes, separator)
                .and_then(|t| t.features_and_target("quality"))
        });
        prop_assert!(largest <= justified(bytes.len()), "{largest} bytes for {}", bytes.len());
    }

    #[test]
    fn pictures_never_panic_nor_decode_beyond_the_side_limit(
        bytes in any_or_mutated(corpus("png/digit.png"))
    ) {
        let largest = largest_allocation(|| images::parse_input(Path::new("digit.png"), &bytes));
        let limit = 4 * (images::MAX_PICTURE_SIDE as usize).pow(2);
        prop_assert!(largest <= limit + justified(bytes.len()), "{largest} bytes");
    }

    #[test]
    fn graph_csvs_never_panic_nor_allocate_beyond_their_size(
        edges in any_or_mutated(corpus("graph/edges.csv")),
        nodes in any_or_mutated(corpus("graph/nodes.csv")),
    ) {
        let largest = largest_allocation(|| {
            graph::read_csv_graph((&edges, "edges.csv"), (&nodes, "nodes.csv"))
        });
        prop_assert!(largest <= justified(edges.len() + nodes.len()), "{largest} bytes");
    }

    #[test]
    fn npz_graphs_never_panic_nor_allocate_beyond_their_size(
        bytes in any_or_mutated(corpus("graph/arrays-disagree.npz"))
    ) {
        let largest = largest_allocation(|| graph::read_npz(&bytes, "graph.npz"));
        prop_assert!(largest <= justified(bytes.len()), "{largest} bytes for {}", bytes.len());
    }

    #[test]
    fn text_csvs_never_panic(
        bytes in any_or_mutated(b"text,label\ngood film,1\nbad film,0\nfine,1\n".to_vec())
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reviews.csv");
        std::fs::write(&path, &bytes).unwrap();
        let largest = largest_allocation(|| text::read_labelled_texts(&path, "text", "label", b','));
        prop_assert!(largest <= justified(bytes.len()), "{largest} bytes for {}", bytes.len());
    }
}

// --- a run directory, as predict and resume read it --------------------------------------------

/// A finished quick run of `lab`, made once by the real binary.
fn base_run(lab: &'static str) -> &'static Path {
    static BASES: OnceLock<std::sync::Mutex<Vec<(&'static str, tempfile::TempDir)>>> =
        OnceLock::new();
    let bases = BASES.get_or_init(Default::default);
    let mut bases = bases.lock().unwrap();
    if let Some((_, dir)) = bases.iter().find(|(name, _)| *name == lab) {
        // the folder lives as long as the test binary: the static keeps it
        return Box::leak(dir.path().join("r").into_boxed_path());
    }
    let dir = tempfile::tempdir().unwrap();
    binary::run_ok(
        &["run", lab, "--quick", "--epochs", "1", "--out", "r"],
        dir.path(),
    );
    let run = Box::leak(dir.path().join("r").into_boxed_path());
    bases.push((lab, dir));
    run
}

/// A copy of a lab's base run with `file` replaced by `bytes`.
fn run_with(
    lab: &'static str,
    file: &str,
    bytes: &[u8],
) -> (tempfile::TempDir, neurons::report::RunDir) {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(base_run(lab)).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(dir.path().join(file), bytes).unwrap();
    let run = neurons::report::RunDir::open(dir.path()).unwrap();
    (dir, run)
}

/// What reading a run back may allocate at most: the embedded digits and a model of the largest
/// size a config.toml may name, far below the 10¹²-byte requests a bad field once made.
const RUN_READ_BUDGET: usize = 512 << 20;

fn digit_request() -> neurons::labs::PredictRequest {
    neurons::labs::PredictRequest {
        inputs: vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/png/digit.png")],
        ..Default::default()
    }
}

/// Predicts with the run, then resumes it (the base is finished: a resume reads and checks
/// everything, then stops short of training); returns the largest allocation.
fn predict_and_resume(
    run: &neurons::report::RunDir,
    request: &neurons::labs::PredictRequest,
) -> usize {
    largest_allocation(|| {
        let lab = neurons::labs::Lab::of_run(run)?;
        let _ = lab.predict(run, request);
        lab.resume(run, &neurons::train::Console::new(true))
    })
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn a_mutated_config_toml_never_panics_nor_overallocates_predict_or_resume(
        bytes in mutated(std::fs::read(base_run("mlp-classifier").join("config.toml")).unwrap())
    ) {
        let (_dir, run) = run_with("mlp-classifier", "config.toml", &bytes);
        let largest = predict_and_resume(&run, &digit_request());
        prop_assert!(largest <= RUN_READ_BUDGET, "{largest} bytes");
    }

    #[test]
    fn a_mutated_checkpoint_toml_never_panics_resume(
        bytes in mutated(b"epoch = 1\ntrain_seconds = 0.5\nsamples_seen = 2000\nbest_loss = 0.4\nbest_epoch = 1\nepochs_without_improvement = 0\n".to_vec())
    ) {
        let (_dir, run) = run_with("mlp-classifier", "checkpoint.toml", &bytes);
        let largest = predict_and_resume(&run, &digit_request());
        prop_assert!(largest <= RUN_READ_BUDGET, "{largest} bytes");
    }

    #[test]
    fn a_mutated_metrics_csv_never_panics_nor_allocates_beyond_its_size(
        bytes in mutated(std::fs::read(base_run("mlp-classifier").join("metrics.csv")).unwrap())
    ) {
        let (_dir, run) = run_with("mlp-classifier", "metrics.csv", &bytes);
        let largest = largest_allocation(|| {
            neurons::report::MetricsLog::read(&run, &["accuracy"])
        });
        prop_assert!(largest <= justified(bytes.len()), "{largest} bytes for {}", bytes.len());
    }

}

proptest! {
    // each case reads the embedded reviews again: fewer of them
    #![proptest_config(config(12))]

    #[test]
    fn a_mutated_vocabulary_or_class_list_never_panics_a_text_run(
        vocabulary in mutated(std::fs::read(base_run("sentiment").join("vocab.txt")).unwrap()),
        classes in mutated(std::fs::read(base_run("sentiment").join("classes.txt")).unwrap()),
    ) {
        let request = neurons::labs::PredictRequest {
            texts: vec!["a fine film".to_string()],
            ..Default::default()
        };
        for (file, bytes) in [("vocab.txt", &vocabulary), ("classes.txt", &classes)] {
            let (_dir, run) = run_with("sentiment", file, bytes);
            let largest = predict_and_resume(&run, &request);
            prop_assert!(largest <= RUN_READ_BUDGET, "{file}: {largest} bytes");
        }
    }
}
