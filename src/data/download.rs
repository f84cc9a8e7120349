//! Downloads checked against a published SHA-256, never leaving a bad file under a good name.
//!
//! Each file is streamed to `<name>.part` while being hashed, with a progress bar on a terminal;
//! only a file whose hash matches is renamed to its final name. Mirrors are tried in order.

use std::fs;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The SHA-256 of a file, as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// One SHA-256 over several files in order: what identifies a user's data set, so that a
/// resumed run can refuse data that changed since it started.
pub fn sha256_files(paths: &[PathBuf]) -> Result<String> {
    let mut hasher = Sha256::new();
    for path in paths {
        let mut file = fs::File::open(path).map_err(|e| Error::io(path, e))?;
        std::io::copy(&mut file, &mut hasher).map_err(|e| Error::io(path, e))?;
    }
    Ok(hex(&hasher.finalize()))
}

/// Refuses `paths` when their SHA-256 is no longer `expected`; `data` names them in the error
/// (the file, or the folder that holds them).
pub fn refuse_changed(data: &Path, paths: &[PathBuf], expected: &str) -> Result<()> {
    refuse_other_hash(data, expected, sha256_files(paths)?)
}

/// Refuses the data named by `data` when their SHA-256, `found`, is no longer `expected`.
pub fn refuse_other_hash(data: &Path, expected: &str, found: String) -> Result<()> {
    if found == expected {
        return Ok(());
    }
    Err(Error::DataChanged {
        path: data.to_path_buf(),
        expected: expected.to_string(),
        found,
    })
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Makes sure `dest` holds the file whose SHA-256 is `sha256`, downloading it from the first of
/// `urls` that delivers it. A file already in place with the right hash is kept as it is.
pub fn fetch_verified(urls: &[String], dest: &Path, sha256: &str) -> Result<()> {
    if dest.is_file() && sha256_file(dest)? == sha256 {
        return Ok(());
    }
    if let Some(dir) = dest.parent() {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let mut last_error = None;
    for url in urls {
        match download_once(url, dest, sha256) {
            Ok(()) => return Ok(()),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| Error::Download {
        url: String::new(),
        reason: "no mirror given".to_string(),
    }))
}

fn download_once(url: &str, dest: &Path, sha256: &str) -> Result<()> {
    let part = dest.with_file_name(format!(
        "{}.part",
        dest.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    let result = stream_to(url, &part).and_then(|found| {
        if found != sha256 {
            return Err(Error::Checksum {
                path: dest.to_path_buf(),
                expected: sha256.to_string(),
                found,
            });
        }
        fs::rename(&part, dest).map_err(|e| Error::io(dest, e))
    });
    if result.is_err() {
        // An incomplete or corrupt download must not survive to pass for a good one.
        let _ = fs::remove_file(&part);
    }
    result
}

/// Streams `url` into `path`, returning the SHA-256 of what arrived.
fn stream_to(url: &str, path: &Path) -> Result<String> {
    let fail = |reason: String| Error::Download {
        url: url.to_string(),
        reason,
    };
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(15))
        .timeout_read(Duration::from_secs(60))
        .build();
    let response = agent.get(url).call().map_err(|e| fail(e.to_string()))?;
    let total: Option<u64> = response
        .header("Content-Length")
        .and_then(|v| v.parse().ok());
    let bar = progress_bar(url, total);
    let mut reader = response.into_reader();
    let mut file = fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut received = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| fail(format!("connection lost after {received} bytes: {e}")))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(|e| Error::io(path, e))?;
        received += n as u64;
        bar.set_position(received);
    }
    file.sync_all().map_err(|e| Error::io(path, e))?;
    bar.finish_and_clear();
    if let Some(total) = total
        && received != total
    {
        return Err(fail(format!(
            "connection closed after {received} of {total} bytes"
        )));
    }
    Ok(hex(&hasher.finalize()))
}

fn progress_bar(url: &str, total: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        eprintln!("downloading {url}");
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total.unwrap_or(0));
    let style = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(url.rsplit('/').next().unwrap_or(url).to_string());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// Serves one HTTP response per connection: `body`, announced as `announced` bytes long.
    fn serve(body: Vec<u8>, announced: usize, connections: usize) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(connections) {
                let mut stream = stream.unwrap();
                let mut request = [0u8; 1024];
                let _ = stream.read(&mut request);
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {announced}\r\nConnection: close\r\n\r\n"
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
                // dropping the stream closes the connection, mid-file when body < announced
            }
        });
        format!("http://{addr}/file.gz")
    }

    fn sha_of(bytes: &[u8]) -> String {
        hex(&Sha256::digest(bytes))
    }

    #[test]
    fn a_good_file_is_downloaded_and_verified() {
        let body = b"hello digits".repeat(1000);
        let url = serve(body.clone(), body.len(), 1);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("file.gz");
        fetch_verified(&[url], &dest, &sha_of(&body)).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), body);
        // already there: no second connection needed (the server would refuse it)
        fetch_verified(
            &["http://127.0.0.1:9/none".to_string()],
            &dest,
            &sha_of(&body),
        )
        .unwrap();
    }

    #[test]
    fn a_wrong_checksum_leaves_no_file() {
        let body = b"not the real file".to_vec();
        let url = serve(body.clone(), body.len(), 1);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("file.gz");
        let err = fetch_verified(&[url], &dest, &sha_of(b"the real file")).unwrap_err();
        assert!(matches!(err, Error::Checksum { .. }), "{err}");
        assert!(err.to_string().contains("does not match"), "{err}");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            0,
            "no file may remain"
        );
    }

    #[test]
    fn a_connection_cut_mid_file_leaves_no_file() {
        let body = vec![42u8; 5000];
        let url = serve(body[..2000].to_vec(), body.len(), 1);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("file.gz");
        let err = fetch_verified(&[url], &dest, &sha_of(&body)).unwrap_err();
        assert!(matches!(err, Error::Download { .. }), "{err}");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            0,
            "no file may remain"
        );
    }

    #[test]
    fn the_next_mirror_is_tried_after_a_failure() {
        let body = b"mirror two".to_vec();
        let bad = serve(b"corrupt".to_vec(), 7, 1);
        let good = serve(body.clone(), body.len(), 1);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("file.gz");
        fetch_verified(&[bad, good], &dest, &sha_of(&body)).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), body);
    }
}
