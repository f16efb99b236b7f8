//! `file-server.ini`: the reference's sections and keys, parsed strictly (an unknown or
//! invalid setting is an error that names it).

use std::path::{Path, PathBuf};

use relay_config::Settings;
pub use relay_config::{parse_ini, ConfigError, Ini};

use xftp_proto::size::parse_file_size;

/// The config file's name, as the reference calls it.
pub const CONFIG_FILE: &str = "file-server.ini";
/// The store log's name.
pub const STORE_LOG_FILE: &str = "file-server-store.log";
/// Default config directory.
pub const DEFAULT_CFG_PATH: &str = "/etc/opt/simplex-xftp";
/// Default state directory.
pub const DEFAULT_LOG_PATH: &str = "/var/opt/simplex-xftp";

/// Every key the reference's `file-server.ini` has, by section.
const KNOWN: &[(&str, &[&str])] = &[
    ("INFORMATION", relay_config::INFORMATION_KEYS),
    (
        "STORE_LOG",
        &[
            "enable",
            "store_files",
            "db_connection",
            "db_schema",
            "db_pool_size",
            "db_store_log",
            "expire_files_hours",
            "log_stats",
            "prometheus_interval",
        ],
    ),
    (
        "AUTH",
        &[
            "new_files",
            "create_password",
            "control_port_admin_password",
            "control_port_user_password",
        ],
    ),
    (
        "TRANSPORT",
        &["host", "port", "log_tls_errors", "control_port"],
    ),
    (
        "FILES",
        &[
            "path",
            "storage_quota",
            // This relay's: chunks on an S3-compatible store (docs/SCALING.md).
            "s3_endpoint",
            "s3_bucket",
            "s3_region",
            "s3_prefix",
            "s3_credentials",
            "s3_timeout",
        ],
    ),
    ("INACTIVE_CLIENTS", &["disconnect", "ttl", "check_interval"]),
    ("WEB", &["static_path", "http", "https", "cert", "key"]),
    // This relay's own protections (the reference has no such section).
    (
        "LIMITS",
        &[
            "expire_unuploaded_hours",
            "max_connections",
            "max_connections_per_ip",
            "handshake_timeout",
            "idle_timeout",
            "new_files_per_second",
            "new_files_burst",
            "max_downloads_per_connection",
            "max_downloads_per_ip",
            "max_downloads",
            "stall_timeout",
        ],
    ),
];

/// Where chunk records are kept (`[STORE_LOG] store_files`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFiles {
    /// In memory, with the store log if `enable = on` (the default).
    Memory,
    /// In PostgreSQL (`db_connection`, `db_schema`, `db_pool_size`).
    Database,
}

/// The relay's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Append changes to the store log and replay it at start (memory store).
    pub store_log: bool,
    /// Memory or database.
    pub store_files: StoreFiles,
    /// The database, for `store_files = database` and `database import|export`.
    pub db: crate::pg::DbOptions,
    /// `db_store_log = on`: with the database, committed changes also go to the store log.
    pub db_store_log: bool,
    /// Hours a chunk lives after FNEW.
    pub expire_files_hours: u64,
    /// Write daily statistics.
    pub log_stats: bool,
    /// Accept FNEW at all.
    pub new_files: bool,
    /// Password required for FNEW.
    pub create_password: Option<String>,
    /// Password of the control port's admin.
    pub control_port_admin_password: Option<String>,
    /// Host printed in the address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Log TLS handshake failures.
    pub log_tls_errors: bool,
    /// Control port on 127.0.0.1.
    pub control_port: Option<u16>,
    /// Directory of chunk files.
    pub files_path: PathBuf,
    /// Bytes of chunks the relay accepts in total.
    pub storage_quota: u64,
    /// Chunks on an S3-compatible store instead of `files_path` (`[FILES] s3_*`).
    pub s3: Option<crate::s3::S3Options>,
    /// Close connections idle for `inactive_ttl`.
    pub inactive_disconnect: bool,
    /// Seconds of idleness before a connection is closed.
    pub inactive_ttl: u64,
    /// Seconds between idleness checks.
    pub inactive_check_interval: u64,
    /// Web: static files, certificate and key for browser clients.
    pub web_static_path: Option<PathBuf>,
    /// Web certificate (enables SNI web mode).
    pub web_cert: Option<PathBuf>,
    /// Web key.
    pub web_key: Option<PathBuf>,
    /// Hours after which a chunk that was registered but never uploaded is removed.
    pub expire_unuploaded_hours: u64,
    /// Resource limits per connection and address.
    pub limits: Limits,
}

