//! `neurons serve` started for a test on a free port, killed when dropped: shared by the
//! end-to-end test (`tests/cli/serve.rs`) and the browser test (`tests/browser.rs`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A `neurons serve` process, killed when dropped.
pub struct Server {
    child: Child,
    /// Its address without the trailing slash, e.g. `http://127.0.0.1:40123`.
    pub base: String,
}

impl Server {
    pub fn start(runs: &[&str], dir: &Path) -> Self {
        let mut args = vec!["serve", "--port", "0"];
        for run in runs {
            args.extend(["--run", run]);
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_neurons"))
            .args(&args)
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        // "serving 2 run(s) on http://127.0.0.1:PORT/ (Ctrl-C to stop)"
        let start = line.find("http://").unwrap_or_else(|| panic!("{line}"));
        let address = line[start..].split_whitespace().next().unwrap();
        assert!(address.starts_with("http://127.0.0.1:"), "{line}");
        Self {
            child,
            base: address.trim_end_matches('/').to_string(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
