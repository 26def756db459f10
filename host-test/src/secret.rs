//! Credentials that cannot leak: `Secret` has a redacted `Debug`, no `Display` and no
//! `Serialize`, and is read only through `expose()`. `SecretSource` is how a config file names
//! one: a literal, `{ env = "NAME" }` or `{ file = "PATH" }`.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A credential value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The only way to read the value; call it right where the value is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Where a credential comes from, as written in the config file.
#[derive(Clone, Deserialize)]
#[serde(untagged)]
pub enum SecretSource {
    /// The value itself (fine for tests; prefer `env` or `file` in production).
    Literal(String),
    /// `{ env = "NAME" }`: the value of an environment variable.
    Env {
        /// Variable name.
        env: String,
    },
    /// `{ file = "PATH" }`: the contents of a file, surrounding white space removed; a
    /// relative path is relative to the config file's directory.
    File {
        /// File path.
        file: PathBuf,
    },
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Literal(_) => f.write_str("Literal(<redacted>)"),
            SecretSource::Env { env } => write!(f, "Env({env})"),
            SecretSource::File { file } => write!(f, "File({})", file.display()),
        }
    }
}

impl SecretSource {
    /// Reads the value; a relative `file` path is taken relative to `base_dir` (the config
    /// file's directory).
    ///
    /// # Errors
    /// The variable is unset, the file unreadable, or the value empty; the message names the
    /// variable or file (as resolved), never the value.
    pub fn resolve(&self, base_dir: &Path) -> Result<Secret, String> {
        let value = match self {
            SecretSource::Literal(v) => v.clone(),
            SecretSource::Env { env } => {
                std::env::var(env).map_err(|_| format!("environment variable {env} is not set"))?
            }
            SecretSource::File { file } => {
                let path = base_dir.join(file);
                std::fs::read_to_string(&path).map_err(|e| {
                    format!(
                        "cannot read {} (relative paths are relative to the config file): {e}",
                        path.display()
                    )
                })?
            }
        };
        let value = value.trim();
        if value.is_empty() {
            return Err(match self {
                SecretSource::Literal(_) => "is empty".to_string(),
                SecretSource::Env { env } => format!("environment variable {env} is empty"),
                SecretSource::File { file } => {
                    format!("{} is empty", base_dir.join(file).display())
                }
            });
        }
        Ok(Secret(value.to_string()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_value() {
        let s = Secret::new("s3cr3t");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        let src = SecretSource::Literal("s3cr3t".into());
        assert!(!format!("{src:?}").contains("s3cr3t"));
    }

    #[test]
    fn resolves_env_and_file() {
        std::env::set_var("MCSOURCE_TEST_SECRET_A", " value \n");
        let s = SecretSource::Env {
            env: "MCSOURCE_TEST_SECRET_A".into(),
        }
        .resolve(Path::new("/"))
        .unwrap();
        assert_eq!(s.expose(), "value");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        std::fs::write(&path, "from-file\n").unwrap();
        assert_eq!(
            SecretSource::File { file: path }
                .resolve(Path::new("/elsewhere"))
                .unwrap()
                .expose(),
            "from-file"
        );
        // A relative path is taken relative to the config file's directory, not the cwd.
        assert_eq!(
            SecretSource::File { file: "k".into() }
                .resolve(dir.path())
                .unwrap()
                .expose(),
            "from-file"
        );
    }

    #[test]
    fn errors_name_the_source_not_the_value() {
        let err = SecretSource::Env {
            env: "MCSOURCE_TEST_UNSET_VAR".into(),
        }
        .resolve(Path::new("/"))
        .unwrap_err();
        assert!(err.contains("MCSOURCE_TEST_UNSET_VAR"));
        let err = SecretSource::File { file: "key".into() }
            .resolve(Path::new("/nonexistent"))
            .unwrap_err();
        assert!(err.contains("/nonexistent/key"), "{err}");
        assert!(err.contains("relative to the config file"), "{err}");
        assert!(SecretSource::Literal("  ".into())
            .resolve(Path::new("/"))
            .is_err());
    }
}