/// Protections against clients that try to exhaust the relay (`[LIMITS]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once.
    pub max_connections: usize,
    /// Connections open at once from one IP address.
    pub max_connections_per_ip: usize,
    /// Seconds from TCP accept to a finished XFTP handshake.
    pub handshake_timeout: u64,
    /// Seconds a connection may stay open with no request in progress.
    pub idle_timeout: u64,
    /// FNEW per second per connection (an address gets four times as much).
    pub new_files_per_second: u32,
    /// FNEW burst per connection (an address gets four times as much).
    pub new_files_burst: u32,
    /// FGET responses streamed at once on one connection (more wait).
    pub max_downloads_per_connection: usize,
    /// FGET responses streamed at once to one address (each holds about 1 MiB of buffers).
    pub max_downloads_per_ip: usize,
    /// FGET responses streamed at once in all (bounds their buffers).
    pub max_downloads: usize,
    /// Seconds a request or response body may make no progress before it is reset.
    pub stall_timeout: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            max_connections_per_ip: 256,
            handshake_timeout: 30,
            idle_timeout: 600,
            new_files_per_second: 100,
            new_files_burst: 1000,
            max_downloads_per_connection: 8,
            max_downloads_per_ip: 64,
            max_downloads: 512,
            stall_timeout: 60,
        }
    }
}

