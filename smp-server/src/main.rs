//! `smp-server`: init a relay's certificates and config, or start it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use smp_server::config::{default_ini, Config, CONFIG_FILE, MESSAGES_FILE, STORE_LOG_FILE};
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
    },
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
        Cmd::Start { bind } => {
            let config = Config::load(&cfg_dir)?;
            let identity = Identity::load(&cfg_dir)?;
            let relay_config = smp_server::RelayConfig {
                allow_new_queues: config.new_queues,
                create_password: config.create_password.clone().map(String::into_bytes),
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
