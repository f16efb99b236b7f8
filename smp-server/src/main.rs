//! `smp-server`: init a relay's certificates and config, or start it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use smp_server::config::{default_ini, Config, CONFIG_FILE, MESSAGES_FILE, STORE_LOG_FILE};
use smp_server::journal::MESSAGES_DIR;
use transport::{Identity, SignAlgorithm};

/// SimpleX SMP relay, compatible with the reference smp-server.
#[derive(Parser, Debug)]
#[command(name = "smp-server", version, about, long_about = None)]
struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Create certificates and smp-server.ini in $SMP_SERVER_CFG_PATH (default /etc/opt/simplex).
    Init {
        /// The server's IP address (printed in its address; the certificate CN).
        #[arg(long, conflicts_with = "fqdn")]
        ip: Option<String>,
        /// The server's domain name.
        #[arg(short = 'n', long)]
        fqdn: Option<String>,
        /// Identity key algorithm: ED448 (default) or ED25519.
        #[arg(short = 'a', long = "sign-algorithm", default_value = "ED448")]
        algorithm: SignAlgorithm,
        /// Keep queue records in the store log (enable = on).
        #[arg(short = 'l', long = "store-log")]
        store_log: bool,
        /// Password required to create queues (put it in the address as smp://fp:password@host).
        #[arg(long)]
        password: Option<String>,
    },
    /// Start the relay.
    Start {
        /// Listen on this address instead of 0.0.0.0 on every port of smp-server.ini.
        #[arg(long)]
        bind: Option<SocketAddr>,
        /// With `store_queues = database`: apply the schema migrations this relay has and the
        /// database lacks (`up`); without it the relay refuses to start and names them.
        #[arg(long = "confirm-migrations", value_name = "up")]
        confirm_migrations: Option<ConfirmMigrations>,
    },
    /// Move queue records between the store log (`store_queues = memory`) and PostgreSQL
    /// (`store_queues = database`). The relay must be stopped. Messages stay in the journal.
    Database {
        #[command(subcommand)]
        action: DatabaseCmd,
        /// What to move: `queues` (and `all`, the default, which is the same here: messages
        /// are never kept in the database by this relay).
        #[arg(long, global = true, default_value = "all")]
        table: DatabaseTable,
        /// Database connection string (default: [STORE_LOG] db_connection, else the
        /// reference's postgresql://smp@/smp_server_store).
        #[arg(short = 'd', long = "database", global = true)]
        connection: Option<String>,
        /// Database schema (default: [STORE_LOG] db_schema, else smp_server).
        #[arg(long, global = true)]
        schema: Option<String>,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long, global = true)]
        yes: bool,
    },
    /// Move messages between the snapshot file (`store_messages = memory`) and the journal
    /// folder (`store_messages = journal`), or delete the journal. The relay must be stopped.
    Journal {
        #[command(subcommand)]
        action: JournalCmd,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long, global = true)]
        yes: bool,
    },
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
enum ConfirmMigrations {
    /// Apply pending migrations.
    Up,
}

