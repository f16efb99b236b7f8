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
    /// `[STORE_LOG] store_queues = database`: queue records in PostgreSQL instead of the store
    /// log; messages in the journal.
    pub database: bool,
    /// `[STORE_LOG] db_connection`, `db_schema`, `db_pool_size` (the reference's defaults).
    pub db: crate::pg::DbOptions,
    /// `[STORE_LOG] db_store_log`: with the database, also append changes to the store log.
    pub db_store_log: bool,
    /// `[STORE_LOG] db_deleted_ttl`: seconds deleted queues stay in the database (the
    /// reference reads this setting in seconds; default 21 days).
    pub db_deleted_ttl: u64,
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
        let database = match cfg.get("STORE_LOG", "store_queues") {
            None | Some("memory") => false,
            Some("database") => true,
            Some(v) => {
                return Err(Settings::invalid(
                    "STORE_LOG",
                    "store_queues",
                    v,
                    "memory or database",
                ))
            }
        };
        not_yet(
            "STORE_LOG",
            "store_messages",
            &["memory", "journal"],
            "memory or journal (database storage is not supported yet)",
        )?;
        let journal = cfg.get("STORE_LOG", "store_messages") == Some("journal");
        if database && !journal {
            // As the reference: queues in the database need messages in the journal.
            return Err(Settings::invalid(
                "STORE_LOG",
                "store_messages",
                cfg.get("STORE_LOG", "store_messages").unwrap_or("memory"),
                "journal when store_queues = database (database and memory storage are not compatible)",
            ));
        }
        let d = crate::pg::default_options();
        let db = crate::pg::DbOptions {
            connection: cfg
                .non_empty("STORE_LOG", "db_connection")
                .map_or(d.connection, str::to_string),
            schema: cfg
                .non_empty("STORE_LOG", "db_schema")
                .map_or(d.schema, str::to_string),
            pool_size: match cfg.number("STORE_LOG", "db_pool_size", d.pool_size as u64)? {
                n @ 1..=1000 => n as usize,
                n => {
                    return Err(Settings::invalid(
                        "STORE_LOG",
                        "db_pool_size",
                        &n.to_string(),
                        "a number from 1 to 1000",
                    ))
                }
            },
        };
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
        let store_log = (cfg.on_off("STORE_LOG", "enable", false)? || journal) && !database;
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
            db_store_log: database && cfg.on_off("STORE_LOG", "db_store_log", false)?,
            db_deleted_ttl: cfg.number(
                "STORE_LOG",
                "db_deleted_ttl",
                crate::pg::DEFAULT_DELETED_TTL,
            )?,
            database,
            db,
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
         # Queue storage mode: `memory` or `database` (PostgreSQL; needs store_messages = journal).\n\
         store_queues = memory\n\
         \n\
         # Database connection settings for PostgreSQL database (`store_queues = database`).\n\
         # db_connection = postgresql://smp@/smp_server_store\n\
         # db_schema = smp_server\n\
         # db_pool_size = 10\n\
         \n\
         # Write database changes to store log file\n\
         # db_store_log = off\n\
         \n\
         # Time to retain deleted queues in the database, seconds.\n\
         # db_deleted_ttl = 1814400\n\
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
        assert!(!c.database);
        assert_eq!(c.db, crate::pg::default_options());
        // Queues in the database: no store log, messages in the journal.
        let d = Config::from_ini(
            &parse_ini(
                "[STORE_LOG]\nenable = on\nstore_queues = database\nstore_messages = journal\n\
                 db_connection = postgresql://u@h/db\ndb_schema = s1\ndb_pool_size = 3\n\
                 db_store_log = on\n",
                Path::new("t"),
            )
            .unwrap(),
        )
        .unwrap();
        assert!(d.journal && !d.store_log && d.db_store_log);
        assert_eq!(d.db_deleted_ttl, 21 * 86_400);
        assert!(d.database);
        let db = d.db;
        assert_eq!(
            (db.connection.as_str(), db.schema.as_str(), db.pool_size),
            ("postgresql://u@h/db", "s1", 3)
        );
        for (ini, named) in [
            (
                "[STORE_LOG]\nstore_messages = database\n",
                "[STORE_LOG] store_messages",
            ),
            (
                "[STORE_LOG]\nstore_queues = database\nstore_messages = memory\n",
                "[STORE_LOG] store_messages",
            ),
            ("[STORE_LOG]\nstore_queues = files\n", "[STORE_LOG] store_queues"),
            (
                "[STORE_LOG]\nstore_queues = database\nstore_messages = journal\ndb_pool_size = 0\n",
                "[STORE_LOG] db_pool_size",
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