impl Config {
    /// Reads `file-server.ini` from `cfg_dir`.
    pub fn load(cfg_dir: &Path) -> Result<Self, ConfigError> {
        let path = cfg_dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Io {
            path: path.clone(),
            source,
        })?;
        Self::from_ini(&parse_ini(&text, &path)?)
    }

    /// Builds the settings from a parsed INI, checking every key.
    pub fn from_ini(ini: &Ini) -> Result<Self, ConfigError> {
        let cfg = Settings::new(ini, KNOWN)?;
        let get = |s: &str, k: &str| cfg.get(s, k);
        let invalid = Settings::invalid;
        let onoff = |s: &str, k: &str, default: bool| cfg.on_off(s, k, default);
        let number = |s: &str, k: &str, default: u64| cfg.number(s, k, default);
        let port = |s: &str, k: &str| cfg.port(s, k);
        let store_files = match get("STORE_LOG", "store_files") {
            None | Some("memory") => StoreFiles::Memory,
            Some("database") => StoreFiles::Database,
            Some(other) => {
                return Err(invalid(
                    "STORE_LOG",
                    "store_files",
                    other,
                    "memory or database",
                ))
            }
        };
        let d = crate::pg::default_options();
        let db = crate::pg::DbOptions {
            connection: get("STORE_LOG", "db_connection")
                .filter(|c| !c.is_empty())
                .map_or(d.connection, str::to_string),
            schema: get("STORE_LOG", "db_schema")
                .filter(|c| !c.is_empty())
                .map_or(d.schema, str::to_string),
            pool_size: match number("STORE_LOG", "db_pool_size", d.pool_size as u64)? {
                n @ 1..=1000 => n as usize,
                n => {
                    return Err(invalid(
                        "STORE_LOG",
                        "db_pool_size",
                        &n.to_string(),
                        "a number from 1 to 1000",
                    ))
                }
            },
        };
        let password = cfg.password("AUTH", "create_password")?;
        let files_path = get("FILES", "path")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .ok_or(ConfigError::Missing {
                section: "FILES",
                key: "path",
            })?;
        let storage_quota = match get("FILES", "storage_quota") {
            None | Some("") => u64::MAX,
            Some(q) => parse_file_size(q)
                .ok_or_else(|| invalid("FILES", "storage_quota", q, "a size like 100gb"))?,
        };
        let path_opt = |s: &str, k: &str| cfg.path(s, k);
        let s3 = match get("FILES", "s3_endpoint").filter(|e| !e.is_empty()) {
            None => None,
            Some(endpoint) => {
                if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                    return Err(invalid(
                        "FILES",
                        "s3_endpoint",
                        endpoint,
                        "an http:// or https:// address",
                    ));
                }
                let bucket = get("FILES", "s3_bucket").filter(|b| !b.is_empty()).ok_or(
                    ConfigError::Missing {
                        section: "FILES",
                        key: "s3_bucket (with s3_endpoint)",
                    },
                )?;
                let prefix = get("FILES", "s3_prefix").unwrap_or("");
                if prefix.starts_with('/') || prefix.contains("..") {
                    return Err(invalid(
                        "FILES",
                        "s3_prefix",
                        prefix,
                        "a relative name such as xftp/",
                    ));
                }
                Some(crate::s3::S3Options {
                    endpoint: endpoint.to_string(),
                    bucket: bucket.to_string(),
                    region: get("FILES", "s3_region")
                        .filter(|r| !r.is_empty())
                        .unwrap_or("us-east-1")
                        .to_string(),
                    prefix: prefix.to_string(),
                    timeout: match number("FILES", "s3_timeout", 30)? {
                        0 => {
                            return Err(invalid("FILES", "s3_timeout", "0", "seconds, at least 1"))
                        }
                        n => std::time::Duration::from_secs(n),
                    },
                    credentials: path_opt("FILES", "s3_credentials"),
                })
            }
        };
        let d = Limits::default();
        let positive = |k: &str, default: u64| match number("LIMITS", k, default)? {
            0 => Err(invalid("LIMITS", k, "0", "a number greater than 0")),
            n => Ok(n),
        };
        let small = |k: &str, default: u32| -> Result<u32, ConfigError> {
            let n = positive(k, u64::from(default))?;
            u32::try_from(n).map_err(|_| invalid("LIMITS", k, &n.to_string(), "a smaller number"))
        };
        let count = |k: &str, default: usize| -> Result<usize, ConfigError> {
            let n = positive(k, default as u64)?;
            usize::try_from(n).map_err(|_| invalid("LIMITS", k, &n.to_string(), "a smaller number"))
        };
        let limits = Limits {
            max_connections: count("max_connections", d.max_connections)?,
            max_connections_per_ip: count("max_connections_per_ip", d.max_connections_per_ip)?,
            handshake_timeout: positive("handshake_timeout", d.handshake_timeout)?,
            idle_timeout: positive("idle_timeout", d.idle_timeout)?,
            new_files_per_second: small("new_files_per_second", d.new_files_per_second)?,
            new_files_burst: small("new_files_burst", d.new_files_burst)?,
            max_downloads_per_connection: count(
                "max_downloads_per_connection",
                d.max_downloads_per_connection,
            )?,
            max_downloads_per_ip: count("max_downloads_per_ip", d.max_downloads_per_ip)?,
            max_downloads: count("max_downloads", d.max_downloads)?,
            stall_timeout: positive("stall_timeout", d.stall_timeout)?,
        };
        Ok(Self {
            store_log: onoff("STORE_LOG", "enable", false)?,
            store_files,
            db,
            db_store_log: onoff("STORE_LOG", "db_store_log", false)?,
            expire_files_hours: number("STORE_LOG", "expire_files_hours", 48)?,
            log_stats: onoff("STORE_LOG", "log_stats", false)?,
            new_files: onoff("AUTH", "new_files", true)?,
            create_password: password,
            control_port_admin_password: get("AUTH", "control_port_admin_password")
                .filter(|p| !p.is_empty())
                .map(str::to_string),
            host: get("TRANSPORT", "host").unwrap_or("localhost").to_string(),
            port: port("TRANSPORT", "port")?.unwrap_or(443),
            log_tls_errors: onoff("TRANSPORT", "log_tls_errors", false)?,
            control_port: port("TRANSPORT", "control_port")?,
            files_path,
            storage_quota,
            s3,
            inactive_disconnect: onoff("INACTIVE_CLIENTS", "disconnect", false)?,
            inactive_ttl: number("INACTIVE_CLIENTS", "ttl", 21600)?,
            inactive_check_interval: number("INACTIVE_CLIENTS", "check_interval", 3600)?,
            web_static_path: path_opt("WEB", "static_path"),
            web_cert: path_opt("WEB", "cert"),
            web_key: path_opt("WEB", "key"),
            expire_unuploaded_hours: positive("expire_unuploaded_hours", 1)?,
            limits,
        })
    }
}

