//! `smp-server.ini`: every section and key of the reference's file, read strictly (an unknown
//! or invalid setting is an error that names it). Settings this relay does not implement yet
//! are refused with a clear message when they ask for something other than the default.

use std::path::{Path, PathBuf};

use relay_config::Settings;
pub use relay_config::{parse_ini, ConfigError, Ini};

/// The config file's name, as the reference calls it.
pub const CONFIG_FILE: &str = "smp-server.ini";
/// The store log's name.
pub const STORE_LOG_FILE: &str = "smp-server-store.log";
/// The message snapshot written at shutdown and restored at start.
pub const MESSAGES_FILE: &str = "smp-server-messages.log";
/// Default config directory.
pub const DEFAULT_CFG_PATH: &str = "/etc/opt/simplex";
/// Default state directory.
pub const DEFAULT_LOG_PATH: &str = "/var/opt/simplex";
/// The reference's default ports.
pub const DEFAULT_PORTS: &str = "5223,443";

/// Every key of the reference's `smp-server.ini`, by section.
const KNOWN: &[(&str, &[&str])] = &[
    ("INFORMATION", relay_config::INFORMATION_KEYS),
    (
        "STORE_LOG",
        &[
            "enable",
            "store_queues",
            "store_messages",
            "db_connection",
            "db_schema",
            "db_pool_size",
            "db_store_log",
            "db_deleted_ttl",
            "restore_messages",
            "expire_messages_days",
            "expire_messages_on_start",
            "expire_messages_on_send",
            "expire_ntfs_hours",
            "log_stats",
            "prometheus_interval",
        ],
    ),
    (
        "AUTH",
        &[
            "new_queues",
            "create_password",
            "control_port_admin_password",
            "control_port_user_password",
            "daily_block_queue_quota",
        ],
    ),
    (
        "TRANSPORT",
        &[
            "host",
            "port",
            "log_tls_errors",
            "websockets",
            "control_port",
            "accept_service_credentials",
        ],
    ),
    (
        "PROXY",
        &[
            "socks_proxy",
            "socks_mode",
            "host_mode",
            "required_host_mode",
            "own_server_domains",
            "client_concurrency",
        ],
    ),
    ("INACTIVE_CLIENTS", &["disconnect", "ttl", "check_interval"]),
    ("WEB", &["static_path", "http", "https", "cert", "key"]),
    // Not in the reference (which ignores sections it does not know).
    ("LIMITS", &["max_connections"]),
];

/// Connections open at once by default (each idle one costs about 31 KiB).
pub const DEFAULT_MAX_CONNECTIONS: usize = 100_000;

/// The relay's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// `[STORE_LOG] enable`: keep queue records in the store log.
    pub store_log: bool,
    /// `[STORE_LOG] restore_messages`: save messages at shutdown, restore them at start
    /// (default: as `enable`).
    pub restore_messages: bool,
    /// `[STORE_LOG] expire_messages_days` (0: never).
    pub expire_messages_days: u64,
    /// `[STORE_LOG] expire_messages_on_start`.
    pub expire_on_start: bool,
    /// `[STORE_LOG] expire_messages_on_send`.
    pub expire_on_send: bool,
    /// `[STORE_LOG] store_messages = journal`: messages in per-queue journal files (the store
    /// log is then always used for queues, as in the reference).
    pub journal: bool,
    /// `[AUTH] new_queues`.
    pub new_queues: bool,
    /// `[AUTH] create_password`.
    pub create_password: Option<String>,
    /// `[TRANSPORT] host`: printed in the address.
    pub host: String,
    /// `[TRANSPORT] port`: one or more ports.
    pub ports: Vec<u16>,
    /// `[INACTIVE_CLIENTS]`: disconnect, ttl, check_interval (seconds).
    pub inactive: Option<(u64, u64)>,
    /// `[LIMITS] max_connections` (ours): connections open at once; more are closed at accept.
    pub max_connections: usize,
    /// `[TRANSPORT] control_port`.
    pub control_port: Option<u16>,
    /// `[AUTH] control_port_admin_password`, `control_port_user_password`.
    pub control_passwords: (Option<String>, Option<String>),
    /// `[AUTH] daily_block_queue_quota` (default 20).
    pub daily_block_quota: u64,
    /// `[STORE_LOG] log_stats`.
    pub log_stats: bool,
}

