//! Durable checkpoints. `StateStore` is the seam where a shared store (e.g. PostgreSQL, for
//! several hosts) can replace the embedded one; `FileStateStore` keeps one small file per tenant
//! and log type, replaced atomically (write, fsync, rename, fsync the directory), so a crash at
//! any instant leaves either the old or the new checkpoint, never a torn one.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Stores the last committed checkpoint per tenant and log type.
pub trait StateStore: Send {
    /// The committed checkpoint, if any.
    ///
    /// # Errors
    /// The store cannot be read.
    fn load(&self, tenant: &str, log_type: &str) -> io::Result<Option<String>>;

    /// Replaces the committed checkpoint; durable when this returns.
    ///
    /// # Errors
    /// The checkpoint could not be made durable; the old one is still in force.
    fn commit(&mut self, tenant: &str, log_type: &str, checkpoint: &str) -> io::Result<()>;
}

/// Checkpoints as files under a directory: `{dir}/{tenant}/{log_type}.checkpoint`.
pub struct FileStateStore {
    dir: PathBuf,
}

impl FileStateStore {
    /// Uses (and creates) `dir`.
    ///
    /// # Errors
    /// The directory cannot be created.
    pub fn open(dir: &Path) -> io::Result<FileStateStore> {
        fs::create_dir_all(dir)?;
        Ok(FileStateStore {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, tenant: &str, log_type: &str) -> PathBuf {
        // Tenant ids are validated to letters, digits, '.', '_' and '-' (config.rs).
        self.dir.join(tenant).join(format!("{log_type}.checkpoint"))
    }
}

impl StateStore for FileStateStore {
    fn load(&self, tenant: &str, log_type: &str) -> io::Result<Option<String>> {
        match fs::read_to_string(self.path(tenant, log_type)) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn commit(&mut self, tenant: &str, log_type: &str, checkpoint: &str) -> io::Result<()> {
        let path = self.path(tenant, log_type);
        let dir = path
            .parent()
            .ok_or_else(|| io::Error::other("checkpoint path has no parent"))?;
        fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(".{log_type}.checkpoint.tmp"));
        {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(checkpoint.as_bytes())?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &path)?;
        fs::File::open(dir)?.sync_all()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn commit_then_load() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = FileStateStore::open(dir.path()).unwrap();
        assert_eq!(store.load("acme", "url").unwrap(), None);
        store.commit("acme", "url", "one").unwrap();
        store.commit("acme", "url", "two").unwrap();
        store.commit("acme", "attachment", "three").unwrap();
        let reopened = FileStateStore::open(dir.path()).unwrap();
        assert_eq!(
            reopened.load("acme", "url").unwrap().as_deref(),
            Some("two")
        );
        assert_eq!(
            reopened.load("acme", "attachment").unwrap().as_deref(),
            Some("three")
        );
        assert_eq!(reopened.load("other", "url").unwrap(), None);
    }

    #[test]
    fn leftover_temp_file_does_not_matter() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = FileStateStore::open(dir.path()).unwrap();
        store.commit("t", "url", "good").unwrap();
        fs::write(dir.path().join("t").join(".url.checkpoint.tmp"), "torn").unwrap();
        assert_eq!(store.load("t", "url").unwrap().as_deref(), Some("good"));
        store.commit("t", "url", "better").unwrap();
        assert_eq!(store.load("t", "url").unwrap().as_deref(), Some("better"));
    }
}
