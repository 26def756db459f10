//! Credentials that cannot leak: `Secret` has a redacted `Debug`, no `Display` and no
//! `Serialize`, and is read only through `expose()`. `SecretSource` is how a config file names
//! one: a literal, `{ env = "NAME" }`, `{ file = "PATH" }` or `{ credential = "NAME" }` (a
//! systemd credential, the file `NAME` in `$CREDENTIALS_DIRECTORY`).

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
#[derive(Clone)]
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
    /// `{ credential = "NAME" }`: a systemd credential, the file `NAME` in the directory systemd
    /// names in `$CREDENTIALS_DIRECTORY` for a service with `LoadCredential=NAME:PATH`.
    Credential {
        /// Credential name: a file name, as in `LoadCredential=`.
        credential: String,
    },
}

/// The environment variable in which systemd names the directory of a service's credentials.
pub const CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";

/// The table form, `{ env = … }`, `{ file = … }` or `{ credential = … }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Named {
    env: Option<String>,
    file: Option<PathBuf>,
    credential: Option<String>,
}

/// Whether `name` can name a systemd credential: a file name (systemd's rule: not empty, not
/// `.` or `..`, no `/`, at most 255 bytes), so it cannot reach out of the credentials directory.
fn is_credential_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name.len() <= 255
        && !name.contains(['/', '\0'])
}

impl<'de> Deserialize<'de> for SecretSource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<SecretSource, D::Error> {
        struct Source;
        impl<'de> serde::de::Visitor<'de> for Source {
            type Value = SecretSource;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "the value as a string, { env = \"NAME\" }, { file = \"PATH\" } or \
                     { credential = \"NAME\" }",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SecretSource, E> {
                Ok(SecretSource::Literal(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<SecretSource, A::Error> {
                let named = Named::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                match (named.env, named.file, named.credential) {
                    (Some(env), None, None) => Ok(SecretSource::Env { env }),
                    (None, Some(file), None) => Ok(SecretSource::File { file }),
                    (None, None, Some(credential)) if is_credential_name(&credential) => {
                        Ok(SecretSource::Credential { credential })
                    }
                    // The name is not echoed: it may be a value pasted in the wrong place.
                    (None, None, Some(_)) => Err(serde::de::Error::custom(
                        "a credential name is a file name (not empty, not . or .., no '/'), the \
                         NAME of LoadCredential=NAME:PATH",
                    )),
                    (None, None, None) => Err(serde::de::Error::custom(
                        "give env = \"NAME\", file = \"PATH\" or credential = \"NAME\"",
                    )),
                    _ => Err(serde::de::Error::custom(
                        "give only one of env, file and credential",
                    )),
                }
            }
        }
        d.deserialize_any(Source)
    }
}

/// Whether `name`, given as an environment variable's name, is one: a value pasted there by
/// mistake (mixed case, `-`, `/`, …) must not be echoed in an error.
fn is_env_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Whether `path`, given as a file path, looks like a credential pasted there by mistake: long,
/// no dot, only Base64/key characters, with digits and both cases of letters.
fn looks_like_a_credential(path: &str) -> bool {
    path.len() >= 20
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/=_-".contains(c))
        && path.chars().any(|c| c.is_ascii_digit())
        && path.chars().any(|c| c.is_ascii_uppercase())
        && path.chars().any(|c| c.is_ascii_lowercase())
}

/// How an error names the variable: by name, unless it looks like a pasted value.
fn env_label(env: &str) -> String {
    if is_env_name(env) {
        format!("environment variable {env}")
    } else {
        "the environment variable named in the config (name not shown: it is not a variable \
         name, perhaps the value itself; a literal value is written key = \"…\")"
            .to_string()
    }
}

/// How an error names a credential: by name (and its file, once known), unless the name looks
/// like a pasted value.
fn credential_label(name: &str, path: Option<&Path>) -> String {
    match path {
        _ if looks_like_a_credential(name) => {
            "the credential named in the config (name not shown: it looks like a credential, \
             perhaps the value itself; a literal value is written key = \"…\")"
                .to_string()
        }
        Some(path) => format!("credential {name} ({})", path.display()),
        None => format!("credential {name}"),
    }
}

/// How an error names the file: by path, unless the path looks like a pasted value.
fn file_label(path: &Path, as_written: &Path) -> String {
    if looks_like_a_credential(&as_written.to_string_lossy()) {
        "the file named in the config (path not shown: it looks like a credential, perhaps the \
         value itself; a literal value is written key = \"…\")"
            .to_string()
    } else {
        path.display().to_string()
    }
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Literal(_) => f.write_str("Literal(<redacted>)"),
            SecretSource::Env { env } if is_env_name(env) => write!(f, "Env({env})"),
            SecretSource::Env { .. } => f.write_str("Env(<redacted>)"),
            SecretSource::File { file } if !looks_like_a_credential(&file.to_string_lossy()) => {
                write!(f, "File({})", file.display())
            }
            SecretSource::File { .. } => f.write_str("File(<redacted>)"),
            SecretSource::Credential { credential } if !looks_like_a_credential(credential) => {
                write!(f, "Credential({credential})")
            }
            SecretSource::Credential { .. } => f.write_str("Credential(<redacted>)"),
        }
    }
}

