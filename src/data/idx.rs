//! The IDX format of MNIST and Fashion-MNIST, raw or gzipped.
//!
//! An IDX file is a big-endian header (a magic number `0x0000_08NN` whose last byte is the number
//! of dimensions, then one `u32` per dimension) followed by the unsigned bytes. The header is
//! checked against the real size of the data before anything is allocated from it: a header that
//! claims 10⁹ images in a 1 MB file is an error naming the file, not an allocation.

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use crate::error::{Error, Result};

/// Magic number of an IDX file of unsigned bytes with three dimensions (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with one dimension (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// Images as read from an IDX file: `count` images of `rows`×`cols` bytes, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxImages {
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
    pub pixels: Vec<u8>,
}

/// Reads an IDX image file (`*-images-idx3-ubyte`, raw or `.gz`).
pub fn read_images(path: &Path) -> Result<IdxImages> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_images(path, &bytes)
}

/// Reads an IDX label file (`*-labels-idx1-ubyte`, raw or `.gz`).
pub fn read_labels(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_labels(path, &bytes)
}

/// Parses IDX images from bytes already in memory; `path` names them in errors.
pub fn parse_images(path: &Path, bytes: &[u8]) -> Result<IdxImages> {
    let (dims, pixels) = parse(path, bytes, IMAGES_MAGIC, "images", 3)?;
    Ok(IdxImages {
        count: dims[0],
        rows: dims[1],
        cols: dims[2],
        pixels,
    })
}

/// Parses IDX labels from bytes already in memory; `path` names them in errors.
pub fn parse_labels(path: &Path, bytes: &[u8]) -> Result<Vec<u8>> {
    Ok(parse(path, bytes, LABELS_MAGIC, "labels", 1)?.1)
}

/// Encodes images as an uncompressed IDX file (for tests and for users preparing inputs).
pub fn encode_images(images: &IdxImages) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + images.pixels.len());
    for v in [
        IMAGES_MAGIC,
        images.count as u32,
        images.rows as u32,
        images.cols as u32,
    ] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&images.pixels);
    out
}

/// Encodes labels as an uncompressed IDX file.
pub fn encode_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + labels.len());
    out.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}