#[derive(Subcommand, Debug, Clone, Copy)]
enum DatabaseCmd {
    /// Write the queues of smp-server-store.log into a new schema (the log is kept as .bak);
    /// then set `store_queues = database`.
    Import,
    /// Write the database's queues to a new smp-server-store.log; then set
    /// `store_queues = memory`.
    Export,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum DatabaseTable {
    /// Queue records.
    Queues,
    /// Messages (not kept in the database by this relay: refused).
    Messages,
    /// Everything this relay keeps in the database: the queue records.
    All,
}

#[derive(Subcommand, Debug, Clone, Copy)]
enum JournalCmd {
    /// Write the messages of smp-server-messages.log into the journal folder `messages`
    /// (the file is kept as .bak); then set `store_messages = journal`.
    Import,
    /// Write every journaled message to smp-server-messages.log (the journal is kept: delete
    /// it with `journal delete`); then set `store_messages = memory`.
    Export,
    /// Delete the journal folder and every message in it.
    Delete,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SMP_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("smp-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn dirs() -> (PathBuf, PathBuf) {
    let var = |name: &str, default: &str| {
        std::env::var_os(name).map_or_else(|| PathBuf::from(default), PathBuf::from)
    };
    (
        var("SMP_SERVER_CFG_PATH", smp_server::config::DEFAULT_CFG_PATH),
        var("SMP_SERVER_LOG_PATH", smp_server::config::DEFAULT_LOG_PATH),
    )
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let (cfg_dir, log_dir) = dirs();
    match args.command {
        Cmd::Init {
            ip,
            fqdn,
            algorithm,
            store_log,
            password,
        } => {
            let ini_path = cfg_dir.join(CONFIG_FILE);
            if ini_path.exists() {
                return Err(format!(
                    "{} exists: the relay is already initialized (remove the directory to start over)",
                    ini_path.display()
                )
                .into());
            }
            if let Some(p) = &password {
                let ok = !p.is_empty()
                    && p.bytes()
                        .all(|b| b.is_ascii_graphic() && !matches!(b, b'@' | b':' | b'/'));
                if !ok {
                    return Err(
                        "the password must be printable ASCII without spaces, '@', ':' or '/'"
                            .into(),
                    );
                }
            }
            let host = fqdn.or(ip).unwrap_or_else(|| "localhost".into());
            std::fs::create_dir_all(&cfg_dir)?;
            std::fs::create_dir_all(&log_dir)?;
            let (identity, ca_key) =
                Identity::generate_with_ca_name(algorithm, "SimpleX SMP server CA", &host)?;
            identity.write_new(&ca_key, &cfg_dir)?;
            let ini = default_ini(&host, store_log, password.as_deref(), &log_dir);
            relay_config::write_new_private(&ini_path, ini.as_bytes())?;
            println!(
                "Server initialized, please provide additional server information in {}.",
                ini_path.display()
            );
            println!(
                "Store CA private key {} offline, it is not needed to run the server.",
                cfg_dir.join("ca.key").display()
            );
            println!("Fingerprint: {}", identity.fingerprint()?);
            println!(
                "Server address: {}",
                address(&identity, password.as_deref(), &host)?
            );
            Ok(())
        }
        Cmd::Journal { action, yes } => {
            let config = Config::load(&cfg_dir)?;
            journal_command(action, yes, &config, &log_dir)
        }
        Cmd::Database {
            action,
            table,
            connection,
            schema,
            yes,
        } => {
            let config = Config::load(&cfg_dir)?;
            let mut db = config.db.clone();
            if let Some(c) = connection {
                db.connection = c;
            }
            if let Some(s) = schema {
                db.schema = s;
            }
            if table == DatabaseTable::Messages {
                return Err("this relay keeps messages in the journal (store_messages = journal), never in the database: use --table queues".into());
            }
            database_command(action, yes, &config, &db, &log_dir)
        }
        Cmd::Start {
            bind,
            confirm_migrations,
        } => {
            let config = Config::load(&cfg_dir)?;
            let identity = Identity::load(&cfg_dir)?;
            check_message_store(&config, &log_dir)?;
            check_queue_store(&config, &log_dir)?;
            relay_config::raise_fd_limit();
            let relay_config = smp_server::RelayConfig {
                allow_new_queues: config.new_queues,
                create_password: config.create_password.clone().map(String::into_bytes),
                message_ttl: (config.expire_messages_days > 0)
                    .then(|| config.expire_messages_days as i64 * 86_400),
                expire_on_send: config.expire_on_send,
            };
            let addrs: Vec<SocketAddr> = match bind {
                Some(a) => vec![a],
                None => config
                    .ports
                    .iter()
                    .map(|p| SocketAddr::from(([0, 0, 0, 0], *p)))
                    .collect(),
            };
            let opts = smp_server::StartOptions {
                store_log: config.store_log.then(|| log_dir.join(STORE_LOG_FILE)),
                messages: config.restore_messages.then(|| log_dir.join(MESSAGES_FILE)),
                journal: config.journal.then(|| log_dir.join(MESSAGES_DIR)),
                expire_on_start: config.expire_on_start,
                inactive_ttl: config
                    .inactive
                    .map(|(ttl, _)| std::time::Duration::from_secs(ttl.max(1))),
                max_connections: Some(config.max_connections),
                control: config.control_port.map(|port| {
                    (
                        port,
                        smp_server::control::ControlConfig {
                            admin_password: config.control_passwords.0.clone(),
                            user_password: config.control_passwords.1.clone(),
                            daily_block_quota: config.daily_block_quota,
                        },
                    )
                }),
                stats_log: config
                    .log_stats
                    .then(|| log_dir.join(smp_server::stats::STATS_FILE)),
                database: config.database.then(|| smp_server::Database {
                    db: config.db.clone(),
                    store_log: config.db_store_log.then(|| log_dir.join(STORE_LOG_FILE)),
                    deleted_ttl: config.db_deleted_ttl,
                    migrate: match confirm_migrations {
                        Some(ConfirmMigrations::Up) => smp_server::pg::Migrate::Up,
                        None => smp_server::pg::Migrate::Refuse,
                    },
                }),
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                use tokio::signal::unix::{signal, SignalKind};
                let mut term = signal(SignalKind::terminate())?;
                let mut int = signal(SignalKind::interrupt())?;
                let running = smp_server::start_on(&addrs, &identity, relay_config, &opts).await?;
                for a in &running.addrs {
                    println!("Listening on {a}");
                }
                // A port other than the default is part of the address.
                let host = match config.ports.first() {
                    Some(&p) if p != 5223 => format!("{}:{p}", config.host),
                    _ => config.host.clone(),
                };
                println!(
                    "Server address: {}",
                    address(&identity, config.create_password.as_deref(), &host)?
                );
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                eprintln!("smp-server: shutting down");
                let saved = running.shutdown(opts.messages.as_deref())?;
                if opts.messages.is_some() {
                    eprintln!("smp-server: {saved} undelivered messages saved");
                }
                Ok::<(), Box<dyn std::error::Error>>(())
            })
        }
    }
}

/// The reference's checks that the messages on disk match `store_messages`.
fn check_message_store(config: &Config, log_dir: &std::path::Path) -> Result<(), String> {
    let file = log_dir.join(MESSAGES_FILE);
    let dir = log_dir.join(MESSAGES_DIR);
    let (file_exists, dir_exists) = (file.exists(), dir.is_dir());
    if file_exists && dir_exists {
        return Err(format!(
            "both {} file and {} directory are present; keep one (`smp-server journal export` \
             then `journal delete`, or `journal import`)",
            file.display(),
            dir.display()
        ));
    }
    if config.journal && file_exists {
        return Err(format!(
            "store_messages is `journal` with {} present: set store_messages to `memory` or \
             run `smp-server journal import` to migrate",
            file.display()
        ));
    }
    if !config.journal && dir_exists {
        return Err(format!(
            "store_messages is `memory` with the {} directory present: set store_messages to \
             `journal` or run `smp-server journal export` to migrate",
            dir.display()
        ));
    }
    if config.journal && !dir_exists {
        println!(
            "store_messages is `journal`, {} directory will be created.",
            dir.display()
        );
    }
    Ok(())
}

/// The reference's checks that the store log matches `store_queues = database`.
fn check_queue_store(config: &Config, log_dir: &std::path::Path) -> Result<(), String> {
    if !config.database {
        return Ok(());
    }
    let log = log_dir.join(STORE_LOG_FILE);
    match (config.db_store_log, log.exists()) {
        (true, false) => Err(format!(
            "db_store_log is `on`, {} does not exist",
            log.display()
        )),
        (false, true) => Err(format!(
            "store_queues is `database` with {} file present: set store_queues to `memory` or \
             use `smp-server database import` to migrate",
            log.display()
        )),
        _ => Ok(()),
    }
}

fn database_command(
    action: DatabaseCmd,
    yes: bool,
    config: &Config,
    db: &smp_server::pg::DbOptions,
    log_dir: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let log = log_dir.join(STORE_LOG_FILE);
    let _lock = smp_server::lock_state(log_dir)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match action {
        DatabaseCmd::Import => {
            if !log.exists() {
                return Err(format!("{} file does not exist", log.display()).into());
            }
            confirm(
                &format!(
                    "WARNING: store log file {} will be compacted and imported to the PostgreSQL schema {}.",
                    log.display(),
                    db.schema
                ),
                yes,
            )?;
            let done = rt.block_on(smp_server::pg::import(&log, db))?;
            for (line, why) in &done.skipped {
                eprintln!("{}: line {line} skipped: {why}", log.display());
            }
            println!(
                "Import completed: {} queues; the store log is kept as {}",
                done.queues,
                done.backup.display()
            );
            println!(
                "{}",
                if config.database {
                    "store_queues set to `database`, start the server."
                } else {
                    "store_queues set to `memory`, update it to `database` in INI file"
                }
            );
        }
        DatabaseCmd::Export => {
            if log.exists() {
                return Err(format!("{} file already exists", log.display()).into());
            }
            confirm(
                &format!(
                    "WARNING: the PostgreSQL schema {} will be exported to store log file {}.",
                    db.schema,
                    log.display()
                ),
                yes,
            )?;
            let (n, skipped) = rt.block_on(smp_server::pg::export(&log, db))?;
            for why in &skipped {
                eprintln!("a queue was not exported: {why}");
            }
            println!("Export completed: {n} queues");
            println!(
                "{}",
                if config.database {
                    "store_queues set to `database`, update it to `memory` in INI file."
                } else {
                    "store_queues set to `memory`, start the server"
                }
            );
        }
    }
    Ok(())
}

fn confirm(question: &str, yes: bool) -> Result<(), String> {
    if yes {
        return Ok(());
    }
    println!("{question}\nContinue (y/N)?");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| e.to_string())?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err("nothing was changed".into())
    }
}