impl SecretSource {
    /// Reads the value; a relative `file` path is taken relative to `base_dir` (the config
    /// file's directory), and a `credential` from the directory in `$CREDENTIALS_DIRECTORY`.
    ///
    /// # Errors
    /// The variable is unset, the file unreadable, or the value empty; the message names the
    /// variable or file (as resolved), never the value, nor a name or path that looks like one.
    pub fn resolve(&self, base_dir: &Path) -> Result<Secret, SecretError> {
        let credentials = std::env::var_os(CREDENTIALS_DIRECTORY).filter(|d| !d.is_empty());
        self.resolve_in(base_dir, credentials.as_deref().map(Path::new))
    }

    /// [`SecretSource::resolve`] with the credentials directory given (`None`: not set).
    fn resolve_in(
        &self,
        base_dir: &Path,
        credentials: Option<&Path>,
    ) -> Result<Secret, SecretError> {
        use crate::config::small_file::{self, SmallFileError};
        let (value, label) = match self {
            SecretSource::Literal(v) => (v.clone(), None),
            SecretSource::Env { env } => {
                let label = env_label(env);
                match std::env::var(env) {
                    Ok(v) => (v, Some(label)),
                    Err(_) => return Err(SecretError::Unset { label }),
                }
            }
            SecretSource::File { file } => {
                let path = base_dir.join(file);
                let label = file_label(&path, file);
                match small_file::read_to_string(&path, small_file::MAX_SECRET_BYTES) {
                    Ok(v) => (v, Some(label)),
                    Err(SmallFileError::Io(source)) => {
                        return Err(SecretError::Unreadable { label, source })
                    }
                    Err(problem) => return Err(SecretError::NotSmallFile { label, problem }),
                }
            }
            SecretSource::Credential { credential } => {
                let Some(dir) = credentials else {
                    return Err(SecretError::NoCredentialsDirectory {
                        label: credential_label(credential, None),
                        name: shown_credential_name(credential),
                    });
                };
                let path = dir.join(credential);
                let label = credential_label(credential, Some(&path));
                match small_file::read_to_string(&path, small_file::MAX_SECRET_BYTES) {
                    Ok(v) => (v, Some(label)),
                    Err(SmallFileError::Io(error)) => {
                        return Err(SecretError::CredentialUnreadable {
                            label,
                            name: shown_credential_name(credential),
                            error,
                        })
                    }
                    Err(problem) => return Err(SecretError::NotSmallFile { label, problem }),
                }
            }
        };
        let value = value.trim();
        if value.is_empty() {
            return Err(match label {
                None => SecretError::EmptyLiteral,
                Some(label) => SecretError::Empty { label },
            });
        }
        Ok(Secret(value.to_string()))
    }
}

/// A credential name as an error may show it in `LoadCredential=NAME:PATH`: `NAME` itself
/// when it looks like a value pasted there.
fn shown_credential_name(name: &str) -> String {
    if looks_like_a_credential(name) {
        "NAME".to_string()
    } else {
        name.to_string()
    }
}

