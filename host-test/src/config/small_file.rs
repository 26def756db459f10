//! Reading the files a config names (secrets, CA certificates, component builds, the config
//! itself): regular files only, and only up to a bound per kind. A config that names
//! `/dev/zero`, a FIFO or a huge file by mistake gets an error naming the bound, not a process
//! that grows until it is killed or blocks forever at start.

use std::io::Read as _;
use std::path::Path;

/// Largest file a secret (`{ file = … }`) may be read from: credentials and proxy URLs are
/// far smaller.
pub const MAX_SECRET_BYTES: u64 = 64 * 1024;
/// Largest `ca_file`: a full system bundle of several hundred certificates fits.
pub const MAX_CA_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// Largest component build (the bundled one is about 700 KiB).
pub const MAX_COMPONENT_BYTES: u64 = 64 * 1024 * 1024;
/// Largest config file (tens of thousands of tenants fit).
pub const MAX_CONFIG_BYTES: u64 = 64 * 1024 * 1024;

/// Why a file named in the config could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SmallFileError {
    /// Opening or reading failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The path names something other than a regular file.
    #[error("is a {kind}, not a regular file")]
    NotAFile {
        /// What the path names instead (directory, device, FIFO, socket).
        kind: &'static str,
    },
    /// The file is larger than the bound for its kind.
    #[error("is larger than {} (the most this file may hold)", show_bytes(*.limit))]
    TooLarge {
        /// The bound, in bytes.
        limit: u64,
    },
}

/// Reads the regular file at `path` if it holds at most `limit` bytes.
///
/// # Errors
/// The path names no regular file (a directory, device, FIFO or socket), the file cannot be
/// read, or it holds more than `limit` bytes.
pub fn read(path: &Path, limit: u64) -> Result<Vec<u8>, SmallFileError> {
    // Checked before opening: opening a FIFO would block until a writer comes.
    regular(&std::fs::metadata(path)?)?;
    let file = std::fs::File::open(path)?;
    // And again on what was opened, in case the path was swapped in between.
    regular(&file.metadata()?)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(SmallFileError::TooLarge { limit });
    }
    Ok(bytes)
}

/// [`read`] for a text file.
///
/// # Errors
/// As [`read`], or the file is not UTF-8.
pub fn read_to_string(path: &Path, limit: u64) -> Result<String, SmallFileError> {
    String::from_utf8(read(path, limit)?).map_err(|_| {
        SmallFileError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        ))
    })
}

fn regular(meta: &std::fs::Metadata) -> Result<(), SmallFileError> {
    use std::os::unix::fs::FileTypeExt as _;
    let t = meta.file_type();
    let kind = if t.is_file() {
        return Ok(());
    } else if t.is_dir() {
        "directory"
    } else if t.is_char_device() || t.is_block_device() {
        "device"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_socket() {
        "socket"
    } else {
        "special file"
    };
    Err(SmallFileError::NotAFile { kind })
}

/// `64 KiB`, `4 MiB`: a bound in the unit it was set in.
fn show_bytes(n: u64) -> String {
    match n {
        n if n >= 1024 * 1024 && n % (1024 * 1024) == 0 => format!("{} MiB", n / (1024 * 1024)),
        n if n >= 1024 && n % 1024 == 0 => format!("{} KiB", n / 1024),
        n => format!("{n} bytes"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_small_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, "abc").unwrap();
        assert_eq!(read_to_string(&path, 3).unwrap(), "abc");
    }

    #[test]
    fn refuses_a_file_over_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, "abcd").unwrap();
        let e = read(&path, 3).unwrap_err();
        assert!(matches!(e, SmallFileError::TooLarge { limit: 3 }), "{e}");
        assert_eq!(
            read(&path, 2048).map(|b| b.len()).unwrap(),
            4,
            "a bound above the size reads it"
        );
        assert_eq!(
            SmallFileError::TooLarge { limit: 64 * 1024 }.to_string(),
            "is larger than 64 KiB (the most this file may hold)"
        );
    }

    #[test]
    fn refuses_devices_directories_and_fifos_without_blocking() {
        let e = read(Path::new("/dev/zero"), 1024).unwrap_err();
        assert_eq!(e.to_string(), "is a device, not a regular file");
        let dir = tempfile::tempdir().unwrap();
        let e = read(dir.path(), 1024).unwrap_err();
        assert_eq!(e.to_string(), "is a directory, not a regular file");
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let e = read(&fifo, 1024).unwrap_err();
            assert_eq!(e.to_string(), "is a FIFO, not a regular file");
        }
    }

    #[test]
    fn a_missing_file_says_so() {
        let e = read(Path::new("/nonexistent/secret"), 10).unwrap_err();
        assert!(e.to_string().contains("No such file"), "{e}");
    }
}