impl Config {
    /// Reads `smp-server.ini` from `cfg_dir`.
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
        let not_yet = |s: &str, k: &str, allowed: &[&str], what: &'static str| match cfg.get(s, k) {
            Some(v) if !allowed.contains(&v) => Err(Settings::invalid(s, k, v, what)),
            _ => Ok(()),
        };
        not_yet(
            "STORE_LOG",
            "store_queues",
            &["memory"],
            "memory (database storage is not supported yet)",
        )?;
        not_yet(
            "STORE_LOG",
            "store_messages",
            &["memory", "journal"],
            "memory or journal (database storage is not supported yet)",
        )?;
        let journal = cfg.get("STORE_LOG", "store_messages") == Some("journal");
        not_yet(
            "TRANSPORT",
            "websockets",
            &["off"],
            "off (websockets are not supported)",
        )?;
        let list = cfg.non_empty("TRANSPORT", "port").unwrap_or(DEFAULT_PORTS);
        let ports = list
            .split(',')
            .map(|p| p.trim().parse::<u16>().ok().filter(|&p| p > 0))
            .collect::<Option<Vec<u16>>>()
            .filter(|ps| !ps.is_empty())
            .ok_or_else(|| {
                Settings::invalid("TRANSPORT", "port", list, "ports separated by commas")
            })?;
        let inactive = if cfg.on_off("INACTIVE_CLIENTS", "disconnect", false)? {
            Some((
                cfg.number("INACTIVE_CLIENTS", "ttl", 21_600)?,
                cfg.number("INACTIVE_CLIENTS", "check_interval", 3_600)?,
            ))
        } else {
            None
        };
        let store_log = cfg.on_off("STORE_LOG", "enable", false)? || journal;
        Ok(Self {
            store_log,
            restore_messages: !journal && cfg.on_off("STORE_LOG", "restore_messages", store_log)?,
            expire_messages_days: cfg.number("STORE_LOG", "expire_messages_days", 21)?,
            expire_on_start: cfg.on_off("STORE_LOG", "expire_messages_on_start", true)?,
            expire_on_send: cfg.on_off("STORE_LOG", "expire_messages_on_send", true)?,
            journal,
            new_queues: cfg.on_off("AUTH", "new_queues", true)?,
            create_password: cfg.password("AUTH", "create_password")?,
            host: cfg
                .non_empty("TRANSPORT", "host")
                .unwrap_or("localhost")
                .to_string(),
            ports,
            inactive,
            max_connections: cfg.number(
                "LIMITS",
                "max_connections",
                DEFAULT_MAX_CONNECTIONS as u64,
            )? as usize,
            control_port: match cfg.non_empty("TRANSPORT", "control_port") {
                None => None,
                Some(v) => Some(v.parse::<u16>().map_err(|_| {
                    Settings::invalid("TRANSPORT", "control_port", v, "a port number")
                })?),
            },
            control_passwords: (
                cfg.password("AUTH", "control_port_admin_password")?,
                cfg.password("AUTH", "control_port_user_password")?,
            ),
            daily_block_quota: cfg.number("AUTH", "daily_block_queue_quota", 20)?,
            log_stats: cfg.on_off("STORE_LOG", "log_stats", false)?,
        })
    }
}