/// The `file-server.ini` that `init` writes.
pub fn default_ini(
    files_path: &Path,
    quota: &str,
    host: &str,
    store_log: bool,
    password: Option<&str>,
) -> String {
    format!(
        "[INFORMATION]\n\
         # source_code: https://github.com/...\n\
         \n\
         [STORE_LOG]\n\
         # The store log keeps chunk records across restarts.\n\
         enable = {}\n\
         \n\
         # Chunk records: `memory` (with the store log above) or `database` (PostgreSQL,\n\
         # docs/SCALING.md; move the records with `xftp-server database import`).\n\
         store_files = memory\n\
         # db_connection = postgresql://xftp@/xftp_server_store\n\
         # db_schema = xftp_server\n\
         # db_pool_size = 10\n\
         # With the database, also write its changes to the store log.\n\
         # db_store_log = off\n\
         \n\
         # Chunks are deleted this long after they were created.\n\
         expire_files_hours = 48\n\
         log_stats = off\n\
         \n\
         [AUTH]\n\
         # Set new_files = off to stop accepting uploads (downloads still work).\n\
         new_files = on\n\
         {}\n\
         \n\
         [TRANSPORT]\n\
         # host is only used to print the server address.\n\
         host = {host}\n\
         port = 443\n\
         log_tls_errors = off\n\
         # control_port = 5226\n\
         \n\
         [FILES]\n\
         path = {}\n\
         storage_quota = {quota}\n\
         # Chunks on an S3-compatible store instead of the path above (docs/SCALING.md):\n\
         # s3_endpoint = http://127.0.0.1:3900\n\
         # s3_bucket = xftp-chunks\n\
         # s3_region = garage\n\
         # s3_prefix =\n\
         # s3_credentials = /etc/opt/simplex-xftp/s3-credentials\n\
         # s3_timeout = 30\n\
         \n\
         [INACTIVE_CLIENTS]\n\
         disconnect = off\n\
         # ttl = 21600\n\
         # check_interval = 3600\n\
         \n\
         [LIMITS]\n\
         # This relay's protections against clients that try to exhaust it (docs/LIMITS.md).\n\
         # expire_unuploaded_hours = 1\n\
         # max_connections = 4096\n\
         # max_connections_per_ip = 256\n\
         # handshake_timeout = 30\n\
         # idle_timeout = 600\n\
         # new_files_per_second = 100\n\
         # new_files_burst = 1000\n\
         # max_downloads_per_connection = 8\n\
         # max_downloads_per_ip = 64\n\
         # max_downloads = 512\n\
         # stall_timeout = 60\n",
        if store_log { "on" } else { "off" },
        match password {
            Some(p) => format!("create_password = {p}"),
            None => "# create_password = password to upload files".to_string(),
        },
        files_path.display(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_ini(&parse_ini(text, Path::new("t.ini"))?)
    }

    #[test]
    fn limits_are_read_and_checked() {
        let c = parse(
            "[FILES]\npath = /x\n[LIMITS]\nmax_downloads_per_ip = 128\nmax_downloads = 1024\n\
             new_files_per_second = 5\nexpire_unuploaded_hours = 3\n",
        )
        .unwrap();
        assert_eq!(c.limits.max_downloads_per_ip, 128);
        assert_eq!(c.limits.max_downloads, 1024);
        assert_eq!(c.limits.new_files_per_second, 5);
        assert_eq!(c.limits.max_connections, 4096, "defaults for the rest");
        assert_eq!(c.expire_unuploaded_hours, 3);
        let e = parse("[FILES]\npath = /x\n[LIMITS]\nmax_downloads = 0\n").unwrap_err();
        assert!(e.to_string().contains("[LIMITS] max_downloads"), "{e}");
        let e = parse("[FILES]\npath = /x\n[LIMITS]\nnew_files_burst = 5000000000\n").unwrap_err();
        assert!(e.to_string().contains("new_files_burst"), "{e}");
    }

    #[test]
    fn database_settings_are_the_references() {
        let c = parse("[FILES]\npath = /x\n").unwrap();
        assert_eq!(c.store_files, StoreFiles::Memory);
        assert_eq!(c.db, crate::pg::default_options());
        assert_eq!(c.db.schema, "xftp_server");
        let c = parse(
            "[FILES]\npath = /x\n[STORE_LOG]\nstore_files = database\n\
             db_connection = postgresql://u@127.0.0.1:5433/db\ndb_schema = s1\n\
             db_pool_size = 4\ndb_store_log = on\n",
        )
        .unwrap();
        assert_eq!(c.store_files, StoreFiles::Database);
        assert_eq!(c.db.connection, "postgresql://u@127.0.0.1:5433/db");
        assert_eq!((c.db.schema.as_str(), c.db.pool_size), ("s1", 4));
        assert!(c.db_store_log);
        let e = parse("[FILES]\npath = /x\n[STORE_LOG]\nstore_files = s3\n").unwrap_err();
        assert!(e.to_string().contains("store_files"), "{e}");
        let e = parse("[FILES]\npath = /x\n[STORE_LOG]\ndb_pool_size = 0\n").unwrap_err();
        assert!(e.to_string().contains("db_pool_size"), "{e}");
        let c = parse(
            "[FILES]\npath = /x\ns3_endpoint = http://127.0.0.1:3900\ns3_bucket = b\n\
             s3_region = garage\ns3_prefix = xftp/\n",
        )
        .unwrap();
        let s3 = c.s3.unwrap();
        assert_eq!((s3.bucket.as_str(), s3.prefix.as_str()), ("b", "xftp/"));
        assert!(s3.credentials.is_none());
        let e = parse("[FILES]\npath = /x\ns3_endpoint = http://h:1\n").unwrap_err();
        assert!(e.to_string().contains("s3_bucket"), "{e}");
        let e = parse("[FILES]\npath = /x\ns3_endpoint = h:1\ns3_bucket = b\n").unwrap_err();
        assert!(e.to_string().contains("s3_endpoint"), "{e}");
        let c =
            parse("[FILES]\npath = /x\n[STORE_LOG]\ndb_connection = postgresql://u:pw@h:5433/d\n")
                .unwrap();
        // The connection string (it may hold a password) never shows in debug output.
        assert!(!format!("{:?}", c.db).contains("5433"));
    }

    #[test]
    fn defaults_and_errors() {
        let c = parse("[FILES]\npath = /tmp/x\n").unwrap();
        assert_eq!(c.port, 443);
        assert_eq!(c.expire_files_hours, 48);
        assert!(c.new_files);
        let e = parse("[FILES]\npath = /x\n[AUTH]\nnew_file = on\n").unwrap_err();
        assert!(e.to_string().contains("[AUTH] new_file"), "{e}");
        let e = parse("[FILES]\npath = /x\nstorage_quota = lots\n").unwrap_err();
        assert!(e.to_string().contains("storage_quota"), "{e}");
        let e = parse("[FILES]\npath = /x\n[TRANSPORT]\nport = 0\n").unwrap_err();
        assert!(e.to_string().contains("port"), "{e}");
        assert!(
            parse("[TRANSPORT]\nport = 1\n").is_err(),
            "files path is required"
        );
        let text = default_ini(
            Path::new("/srv/files"),
            "10gb",
            "example.com",
            true,
            Some("pw"),
        );
        let c = parse(&text).unwrap();
        assert_eq!(
            c.limits,
            Limits::default(),
            "init writes the limits commented out"
        );
        assert_eq!(c.storage_quota, 10 << 30);
        assert_eq!(c.create_password.as_deref(), Some("pw"));
        assert!(c.store_log);
    }
}
