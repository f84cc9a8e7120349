//! Running the `neurons` binary from a test that needs it to succeed (shared by the test crates
//! through `#[path]`, as `serve.rs`).

use std::path::Path;
use std::process::Command;

/// Runs `neurons args...` in `dir` and asserts it succeeded, showing its stderr if not.
pub fn run_ok(args: &[&str], dir: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_neurons"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