/// The `smp-server.ini` that `init` writes.
pub fn default_ini(host: &str, store_log: bool, password: Option<&str>, log_dir: &Path) -> String {
    let on_off = |b: bool| if b { "on" } else { "off" };
    let password_line = match password {
        Some(p) => format!("create_password = {p}"),
        None => "# create_password = password to create new queues (any printable ASCII characters without whitespace, '@', ':' and '/')".to_string(),
    };
    let static_path = PathBuf::from(log_dir).join("www");
    format!(
        "[INFORMATION]\n\
         # AGPLv3 license requires that you make any source code modifications\n\
         # available to the end users of the server.\n\
         # source_code = URI\n\
         \n\
         [STORE_LOG]\n\
         # Use `enable = on` to use append-only log to preserve and restore queue records on restart.\n\
         # Log is compacted on start (deleted objects are removed).\n\
         enable = {store_log}\n\
         \n\
         # Queue storage mode: `memory` (database is not supported by this relay yet).\n\
         store_queues = memory\n\
         \n\
         # Message storage mode: `memory` or `journal`.\n\
         store_messages = memory\n\
         \n\
         # When store_messages is `memory`, undelivered messages are optionally saved and restored\n\
         # when the server restarts, they are preserved in the .bak file until the next restart.\n\
         restore_messages = {store_log}\n\
         \n\
         # Messages expiration period.\n\
         expire_messages_days = 21\n\
         \n\
         [AUTH]\n\
         # Set new_queues option to off to completely prohibit creating new messaging queues.\n\
         new_queues = on\n\
         \n\
         # Use create_password option to enable basic auth to create new messaging queues.\n\
         # The password should be used as part of server address in client configuration:\n\
         # smp://fingerprint:password@host1,host2\n\
         {password_line}\n\
         \n\
         [TRANSPORT]\n\
         # Host is only used to print server address on start.\n\
         # You can specify multiple server ports.\n\
         host = {host}\n\
         port = {DEFAULT_PORTS}\n\
         log_tls_errors = off\n\
         websockets = off\n\
         \n\
         [INACTIVE_CLIENTS]\n\
         # TTL and interval to check inactive clients\n\
         disconnect = off\n\
         # ttl = 21600\n\
         # check_interval = 3600\n\
         \n\
         [WEB]\n\
         # static_path = {static_path}\n",
        store_log = on_off(store_log),
        static_path = static_path.display(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_ini_reads_back_and_bad_settings_are_named() {
        let text = default_ini("relay.example", true, Some("secret"), Path::new("/var/x"));
        let c = Config::from_ini(&parse_ini(&text, Path::new("t")).unwrap()).unwrap();
        assert!(c.store_log && c.new_queues);
        assert_eq!(c.ports, [5223, 443]);
        assert_eq!(c.create_password.as_deref(), Some("secret"));
        assert_eq!(c.host, "relay.example");
        assert!(!c.journal && c.restore_messages && c.expire_on_send && c.expire_on_start);
        assert_eq!(c.max_connections, DEFAULT_MAX_CONNECTIONS);
        // The journal implies the store log (queues must outlive their journals) and no
        // snapshot file.
        let j = Config::from_ini(
            &parse_ini(
                "[STORE_LOG]\nenable = off\nstore_messages = journal\nexpire_messages_on_send = off\n",
                Path::new("t"),
            )
            .unwrap(),
        )
        .unwrap();
        assert!(j.journal && j.store_log && !j.restore_messages && !j.expire_on_send);
        for (ini, named) in [
            (
                "[STORE_LOG]\nstore_messages = database\n",
                "[STORE_LOG] store_messages",
            ),
            ("[TRANSPORT]\nport = 5223,x\n", "[TRANSPORT] port"),
            ("[AUTH]\nnew_queue = on\n", "[AUTH] new_queue"),
            ("[AUTH]\ncreate_password = a b\n", "[AUTH] create_password"),
        ] {
            let e = Config::from_ini(&parse_ini(ini, Path::new("t")).unwrap())
                .unwrap_err()
                .to_string();
            assert!(e.contains(named), "{e}");
        }
    }
}