fn parse(
    path: &Path,
    bytes: &[u8],
    magic: u32,
    kind: &'static str,
    n_dims: usize,
) -> Result<(Vec<usize>, Vec<u8>)> {
    let gzipped = bytes.starts_with(&[0x1f, 0x8b]);
    let mut reader: Box<dyn Read> = if gzipped {
        Box::new(BufReader::new(GzDecoder::new(bytes)))
    } else {
        Box::new(bytes)
    };
    let path_buf = PathBuf::from(path);
    let read_err = |e: std::io::Error| Error::BadIdx {
        path: path_buf.clone(),
        reason: format!(
            "cannot read{}: {e}",
            if gzipped { " gzip stream" } else { "" }
        ),
    };

    let header_len = 4 + 4 * n_dims;
    let mut header = vec![0u8; header_len];
    let got = read_up_to(&mut reader, &mut header).map_err(read_err)?;
    if got < 4 {
        return Err(Error::TruncatedIdx {
            path: path_buf,
            expected: header_len as u64,
            found: got as u64,
        });
    }
    let found_magic = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    if found_magic != magic {
        return Err(Error::IdxMagic {
            path: path_buf,
            kind,
            expected: magic,
            found: found_magic,
        });
    }
    if got < header_len {
        return Err(Error::BadIdx {
            path: path_buf,
            reason: format!("truncated header: {got} bytes, expected {header_len}"),
        });
    }
    let dims: Vec<usize> = header[4..]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    // u64 arithmetic: three u32 dimensions cannot overflow it by more than 2^96, so saturate.
    let expected = dims
        .iter()
        .fold(1u64, |acc, &d| acc.saturating_mul(d as u64));

    if !gzipped {
        // The size is known: check it before reading anything more.
        let found = (bytes.len() - header_len) as u64;
        if found != expected {
            return if found < expected {
                Err(Error::TruncatedIdx {
                    path: path_buf,
                    expected,
                    found,
                })
            } else {
                Err(Error::BadIdx {
                    path: path_buf,
                    reason: format!(
                        "{} bytes after the data the header describes",
                        found - expected
                    ),
                })
            };
        }
        return Ok((dims, bytes[header_len..].to_vec()));
    }

    // Gzipped: the real size is only known by decompressing. Read at most one byte more than the
    // header promises, into a buffer that grows with what actually arrives, never with the header.
    let mut data = Vec::new();
    reader
        .take(expected.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(read_err)?;
    let found = data.len() as u64;
    if found < expected {
        return Err(Error::TruncatedIdx {
            path: path_buf,
            expected,
            found,
        });
    }
    if found > expected {
        return Err(Error::BadIdx {
            path: path_buf,
            reason: "more data after what the header describes".to_string(),
        });
    }
    Ok((dims, data))
}

/// Reads until `buf` is full or the stream ends; returns how many bytes were read.
fn read_up_to(reader: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    fn sample() -> IdxImages {
        IdxImages {
            count: 3,
            rows: 2,
            cols: 2,
            pixels: (0..12).collect(),
        }
    }

    #[test]
    fn raw_and_gzipped_round_trip() {
        let raw = encode_images(&sample());
        let p = Path::new("x-images");
        assert_eq!(parse_images(p, &raw).unwrap(), sample());
        assert_eq!(parse_images(p, &gzip(&raw)).unwrap(), sample());
        let labels = encode_labels(&[1, 2, 3]);
        assert_eq!(parse_labels(p, &gzip(&labels)).unwrap(), vec![1, 2, 3]);
    }

    #[test]
    fn truncated_data_is_an_error_naming_the_file() {
        let raw = encode_images(&sample());
        for bytes in [raw[..raw.len() - 1].to_vec(), gzip(&raw[..raw.len() - 5])] {
            let err = parse_images(Path::new("cut.idx"), &bytes).unwrap_err();
            assert!(
                matches!(err, Error::TruncatedIdx { expected: 12, .. }),
                "{err}"
            );
            assert!(err.to_string().starts_with("cut.idx: truncated"), "{err}");
        }
    }

    #[test]
    fn wrong_magic_is_an_error() {
        let labels = encode_labels(&[1, 2]);
        let err = parse_images(Path::new("l.idx"), &labels).unwrap_err();
        assert!(
            matches!(
                err,
                Error::IdxMagic {
                    found: LABELS_MAGIC,
                    ..
                }
            ),
            "{err}"
        );
        let err = parse_images(Path::new("t.png"), b"\x89PNG\r\n\x1a\n....").unwrap_err();
        assert!(err.to_string().contains("not an IDX images file"), "{err}");
    }

    #[test]
    fn a_header_that_lies_is_an_error_not_an_allocation() {
        // 10^9 images of 28×28 claimed, 100 bytes present: raw and gzipped.
        let mut lying = Vec::new();
        for v in [IMAGES_MAGIC, 1_000_000_000, 28, 28] {
            lying.extend_from_slice(&v.to_be_bytes());
        }
        lying.extend_from_slice(&[7u8; 100]);
        for bytes in [lying.clone(), gzip(&lying)] {
            let err = parse_images(Path::new("lie.idx"), &bytes).unwrap_err();
            match err {
                Error::TruncatedIdx {
                    expected, found, ..
                } => {
                    assert_eq!(expected, 784_000_000_000);
                    assert_eq!(found, 100);
                }
                other => panic!("unexpected {other}"),
            }
        }
    }

    #[test]
    fn trailing_bytes_and_garbage_gzip_are_errors() {
        let mut raw = encode_images(&sample());
        raw.push(0);
        assert!(parse_images(Path::new("a"), &raw).is_err());
        let mut gz = gzip(&encode_images(&sample()));
        let n = gz.len();
        gz.truncate(n - 10); // cut inside the gzip trailer and data
        assert!(parse_images(Path::new("a"), &gz).is_err());
    }
}
