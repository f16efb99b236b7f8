//! The relays' configuration files (`file-server.ini`, `smp-server.ini`): INI read strictly,
//! as the reference relays do. An unknown section or key, or a value that does not parse, is
//! an error that names `[SECTION] key`; nothing is silently ignored. Also the few operational
//! helpers both relays need: the open-files limit and connection cap, civil dates.
//!
//! ```
//! use relay_config::{parse_ini, Settings};
//! let ini = parse_ini("[AUTH]\nnew_queues = off\n", "x.ini".as_ref())?;
//! let s = Settings::new(&ini, &[("AUTH", &["new_queues"])])?;
//! assert!(!s.on_off("AUTH", "new_queues", true)?);
//! # Ok::<(), relay_config::ConfigError>(())
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A config problem, naming the section and key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not `[section]`, `key = value`, a comment or blank.
    #[error("{path}:{line}: cannot parse {text:?}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The line.
        text: String,
    },
    /// A key this relay does not know.
    #[error("unknown setting [{section}] {key}")]
    Unknown {
        /// Section.
        section: String,
        /// Key.
        key: String,
    },
    /// A known key with a value that does not parse.
    #[error("invalid value {value:?} for [{section}] {key}: {expected}")]
    Invalid {
        /// Section.
        section: String,
        /// Key.
        key: String,
        /// The value.
        value: String,
        /// What is expected.
        expected: &'static str,
    },
    /// A required key is missing.
    #[error("missing setting [{section}] {key}")]
    Missing {
        /// Section.
        section: &'static str,
        /// Key.
        key: &'static str,
    },
}

/// The parsed INI: section → key → value.
pub type Ini = BTreeMap<String, BTreeMap<String, String>>;

/// Reads an INI text: `[section]`, `key = value` (or `key: value`), `#`/`;` comments.
pub fn parse_ini(text: &str, path: &Path) -> Result<Ini, ConfigError> {
    let mut ini = Ini::new();
    let mut section = String::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_string();
            ini.entry(section.clone()).or_default();
            continue;
        }
        let Some((k, v)) = line.split_once(['=', ':']) else {
            return Err(ConfigError::Syntax {
                path: path.to_path_buf(),
                line: i + 1,
                text: raw.to_string(),
            });
        };
        if section.is_empty() {
            return Err(ConfigError::Syntax {
                path: path.to_path_buf(),
                line: i + 1,
                text: raw.to_string(),
            });
        }
        ini.entry(section.clone())
            .or_default()
            .insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(ini)
}

/// The `[INFORMATION]` keys both reference relays accept (operator and hosting details).
pub const INFORMATION_KEYS: &[&str] = &[
    "source_code",
    "usage_conditions",
    "condition_amendments",
    "server_country",
    "operator",
    "operator_country",
    "website",
    "admin_simplex",
    "admin_email",
    "complaints_simplex",
    "complaints_email",
    "hosting",
    "hosting_country",
];

/// Raises the soft limit of open files to the hard limit: every connection is a descriptor.
pub fn raise_fd_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::debug!("open files limit: {n}"),
        Err(e) => tracing::warn!("cannot raise the open files limit: {e}"),
    }
}

/// Days since 1970-01-01 as (year, month, day), for the relays' dated file names and statistics.
pub use simplex_codec::time::civil_date;

/// `[LIMITS] max_connections` lowered to what the open-files limit carries, keeping `reserve`
/// descriptors for everything else (logs, listeners, outgoing connections); warns when lowered.
pub fn connection_cap(configured: usize, reserve: u64) -> usize {
    let soft = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft);
    let carried = usize::try_from(soft.saturating_sub(reserve).max(16)).unwrap_or(usize::MAX);
    if carried < configured {
        tracing::warn!(
            "[LIMITS] max_connections = {configured} needs more open files than allowed ({soft}): \
             {carried} connections at most"
        );
    }
    configured.min(carried)
}

/// Creates `path`, which must not exist, readable by the owner only (an ini may hold
/// passwords), with `bytes`, synced.
pub fn write_new_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// A parsed INI whose keys were all checked against the relay's table of known keys.
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    ini: &'a Ini,
}