fn journal_command(
    action: JournalCmd,
    yes: bool,
    config: &Config,
    log_dir: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let file = log_dir.join(MESSAGES_FILE);
    let dir = log_dir.join(MESSAGES_DIR);
    let store_log = log_dir.join(STORE_LOG_FILE);
    let queues = if config.database {
        smp_server::Queues::Database(&config.db)
    } else {
        smp_server::Queues::StoreLog(&store_log)
    };
    if file.exists() && dir.is_dir() && !matches!(action, JournalCmd::Delete) {
        return Err(format!(
            "both {} and {} are present: configure the message store first",
            file.display(),
            dir.display()
        )
        .into());
    }
    match action {
        JournalCmd::Import => {
            if dir.is_dir() {
                return Err(format!("{} directory already exists", dir.display()).into());
            }
            if !file.exists() {
                return Err(format!("{} file does not exist", file.display()).into());
            }
            confirm(
                &format!(
                    "Messages of {} will be imported to the journal directory {}.",
                    file.display(),
                    dir.display()
                ),
                yes,
            )?;
            let (restored, skipped) = smp_server::import_journal(queues, &file, &dir)?;
            for (line, why) in &skipped {
                eprintln!("{}: line {line} skipped: {why}", file.display());
            }
            println!("Import completed: {restored} messages; set store_messages = journal");
        }
        JournalCmd::Export => {
            if file.exists() {
                return Err(format!("{} file already exists", file.display()).into());
            }
            if !dir.is_dir() {
                return Err(format!("{} directory does not exist", dir.display()).into());
            }
            confirm(
                &format!(
                    "The journal directory {} will be exported to {}.",
                    dir.display(),
                    file.display()
                ),
                yes,
            )?;
            let n = smp_server::export_journal(queues, &dir, &file)?;
            println!(
                "Export completed: {n} messages; set store_messages = memory and delete the journal (`smp-server journal delete`)"
            );
        }
        JournalCmd::Delete => {
            if !dir.is_dir() {
                return Err(format!("{} directory does not exist", dir.display()).into());
            }
            confirm(
                &format!(
                    "The journal directory {} will be permanently deleted. THIS CANNOT BE UNDONE!",
                    dir.display()
                ),
                yes,
            )?;
            let _lock = smp_server::lock_state(log_dir)?;
            std::fs::remove_dir_all(&dir)?;
            println!("Deleted all messages in journal {}", dir.display());
        }
    }
    Ok(())
}

/// `smp://<fingerprint>[:password]@<host>` as the reference prints it.
fn address(
    identity: &Identity,
    password: Option<&str>,
    host: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    let fp = identity.fingerprint()?;
    Ok(match password {
        Some(p) => format!("smp://{fp}:{p}@{host}"),
        None => format!("smp://{fp}@{host}"),
    })
}
