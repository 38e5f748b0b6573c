//! Reading input files safely: only regular files, never more than a stated size, so that
//! `--set level=/dev/zero`, a FIFO or a 100 GB file is an error naming the file instead of a
//! read that never ends or eats the machine.

use std::io::Read as _;
use std::path::Path;

use crate::error::{Error, Result};

/// The most a text input (a config, level, URDF, demonstration or episode file) may hold.
pub const MAX_TEXT_BYTES: u64 = 256 << 20;

/// The most a checkpoint, archive or weights file may hold (memory budgets bound them
/// further where a run knows what it needs).
pub const MAX_BINARY_BYTES: u64 = 64 << 30;

/// Read `path` whole if it is a regular file of at most `max_bytes` bytes; the error names
/// the file and, for a device, FIFO, folder or oversized file, says which.
pub fn read_capped(path: &Path, max_bytes: u64) -> Result<Vec<u8>> {
    let what = path.display().to_string();
    let io = |error| Error::Io { path: what.clone(), error };
    let meta = std::fs::metadata(path).map_err(io)?;
    let refuse = |message: String| Error::Io {
        path: what.clone(),
        error: std::io::Error::new(std::io::ErrorKind::InvalidInput, message),
    };
    if !meta.is_file() {
        let kind = if meta.is_dir() { "a folder" } else { "not a regular file (a device or FIFO)" };
        return Err(refuse(format!("{kind}: inputs are read from regular files only")));
    }
    if meta.len() > max_bytes {
        return Err(refuse(format!(
            "{} bytes, more than the {max_bytes} bytes an input of this kind may have",
            meta.len()
        )));
    }
    let file = std::fs::File::open(path).map_err(io)?;
    // A file that grows while it is read stops at the bound too.
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(max_bytes + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > max_bytes {
        return Err(refuse(format!("grew past {max_bytes} bytes while being read")));
    }
    Ok(bytes)
}

/// [`read_capped`] at [`MAX_TEXT_BYTES`], as UTF-8 text.
pub fn read_text(path: &Path) -> Result<String> {
    let bytes = read_capped(path, MAX_TEXT_BYTES)?;
    String::from_utf8(bytes).map_err(|e| Error::Io {
        path: path.display().to_string(),
        error: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_folders_and_oversized_files_are_refused_by_name() {
        let e = read_text(Path::new("/dev/zero")).expect_err("a device").to_string();
        assert!(e.contains("/dev/zero") && e.contains("regular file"), "{e}");
        let e = read_text(Path::new("/")).expect_err("a folder").to_string();
        assert!(e.contains("a folder"), "{e}");
        let dir = std::env::temp_dir().join(format!("spelunk-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("big.txt");
        std::fs::write(&p, vec![b'a'; 100]).expect("write");
        let e = read_capped(&p, 99).expect_err("too big").to_string();
        assert!(e.contains("100 bytes") && e.contains("99"), "{e}");
        assert_eq!(read_capped(&p, 100).expect("fits").len(), 100);
        std::fs::write(&p, [0xff, 0xfe]).expect("write");
        assert!(read_text(&p).expect_err("binary").to_string().contains("not UTF-8"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