impl<'a> Settings<'a> {
    /// Checks that every section and key is one of `known`.
    pub fn new(ini: &'a Ini, known: &[(&str, &[&str])]) -> Result<Self, ConfigError> {
        for (section, keys) in ini {
            let allowed = known.iter().find(|(s, _)| s == section).map(|(_, k)| *k);
            for key in keys.keys() {
                if !allowed.is_some_and(|k| k.contains(&key.as_str())) {
                    return Err(ConfigError::Unknown {
                        section: section.clone(),
                        key: key.clone(),
                    });
                }
            }
        }
        Ok(Self { ini })
    }

    /// The raw value.
    pub fn get(&self, section: &str, key: &str) -> Option<&'a str> {
        self.ini
            .get(section)
            .and_then(|m| m.get(key))
            .map(String::as_str)
    }

    /// A non-empty value.
    pub fn non_empty(&self, section: &str, key: &str) -> Option<&'a str> {
        self.get(section, key).filter(|v| !v.is_empty())
    }

    /// The error for a value that does not parse.
    pub fn invalid(section: &str, key: &str, value: &str, expected: &'static str) -> ConfigError {
        ConfigError::Invalid {
            section: section.into(),
            key: key.into(),
            value: value.into(),
            expected,
        }
    }

    /// `on` / `off`.
    pub fn on_off(&self, section: &str, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(section, key) {
            None => Ok(default),
            Some("on") => Ok(true),
            Some("off") => Ok(false),
            Some(v) => Err(Self::invalid(section, key, v, "on or off")),
        }
    }

    /// A whole number.
    pub fn number(&self, section: &str, key: &str, default: u64) -> Result<u64, ConfigError> {
        match self.get(section, key) {
            None => Ok(default),
            Some(v) => v
                .parse::<u64>()
                .map_err(|_| Self::invalid(section, key, v, "a number")),
        }
    }

    /// A port (1-65535), or none when absent or empty.
    pub fn port(&self, section: &str, key: &str) -> Result<Option<u16>, ConfigError> {
        match self.get(section, key) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse::<u16>()
                .ok()
                .filter(|&p| p > 0)
                .map(Some)
                .ok_or_else(|| Self::invalid(section, key, v, "a port number")),
        }
    }

    /// A relay password (`create_password`): printable ASCII without spaces, '@', ':' or '/',
    /// as the reference's basic auth.
    pub fn password(&self, section: &str, key: &str) -> Result<Option<String>, ConfigError> {
        match self.get(section, key) {
            None | Some("") => Ok(None),
            Some(p)
                if p.bytes()
                    .all(|b| b.is_ascii_graphic() && !matches!(b, b'@' | b':' | b'/')) =>
            {
                Ok(Some(p.to_string()))
            }
            Some(p) => Err(Self::invalid(
                section,
                key,
                p,
                "printable ASCII without spaces, '@', ':' or '/'",
            )),
        }
    }

    /// A path, or none when absent or empty.
    pub fn path(&self, section: &str, key: &str) -> Option<PathBuf> {
        self.non_empty(section, key).map(PathBuf::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_reading_names_the_setting() {
        let ini = parse_ini(
            "# comment\n[A]\nflag = on\nn: 12\nport = 0\npw = a b\n",
            Path::new("t.ini"),
        )
        .unwrap();
        let known: &[(&str, &[&str])] = &[("A", &["flag", "n", "port", "pw"])];
        let s = Settings::new(&ini, known).unwrap();
        assert!(s.on_off("A", "flag", false).unwrap());
        assert_eq!(s.number("A", "n", 0).unwrap(), 12);
        let e = s.port("A", "port").unwrap_err().to_string();
        assert!(e.contains("[A] port"), "{e}");
        assert!(s.password("A", "pw").is_err());
        let e = Settings::new(&ini, &[("A", &["flag"])])
            .unwrap_err()
            .to_string();
        assert_eq!(e, "unknown setting [A] n");
        assert!(parse_ini("key = before any section\n", Path::new("t")).is_err());
        assert!(parse_ini("[A]\nno separator\n", Path::new("t")).is_err());
    }
}
