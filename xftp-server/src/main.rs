//! `xftp-server`: init a relay's certificates and config, or start it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use transport::{Identity, SignAlgorithm};
use xftp_server::config::{default_ini, CONFIG_FILE};
use xftp_server::relay::SystemClock;

/// SimpleX XFTP relay, compatible with the reference xftp-server.
#[derive(Parser, Debug)]
#[command(name = "xftp-server", version, about, long_about = None)]
struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Create certificates and file-server.ini in $XFTP_SERVER_CFG_PATH (default /etc/opt/simplex-xftp).
    Init {
        /// Where chunk files are stored.
        #[arg(short = 'p', long = "path")]
        files_path: PathBuf,
        /// Storage quota, e.g. 100gb.
        #[arg(short = 'q', long = "quota", default_value = "10gb")]
        quota: String,
        /// The server's IP address (printed in its address; the certificate CN).
        #[arg(long, conflicts_with = "fqdn")]
        ip: Option<String>,
        /// The server's domain name.
        #[arg(short = 'n', long)]
        fqdn: Option<String>,
        /// Identity key algorithm: ED448 (default) or ED25519.
        #[arg(short = 'a', long = "sign-algorithm", default_value = "ED448")]
        algorithm: SignAlgorithm,
        /// Do not keep a store log (chunks are forgotten on restart).
        #[arg(long)]
        disable_store_log: bool,
        /// Password required to upload (put it in the address as xftp://fp:password@host).
        #[arg(long)]
        password: Option<String>,
    },
    /// Start the relay.
    Start {
        /// Listen on this address instead of 0.0.0.0:<port from file-server.ini>.
        #[arg(long)]
        bind: Option<std::net::SocketAddr>,
        /// Start even though the store log is missing while the files folder holds chunks
        /// (they are moved to the quarantine folder, not deleted).
        #[arg(long)]
        allow_missing_store_log: bool,
        /// With `store_files = database`: `up` applies schema migrations the database lacks
        /// (by default the relay refuses to start and names them; a new schema always gets
        /// them).
        #[arg(long, value_name = "up")]
        confirm_migrations: Option<ConfirmMigrations>,
    },
    /// Move chunk records between the store log and PostgreSQL (`[STORE_LOG] db_*`).
    Database {
        #[command(subcommand)]
        command: DbCmd,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum ConfirmMigrations {
    /// Apply forward migrations.
    Up,
}

#[derive(Subcommand, Debug)]
enum DbCmd {
    /// Import the store log into the database (creating the schema); the log is then renamed
    /// to file-server-store.log.bak. Set `store_files = database` before the next start.
    Import {
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Export the database to a new store log (which must not exist).
    Export {
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

/// Asks on the terminal; `false` unless the answer is y or yes.
fn confirm(question: &str) -> bool {
    use std::io::Write;
    print!("{question} (y/N) ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).is_ok()
        && matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Keeps freed chunk buffers in the heap instead of returning them to the system at once:
/// request data arrives in fresh 256 KiB HTTP/2 frames, and with glibc's defaults each one was
/// mapped, faulted in page by page and unmapped again (a tenth of the relay's upload CPU).
/// Memory of closed connections is still given back by the periodic trim (`lib.rs`).
#[allow(unsafe_code)]
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: called first thing in main, before any other thread exists; mallopt only tunes
    // glibc's allocator and has no memory-safety preconditions.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 16 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 << 20);
    }
}

fn main() -> ExitCode {
    tune_malloc();
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("XFTP_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xftp-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let (cfg_dir, log_dir) = xftp_server::default_dirs();
    match args.command {
        Cmd::Init {
            files_path,
            quota,
            ip,
            fqdn,
            algorithm,
            disable_store_log,
            password,
        } => {
            if cfg_dir.join(CONFIG_FILE).exists() {
                return Err(format!(
                    "{} exists: the relay is already initialized (remove the directory to start over)",
                    cfg_dir.join(CONFIG_FILE).display()
                )
                .into());
            }
            if xftp_proto::size::parse_file_size(&quota).is_none() {
                return Err(format!("invalid quota {quota:?} (e.g. 100gb)").into());
            }
            let host = fqdn.or(ip).unwrap_or_else(|| "localhost".into());
            std::fs::create_dir_all(&cfg_dir)?;
            std::fs::create_dir_all(&log_dir)?;
            std::fs::create_dir_all(&files_path)?;
            let (identity, ca_key) = Identity::generate(algorithm, &host)?;
            identity.write_new(&ca_key, &cfg_dir)?;
            let files_path = std::fs::canonicalize(&files_path)?;
            let ini = default_ini(
                &files_path,
                &quota,
                &host,
                !disable_store_log,
                password.as_deref(),
            );
            // It may hold the upload password and the control port's passwords.
            relay_config::write_new_private(&cfg_dir.join(CONFIG_FILE), ini.as_bytes())?;
            println!(
                "Server initialized, please provide additional server information in {}.",
                cfg_dir.join(CONFIG_FILE).display()
            );
            println!(
                "Store CA private key {} offline, it is not needed to run the server.",
                cfg_dir.join("ca.key").display()
            );
            println!("Fingerprint: {}", identity.fingerprint()?);
            println!("Server address: xftp://{}@{host}", identity.fingerprint()?);
            Ok(())
        }
        Cmd::Database { command } => database(command, &cfg_dir, &log_dir),
        Cmd::Start {
            bind,
            allow_missing_store_log,
            confirm_migrations,
        } => {
            let opts = xftp_server::StartOptions {
                bind,
                allow_missing_store_log,
                migrate: match confirm_migrations {
                    Some(ConfirmMigrations::Up) => xftp_server::pg::Migrate::Up,
                    None => xftp_server::pg::Migrate::Refuse,
                },
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                // Handlers first: a signal that arrives as soon as the address is printed
                // must stop the relay gracefully, not kill it.
                use tokio::signal::unix::{signal, SignalKind};
                let mut term = signal(SignalKind::terminate())?;
                let mut int = signal(SignalKind::interrupt())?;
                let handle =
                    xftp_server::start_with(&cfg_dir, &log_dir, Arc::new(SystemClock), &opts)
                        .await?;
                println!("Listening on {}", handle.addr);
                println!("Server address: {}", handle.address);
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                eprintln!("xftp-server: shutting down");
                handle.shutdown().await;
                Ok::<(), Box<dyn std::error::Error>>(())
            })
        }
    }
}

fn database(
    command: DbCmd,
    cfg_dir: &std::path::Path,
    log_dir: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    use xftp_server::config::{Config, STORE_LOG_FILE};
    let config = Config::load(cfg_dir)?;
    let log_path = log_dir.join(STORE_LOG_FILE);
    std::fs::create_dir_all(log_dir)?;
    // A running relay holds this lock: its records must not move under it.
    let _lock = store_log::lock_folder(log_dir, xftp_server::LOCK_FILE).map_err(|e| {
        if e.kind() == std::io::ErrorKind::WouldBlock {
            format!(
                "{} is locked by a running xftp-server: stop it first",
                log_dir.display()
            )
        } else {
            format!("cannot lock {}: {e}", log_dir.display())
        }
    })?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match command {
        DbCmd::Import { yes } => {
            if !log_path.exists() {
                return Err(format!("store log {} does not exist", log_path.display()).into());
            }
            if !yes
                && !confirm(&format!(
                    "Import store log {} to the PostgreSQL database (schema {})?",
                    log_path.display(),
                    config.db.schema
                ))
            {
                println!("Import cancelled.");
                return Ok(());
            }
            println!("Reading store log: {}", log_path.display());
            let done = rt.block_on(xftp_server::pg::import(&log_path, &config.db, |f, r| {
                use std::io::Write;
                print!("  {f} files, {r} recipients\r");
                let _ = std::io::stdout().flush();
            }))?;
            println!();
            if done.skipped > 0 {
                println!(
                    "{} store log lines could not be applied and were not imported",
                    done.skipped
                );
            }
            println!(
                "Imported {} files, {} recipients.",
                done.files, done.recipients
            );
            let bak = log_path.with_extension("log.bak");
            std::fs::rename(&log_path, &bak)?;
            println!("Store log renamed to {}", bak.display());
            println!("Set `store_files = database` in [STORE_LOG] of file-server.ini to use it.");
            Ok(())
        }
        DbCmd::Export { yes } => {
            if log_path.exists() {
                return Err(format!("store log {} already exists", log_path.display()).into());
            }
            if !yes
                && !confirm(&format!(
                    "Export the PostgreSQL database (schema {}) to store log {}?",
                    config.db.schema,
                    log_path.display()
                ))
            {
                println!("Export cancelled.");
                return Ok(());
            }
            let done = rt.block_on(xftp_server::pg::export(&log_path, &config.db))?;
            println!(
                "Exported {} files, {} recipients to {}",
                done.files,
                done.recipients,
                log_path.display()
            );
            Ok(())
        }
    }
}