/// Why a secret cannot be read. Messages name the variable or file, never the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The environment variable is not set.
    #[error("{label} is not set")]
    Unset {
        /// The variable, as shown.
        label: String,
    },
    /// The file cannot be read.
    #[error("cannot read {label} (relative paths are relative to the config file): {source}")]
    Unreadable {
        /// The file, as shown.
        label: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a small regular file.
    #[error(
        "{label} {problem}; a secret file must be a small regular file holding only the value"
    )]
    NotSmallFile {
        /// The file, as shown.
        label: String,
        /// What it is instead.
        problem: crate::config::small_file::SmallFileError,
    },
    /// `{ credential = … }` outside a service with credentials: `$CREDENTIALS_DIRECTORY` is
    /// not set.
    #[error(
        "{label}: CREDENTIALS_DIRECTORY is not set; systemd sets it for a service with \
         LoadCredential={name}:PATH (see README, Install); to check the config outside the \
         service, set CREDENTIALS_DIRECTORY to the directory holding the credential files"
    )]
    NoCredentialsDirectory {
        /// The credential, as shown.
        label: String,
        /// The name to write in `LoadCredential=`, as shown.
        name: String,
    },
    /// The credential file cannot be read: the unit does not pass it.
    #[error(
        "cannot read {label}: {error}; pass it to the service with LoadCredential={name}:PATH \
         (see README, Install)"
    )]
    CredentialUnreadable {
        /// The credential, as shown.
        label: String,
        /// The name to write in `LoadCredential=`, as shown.
        name: String,
        /// Why.
        error: std::io::Error,
    },
    /// The value in the configuration itself is empty.
    #[error("is empty")]
    EmptyLiteral,
    /// The variable or file holds nothing but white space.
    #[error("{label} is empty")]
    Empty {
        /// The variable or file, as shown.
        label: String,
    },
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
    fn a_secret_file_is_a_small_regular_file() {
        // A file over the bound is refused without reading it whole (a 300 MB file used to
        // cost 1.2 GB, and `/dev/zero` grew until the process was killed).
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        std::fs::write(&big, "k".repeat(100 * 1024)).unwrap();
        let err = SecretSource::File { file: big }
            .resolve(Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("is larger than 64 KiB"), "{err}");
        assert!(err.contains("small regular file"), "{err}");
        let err = SecretSource::File {
            file: "/dev/zero".into(),
        }
        .resolve(Path::new("/"))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("/dev/zero is a device, not a regular file"),
            "{err}"
        );
    }

    #[test]
    fn errors_name_the_source_not_the_value() {
        let err = SecretSource::Env {
            env: "MCSOURCE_TEST_UNSET_VAR".into(),
        }
        .resolve(Path::new("/"))
        .unwrap_err()
        .to_string();
        assert!(err.contains("MCSOURCE_TEST_UNSET_VAR"));
        let err = SecretSource::File { file: "key".into() }
            .resolve(Path::new("/nonexistent"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/key"), "{err}");
        assert!(err.contains("relative to the config file"), "{err}");
        assert!(SecretSource::Literal("  ".into())
            .resolve(Path::new("/"))
            .is_err());
    }

    #[test]
    fn a_value_pasted_as_a_name_or_path_is_not_echoed() {
        let pasted = "LVFr28U/SwZ9sr86uobAvziEF41KiNNLvjlwPgzp+FBAYDp/TIVBeH1liJBXFbWR";
        let file = SecretSource::File {
            file: pasted.into(),
        };
        let err = file
            .resolve(Path::new("/nonexistent"))
            .unwrap_err()
            .to_string();
        assert!(!err.contains("SwZ9"), "{err}");
        assert!(!format!("{file:?}").contains("SwZ9"));
        let env = SecretSource::Env {
            env: "0d5c3d8a-6f1e-4b7a-9c21-5e8f7a6b4c3d".into(),
        };
        let err = env.resolve(Path::new("/")).unwrap_err().to_string();
        assert!(!err.contains("6f1e"), "{err}");
        assert!(!format!("{env:?}").contains("6f1e"));
        // Ordinary names and paths are still named.
        let err = SecretSource::File {
            file: "secrets/mimecast.key".into(),
        }
        .resolve(Path::new("/nonexistent"))
        .unwrap_err()
        .to_string();
        assert!(err.contains("/nonexistent/secrets/mimecast.key"), "{err}");
    }

    #[test]
    fn a_source_is_a_string_or_exactly_one_of_env_and_file() {
        #[derive(Deserialize, Debug)]
        struct T {
            k: SecretSource,
        }
        let parse = |text: &str| toml::from_str::<T>(text).map_err(|e| e.to_string());
        assert!(matches!(
            parse("k = \"v\"").unwrap().k,
            SecretSource::Literal(_)
        ));
        assert!(matches!(
            parse("k = { env = \"A\" }").unwrap().k,
            SecretSource::Env { .. }
        ));
        assert!(matches!(
            parse("k = { file = \"f\" }").unwrap().k,
            SecretSource::File { .. }
        ));
        assert!(matches!(
            parse("k = { credential = \"mimecast-client-secret\" }")
                .unwrap()
                .k,
            SecretSource::Credential { .. }
        ));
        let both = parse("k = { env = \"A\", file = \"f\" }").unwrap_err();
        assert!(
            both.contains("only one of env, file and credential"),
            "{both}"
        );
        let both = parse("k = { file = \"f\", credential = \"c\" }").unwrap_err();
        assert!(
            both.contains("only one of env, file and credential"),
            "{both}"
        );
        let typo = parse("k = { envv = \"A\" }").unwrap_err();
        assert!(typo.contains("envv"), "{typo}");
        let number = parse("k = 12345").unwrap_err();
        assert!(number.contains("{ env = \"NAME\" }"), "{number}");
        assert!(number.contains("{ credential = \"NAME\" }"), "{number}");
    }

    #[test]
    fn a_credential_is_read_from_the_credentials_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mimecast-client-secret"), "from-systemd\n").unwrap();
        let source = SecretSource::Credential {
            credential: "mimecast-client-secret".into(),
        };
        let value = source
            .resolve_in(Path::new("/config-dir"), Some(dir.path()))
            .unwrap();
        assert_eq!(value.expose(), "from-systemd");
        assert_eq!(format!("{source:?}"), "Credential(mimecast-client-secret)");
    }

    #[test]
    fn a_credential_outside_systemd_says_how_to_pass_it() {
        let source = SecretSource::Credential {
            credential: "mimecast-client-secret".into(),
        };
        let err = source.resolve_in(Path::new("/"), None).unwrap_err();
        assert!(
            matches!(err, SecretError::NoCredentialsDirectory { .. }),
            "{err}"
        );
        let err = err.to_string();
        assert!(
            err.starts_with("credential mimecast-client-secret: CREDENTIALS_DIRECTORY is not set"),
            "{err}"
        );
        assert!(
            err.contains("LoadCredential=mimecast-client-secret:PATH"),
            "{err}"
        );

        // Not passed by the unit: the file is missing from the directory.
        let dir = tempfile::tempdir().unwrap();
        let err = source
            .resolve_in(Path::new("/"), Some(dir.path()))
            .unwrap_err();
        assert!(
            matches!(err, SecretError::CredentialUnreadable { .. }),
            "{err}"
        );
        let err = err.to_string();
        let path = dir.path().join("mimecast-client-secret");
        assert!(
            err.starts_with(&format!(
                "cannot read credential mimecast-client-secret ({}): ",
                path.display()
            )),
            "{err}"
        );
        assert!(
            err.ends_with("pass it to the service with LoadCredential=mimecast-client-secret:PATH (see README, Install)"),
            "{err}"
        );

        // Passed, but empty, or not a small regular file.
        std::fs::write(&path, " \n").unwrap();
        let err = source
            .resolve_in(Path::new("/"), Some(dir.path()))
            .unwrap_err();
        assert!(matches!(err, SecretError::Empty { .. }), "{err}");
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        let err = source
            .resolve_in(Path::new("/"), Some(dir.path()))
            .unwrap_err();
        assert!(matches!(err, SecretError::NotSmallFile { .. }), "{err}");
    }

    #[test]
    fn a_credential_name_is_a_file_name_and_never_echoed_when_wrong() {
        #[derive(Deserialize, Debug)]
        struct T {
            k: SecretSource,
        }
        // As `FileConfig::load` reports it: the parser's message, never the source line.
        let parse = |text: &str| {
            toml::from_str::<T>(text)
                .map(|t| t.k)
                .map_err(|e| e.message().to_string())
        };
        for bad in ["", ".", "..", "../etc/shadow", "a/b", "/abs", "a\\u0000b"] {
            let err = parse(&format!("k = {{ credential = \"{bad}\" }}")).unwrap_err();
            assert!(
                err.contains("a credential name is a file name"),
                "{bad:?}: {err}"
            );
            if bad.len() > 2 {
                assert!(!err.contains(bad), "{bad:?} echoed: {err}");
            }
        }
        let long = "c".repeat(256);
        assert!(parse(&format!("k = {{ credential = \"{long}\" }}")).is_err());
        // A value pasted as the name is neither shown in errors nor in Debug.
        let pasted = "LVFr28USwZ9sr86uobAvziEF41KiNNLvjlwPgzp+FBAYDpTIVBeH1liJBXFbWR";
        let source = SecretSource::Credential {
            credential: pasted.into(),
        };
        assert!(!format!("{source:?}").contains("SwZ9"));
        let dir = tempfile::tempdir().unwrap();
        for credentials in [None, Some(dir.path())] {
            let err = source
                .resolve_in(Path::new("/"), credentials)
                .unwrap_err()
                .to_string();
            assert!(!err.contains("SwZ9"), "{err}");
            assert!(err.contains("LoadCredential=NAME:PATH"), "{err}");
        }
    }
}
