//! Process-wide settings made once, before any tensor exists.

use std::sync::OnceLock;
use std::time::Instant;

/// Keeps freed tensor buffers in the heap instead of handing them back to the kernel.
///
/// Training allocates and frees buffers of hundreds of kilobytes to a few megabytes at every
/// step. With glibc's defaults each of them is its own `mmap`/`munmap` pair (and its pages are
/// faulted in again on every reuse), which cost 20–40% of a training step. A 256 MiB top pad
/// switches off glibc's dynamic mmap threshold and grows the heap in large steps; a 1 GiB trim
/// threshold keeps the freed memory for the next step. Measured with `neurons bench` (scale 0.3,
/// 2 threads): mlp_train 53k → 89k samples/s, cnn_train 1.9k → 2.4k, cnn_infer 4.3k → 5.8k.
/// The pages are only resident once written, so peak memory follows what training really uses.
/// This is done with `mallopt` rather than a replacement allocator: mimalloc measured no gain here
/// and jemalloc would need a C build on every machine.
///
/// The threads allocate at once when a batch is cut into shards (`train::sharded`), so each core
/// gets an arena of its own: with one for all, they queued on its lock (`vae_train` 4,650 context
/// switches a run against 770, and 5% slower). A worker's arena is made of mmapped heaps of
/// 64 MiB at most, and with the dynamic threshold off, every buffer above glibc's default
/// 128 KiB mmap threshold that its heap could not hold was mapped and unmapped at each step
/// (`cnn_train`, in the runs where a worker got the second arena: some 120 pairs of `mmap` and
/// `munmap`, 467k page faults against 20k, 4.9k samples/s against 14.1k): the threshold is raised
/// to glibc's largest, 32 MiB, so that the workers' arenas keep buffers as the main one does.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's allocator parameters; it is called once, from main,
    // before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_TOP_PAD, 256 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        libc::mallopt(libc::M_ARENA_MAX, cores as i32);
    }
}

/// glibc's largest mmap threshold on 64-bit machines (`HEAP_MAX_SIZE / 2`): buffers below it come
/// from the arenas' heaps.
const MMAP_THRESHOLD: i32 = 32 << 20;

static STARTED: OnceLock<Instant> = OnceLock::new();
static FIRST_BATCH: OnceLock<f64> = OnceLock::new();

/// Starts the clock that [`seconds_to_first_batch`] reads; called first thing in `main`.
pub fn start_clock() {
    STARTED.get_or_init(Instant::now);
}

/// Called by the training loops as each batch arrives; only the first call counts.
pub fn mark_first_batch() {
    if let Some(started) = STARTED.get() {
        FIRST_BATCH.get_or_init(|| started.elapsed().as_secs_f64());
    }
}

/// Seconds from the start of the process to its first training batch (data loaded, model built),
/// if there was one; written to `summary.json`.
pub fn seconds_to_first_batch() -> Option<f64> {
    FIRST_BATCH.get().copied()
}
