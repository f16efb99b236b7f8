//! `simplex-chat`: the terminal chat client. Commands on stdin (one per line), output lines as
//! the reference CLI prints them on stdout.

mod demo;
mod group_bench;
mod help;
mod input;
mod presets;
mod server;
mod view;

use std::path::PathBuf;

use chat_core::chat::{Chat, ChatConfig, Event, Response};
use chat_core::protocol::Profile;
use chat_core::users::{UserEvent, Users};
use clap::Parser;
use input::{Input, Out};
use smp_proto::address::SmpServer;

/// The reference release whose chat protocol and bot API this client implements (launchers
/// of bot libraries read the first line of `--version`).
const REFERENCE_VERSION: &str = chat_core::api::REFERENCE_VERSION;

#[derive(Debug, Parser)]
#[command(
    name = "simplex-chat",
    disable_version_flag = true,
    about = "SimpleX Chat terminal client: contacts and messages over SMP relays, end-to-end encrypted",
    long_about = "SimpleX Chat terminal client.\n\nType commands and messages on stdin, one per line: \
/c creates a one-time invitation link, /c <link> connects through one, /ad creates a contact \
address, @name text sends a message, /q quits. The databases are <prefix>_chat.db and \
<prefix>_agent.db."
)]
struct Args {
    /// Database prefix: <prefix>_chat.db and <prefix>_agent.db.
    #[arg(short = 'd', long = "database", default_value_os_t = default_prefix())]
    database: PathBuf,
    /// Database key: both databases are encrypted with it (SQLCipher).
    #[arg(short = 'k', long = "key")]
    key: Option<String>,
    /// SMP relays, separated by spaces (quote the list) or ';'
    /// (smp://<key hash>@<host>[,<onion host>][:port]); new queues are created on one of them,
    /// chosen at random at start. Default: the reference clients' preset relays.
    #[arg(short = 's', long = "server")]
    server: Option<String>,
    /// XFTP relays for files, separated by spaces (quote the list) or ';'
    /// (xftp://<key hash>@<host>[,<onion host>][:port]); chunks are spread over them.
    /// Default: the reference clients' preset relays.
    #[arg(long = "xftp-server", alias = "xftp-servers")]
    xftp_server: Option<String>,
    /// Connect to relays through Tor's SOCKS5 proxy at 127.0.0.1:9050 (each connection on its
    /// own circuit).
    #[arg(short = 'x', conflicts_with = "socks_proxy")]
    tor: bool,
    /// Connect to relays through this SOCKS5 proxy: IP:PORT, or :PORT on 127.0.0.1.
    #[arg(long = "socks-proxy", value_name = "SOCKS5")]
    socks_proxy: Option<String>,
    /// Which connections use the SOCKS5 proxy: always (default), onion (only those to onion
    /// hosts; the others connect directly).
    #[arg(
        long = "socks-mode",
        value_name = "SOCKS_MODE",
        default_value = "always"
    )]
    socks_mode: transport::hosts::SocksMode,
    /// The relay host to prefer: onion (the onion host when a SOCKS5 proxy is used, the
    /// default) or public; the other kind is tried after it.
    #[arg(long = "host-mode", value_name = "HOST_MODE", default_value = "onion")]
    host_mode: transport::hosts::HostMode,
    /// Refuse a relay that has no host of the preferred kind.
    #[arg(long = "required-host-mode")]
    required_host_mode: bool,
    /// Private message routing: send to other users' queues through one of your relays, so
    /// that their relay never sees your IP address - always, unknown (for relays not yours,
    /// the default), unprotected (for relays not yours, without a SOCKS proxy), never.
    #[arg(
        long = "smp-proxy",
        value_name = "SMP_PROXY_MODE",
        default_value = "unknown"
    )]
    smp_proxy: smp_client::PrivateRouting,
    /// When private routing fails, send directly after all: no, protected (only when a SOCKS
    /// proxy hides your address, the default), yes.
    #[arg(
        long = "smp-proxy-fallback",
        value_name = "SMP_PROXY_FALLBACK_MODE",
        default_value = "protected"
    )]
    smp_proxy_fallback: smp_client::RoutingFallback,
    /// Reach every relay on port 443 when its address names no port, with ALPN http/1.1 (as
    /// --smp-web-port-servers all): for networks that let only web traffic through.
    #[arg(long = "smp-web-port", conflicts_with = "smp_web_port_servers")]
    smp_web_port: bool,
    /// Which relays are reached on port 443 when their address names no port, with ALPN
    /// http/1.1: all, preset (the preset operators' relays, the default), off.
    #[arg(long = "smp-web-port-servers", value_name = "SERVERS")]
    smp_web_port_servers: Option<transport::hosts::WebPort>,
    /// TCP timeout in seconds: connecting may take 1.5 times as long, an answer 3 times
    /// (default: 30 s each).
    #[arg(long = "tcp-timeout", value_name = "TIMEOUT")]
    tcp_timeout: Option<u64>,
    /// Accept files up to 1 MB without /fr (saved into --files-folder).
    #[arg(short = 'a', conflicts_with = "auto_accept_files")]
    auto_accept_1mb: bool,
    /// Accept files up to this many bytes (or 10mb, 1gb, ...) without /fr.
    #[arg(long = "auto-accept-files", value_name = "FILE_SIZE")]
    auto_accept_files: Option<String>,
    /// Accepted for compatibility: database migrations are always applied at start (each in a
    /// transaction, after a copy of the database; an older program refuses a newer database).
    #[arg(short = 'y', long = "yes-migrate")]
    yes_migrate: bool,
    /// Directory for the copy of each database (<file>.bak) made before it is upgraded
    /// (default: beside the database).
    #[arg(
        long = "backup-directory",
        value_name = "DIR",
        conflicts_with = "disable_backup"
    )]
    backup_directory: Option<PathBuf>,
    /// No copy of the databases before they are upgraded.
    #[arg(long = "disable-backup")]
    disable_backup: bool,
    /// No VACUUM of the databases after they are upgraded.
    #[arg(long = "disable-vacuum")]
    disable_vacuum: bool,
    /// This device's name, shown to a desktop or mobile controller (accepted for
    /// compatibility: remote control is not implemented).
    #[arg(long = "device-name", value_name = "DEVICE")]
    device_name: Option<String>,
    /// Where received files are saved when /fr names no path.
    #[arg(long = "files-folder", default_value = ".")]
    files_folder: PathBuf,
    /// Create a bot user with this display name on the first start (no prompt).
    #[arg(long = "create-bot-display-name")]
    create_bot_display_name: Option<String>,
    /// The bot created with --create-bot-display-name accepts files (without it, its profile
    /// says files are not allowed, as the reference's).
    #[arg(long = "create-bot-allow-files", requires = "create_bot_display_name")]
    create_bot_allow_files: bool,
    /// Run this one command, print what it answers, wait --time seconds for events, exit.
    #[arg(short = 'e', long = "execute")]
    execute: Option<String>,
    /// Seconds to wait after --execute.
    #[arg(short = 't', long = "time", default_value_t = 3)]
    time: u64,
    /// What --execute shows while it waits: none (its answer only), messages (and the
    /// messages received meanwhile), all (every event).
    #[arg(long = "execute-log", value_name = "EXEC_LOG", value_enum, default_value_t = ExecLog::None)]
    execute_log: ExecLog,
    /// Serve the WebSocket bot API on ws://127.0.0.1:PORT instead of the terminal (0: any free
    /// port, printed). Requests {"corrId","cmd"}, responses {"corrId","resp"}, events {"resp"}.
    #[arg(short = 'p', long = "chat-server-port")]
    chat_server_port: Option<u16>,
    /// Show the contacts' and members' message reactions.
    #[arg(long = "reactions")]
    reactions: bool,
    /// Mark the messages shown here as read (their disappearing timers start then, as they
    /// do when a bot reads a chat with /_read chat).
    #[arg(short = 'r', long = "mark-read")]
    mark_read: bool,
    /// Accepted for compatibility: this client shows no desktop notifications, so there is
    /// nothing to mute.
    #[arg(long = "mute")]
    mute: bool,
    /// Accepted for compatibility: instant (inline, over SMP) files are the legacy file
    /// protocol; files come and go over XFTP here, accepted with /fr or -a.
    #[arg(short = 'f', long = "allow-instant-files")]
    allow_instant_files: bool,
    /// Accepted for compatibility: this client writes no temporary encrypted files (files are
    /// encrypted and decrypted as they stream; a partial download stays beside its
    /// destination, to be resumed and renamed into place).
    #[arg(long = "temp-folder", value_name = "FOLDER")]
    temp_folder: Option<PathBuf>,
    /// Maintenance mode: open the databases without starting the chat - no relay is
    /// contacted, nothing is received or sent; /_start starts it (/_stop stops it again).
    #[arg(short = 'm', long = "maintenance")]
    maintenance: bool,
    /// Log level: debug, info, warn, error, important (the default: nothing beyond what the
    /// terminal or the API shows). The log goes to stderr, or to --log-file.
    #[arg(short = 'l', long = "log-level", value_name = "LEVEL", value_enum, default_value_t = LogLevel::Important)]
    log_level: LogLevel,
    /// Log the connections' subscription errors at start (also with -l info).
    #[arg(short = 'c', long = "connections")]
    log_connections: bool,
    /// Show relays' connections lost and back ("disconnected from SMP host ...", "connected
    /// to SMP host ...") and log connections to relays (also with -l info).
    #[arg(long = "log-hosts")]
    log_hosts: bool,
    /// Log the agent's events: relays reached, subscriptions retried (also with -l debug).
    #[arg(long = "log-agent")]
    log_agent: bool,
    /// Write the log to this file (appended; created readable by the owner only) instead of
    /// stderr.
    #[arg(long = "log-file", value_name = "FILE")]
    log_file: Option<PathBuf>,
    /// Log TLS errors of connections to relays.
    #[arg(long = "log-tls-errors")]
    log_tls_errors: bool,
    /// How many events wait for the terminal or the bot API at most (the chat waits while
    /// they are that many).
    #[arg(short = 'q', long = "queue-size", value_name = "SIZE", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    queue_size: u32,
    /// Run as a chat relay: serve the channels whose owners ask (their requests come to this
    /// client's address, `/ad`).
    #[arg(long = "relay")]
    relay: bool,
    /// The SMP relay this chat relay's address (/ad) is made on (default: one of -s); only
    /// with --relay.
    #[arg(
        long = "relay-address-server",
        value_name = "SERVER",
        requires = "relay"
    )]
    relay_address_server: Option<String>,
    /// The most channels this chat relay serves at once: owners asking for more are refused
    /// (only with --relay).
    #[arg(
        long = "relay-max-channels",
        value_name = "N",
        default_value_t = chat_core::channels::DEFAULT_MAX_CHANNELS,
        requires = "relay"
    )]
    relay_max_channels: usize,
    /// Print the version (the reference release implemented, then this program's) and exit.
    #[arg(short = 'v', long = "version")]
    version: bool,
    #[command(subcommand)]
    command: Option<Sub>,
}

/// The reference's log levels (`-l`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
enum LogLevel {
    /// Everything, the agent's too.
    Debug,
    /// What happens: connections to relays, subscriptions.
    Info,
    /// Warnings and errors.
    Warn,
    /// Errors.
    Error,
    /// Only what the terminal or the API shows (no log).
    Important,
}

/// The log's filter for these options: the chat's errors at `-l error` and below, the
/// agent's with `--log-agent` or `-l debug`, the connections' subscription errors with `-c`
/// or `-l info`, the relays' hosts with `--log-hosts` or `-l info`, TLS errors with
/// `--log-tls-errors`; none when nothing is asked (then no log is set up).
fn log_filter(args: &Args) -> Option<String> {
    use LogLevel as L;
    let level = args.log_level;
    let name = |l: LogLevel| match l {
        L::Debug => "debug",
        L::Info => "info",
        L::Warn => "warn",
        L::Error => "error",
        L::Important => "info",
    };
    let mut directives = vec!["off".to_string()];
    if level != L::Important {
        directives.push(format!("chat={}", name(level)));
    }
    if args.log_agent || level == L::Debug {
        directives.push(format!("agent={}", name(level)));
    }
    if args.log_connections || level <= L::Info {
        directives.push("connections=warn".into());
    }
    if args.log_hosts || level <= L::Info {
        directives.push("hosts=info".into());
    }
    if args.log_tls_errors {
        directives.push("tls=warn".into());
    }
    (directives.len() > 1).then(|| directives.join(","))
}

/// Sets up the log the options ask for (see [`log_filter`]): to stderr, or appended to
/// `--log-file` (created 0600).
fn init_log(args: &Args) {
    let Some(filter) = log_filter(args) else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::new(filter);
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match &args.log_file {
        Some(path) => {
            use std::os::unix::fs::OpenOptionsExt;
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)
                .unwrap_or_else(|e| {
                    fail(&format!("cannot open the log file {}: {e}", path.display()))
                });
            builder
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(file))
                .init();
        }
        None => builder.with_writer(std::io::stderr).init(),
    }
}

/// What a one-command run (`-e`) shows besides the command's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ExecLog {
    /// Every event.
    All,
    /// New messages (the API's `newChatItems`).
    Messages,
    /// Nothing.
    None,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Zero-config demo: SMP and XFTP relays on 127.0.0.1, alice and bob connected, text
    /// messages and a file from alice to bob, compared with plain xftp send + recv.
    Demo {
        /// Size of the file sent (e.g. 64mb, 1gb).
        #[arg(long, default_value = "64mb")]
        size: String,
        /// Text messages sent.
        #[arg(long, default_value_t = 1000)]
        messages: usize,
    },
    /// Group benchmark: an SMP relay on 127.0.0.1, a host and N members in this process, the
    /// group built until every pair is connected, messages fanned out; times and memory
    /// printed.
    GroupBench {
        /// Members besides the host (2 to 200).
        #[arg(long, default_value_t = 50)]
        members: usize,
        /// Messages sent by the host, then by one member.
        #[arg(long, default_value_t = 100)]
        messages: usize,
        /// Then a file of this size (e.g. 100mb) from the host to the group, over an XFTP
        /// relay on 127.0.0.1: one upload, every member downloading.
        #[arg(long)]
        file: Option<String>,
    },
}

fn default_prefix() -> PathBuf {
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".simplex").join("simplex_v1")
}

/// The forms the reference does not echo: the sent item is printed instead.
fn is_send_form(line: &str) -> bool {
    line.starts_with('@')
        || line.starts_with('#')
        || line.starts_with("/* ")
        || line.starts_with("* <- ")
        || line.starts_with("> @")
        || line.starts_with(">> @")
        || line.starts_with("> #")
        || line.starts_with("/f ")
        || line.starts_with("/file ")
}

/// A live message being typed on the terminal (the reference's `/live @bob`): the line
/// editor's line is its text, sent while it changes - every 3 seconds to a contact, 5 to a
/// group, a whole word at a time - and for the last time, ended, with Enter.
struct LiveTyping {
    chat: Chat,
    /// `@bob`, `#team`.
    name: String,
    /// The contact or the group, and the item.
    to: LiveTo,
    /// Its text when it started.
    text: String,
    stop: tokio::sync::watch::Sender<bool>,
    updates: tokio::task::JoinHandle<()>,
}

#[derive(Clone, Copy)]
enum LiveTo {
    Contact(i64, i64),
    Group(i64, i64),
}

impl LiveTo {
    /// The update of the item to `text` (`live`: still typed).
    fn update(self, text: &str, live: bool) -> chat_core::command::Command {
        use chat_core::command::Command;
        match self {
            Self::Contact(contact_id, item_id) => Command::UpdateItem {
                contact_id,
                item_id,
                text: text.to_string(),
                live,
            },
            Self::Group(group_id, item_id) => Command::ApiUpdateGroupItem {
                group_id,
                item_id,
                content: chat_core::protocol::MsgContent::text(text),
                live,
            },
        }
    }
}

impl LiveTyping {
    /// Live typing of the message `r` started, if it did (`to`, `group`: as `/live` named
    /// the chat); `typed`: the line editor's line.
    fn start(
        chat: &Chat,
        r: &Response,
        to: &str,
        group: bool,
        typed: std::sync::Arc<std::sync::Mutex<String>>,
    ) -> Option<Self> {
        let (item, target) = match r {
            Response::SentMany(c, items, _) => {
                let item = items.first()?;
                (item, LiveTo::Contact(c.contact_id, item.item_id))
            }
            Response::Sent(c, item) => (item, LiveTo::Contact(c.contact_id, item.item_id)),
            Response::GroupSentMany(g, items, _) => {
                let item = items.first()?;
                (item, LiveTo::Group(g.group_id, item.item_id))
            }
            Response::GroupSent(g, item) => (item, LiveTo::Group(g.group_id, item.item_id)),
            _ => return None,
        };
        // A contact's live message is updated every 3 s, a group's every 5 s.
        let every = match target {
            LiveTo::Contact(..) => std::time::Duration::from_secs(3),
            LiveTo::Group(..) => std::time::Duration::from_secs(5),
        };
        if item.live != Some(true) {
            return None;
        }
        let text = item.content.text_shown().to_string();
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let updates = {
            let chat = chat.clone();
            let mut sent = text.clone();
            let mut last = text.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        () = tokio::time::sleep(every) => {}
                        _ = stopped.changed() => return,
                    }
                    let now = typed.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    if let Some(t) = input::live_text(&now, &last, &sent) {
                        // A failed update is tried again with the next change (as the
                        // reference's); the end reports its own.
                        if chat.execute(target.update(&t, true)).await.is_ok() {
                            sent = t;
                        }
                    }
                    last = now;
                }
            })
        };
        let sigil = if group { '#' } else { '@' };
        Some(Self {
            chat: chat.clone(),
            name: format!("{sigil}{}", chat_core::command::view_name(to)),
            to: target,
            text,
            stop,
            updates,
        })
    }

    /// The line editor's prompt while it is typed (the reference's, without the blinking).
    fn prompt(&self) -> String {
        format!("> {} [LIVE] ", self.name)
    }

    /// Ends it with `text`: the updates stop (one under way completes), the last goes.
    async fn end(self, out: &Out, text: &str) {
        let _ = self.stop.send(true);
        let _ = self.updates.await;
        match self.chat.execute(self.to.update(text, false)).await {
            Ok(r) => out.lines(&view::response(&r, &self.chat.profile())),
            Err(e) => out.lines(&view::error(&e)),
        }
    }
}

/// The relays of a list separated by spaces or ';'.
fn relay_list(list: &str) -> impl Iterator<Item = &str> {
    list.split([' ', ';', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// SIGINT or SIGTERM.
async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

/// A response's lines; a chat page (`/_get chat`) is its JSON, as the reference prints it.
fn response_lines(chat: Option<&Chat>, r: &Response) -> Vec<String> {
    match (r, chat) {
        (Response::Chat(..) | Response::GroupChat(..), Some(chat)) => {
            vec![chat_core::api::response(chat, r)["chat"].to_string()]
        }
        (r, Some(chat)) if chat.show_live() => {
            view::live_response(r).unwrap_or_else(|| view::response(r, &chat.profile()))
        }
        _ => view::response(r, &chat.map(Chat::profile).unwrap_or_default()),
    }
}

/// An event's lines: another user's marked with its name; none for a user deleted.
fn event_lines(users: &Users, e: &UserEvent, shown: view::Shown) -> Vec<String> {
    // `/show on` is the user's.
    let shown = view::Shown {
        live: users.chat(e.user_id).is_some_and(|c| c.show_live()),
        ..shown
    };
    let lines = view::event(&e.event, shown);
    match users.chat(e.user_id) {
        Some(c) if c.is_active() => lines,
        // A muted (or hidden) user's events are not shown while another is active.
        Some(c) if !c.privacy().show_ntfs => Vec::new(),
        Some(c) => view::for_user(&c.profile().display_name, lines),
        None if matches!(e.event, Event::UserDeleted | Event::Error(_)) => lines,
        None => Vec::new(),
    }
}

/// How relays are reached: the proxy, the host choice, the timeouts.
fn connect_options(
    socks: Option<transport::SocksProxy>,
    args: &Args,
) -> smp_client::ConnectOptions {
    let mut o = smp_client::ConnectOptions {
        socks,
        network: transport::hosts::NetworkMode {
            host_mode: args.host_mode,
            required: args.required_host_mode,
            socks_mode: args.socks_mode,
            web_port: if args.smp_web_port {
                transport::hosts::WebPort::All
            } else {
                args.smp_web_port_servers.unwrap_or_default()
            },
        },
        private_routing: args.smp_proxy,
        routing_fallback: args.smp_proxy_fallback,
        ..smp_client::ConnectOptions::default()
    };
    // 0 is refused there; here it leaves the defaults, as before.
    if let Some(t) = args.tcp_timeout.filter(|t| *t > 0) {
        let _ = chat_core::network::set_timeout(&mut o, t);
    }
    o
}

fn fail(msg: &str) -> ! {
    eprintln!("simplex-chat: {msg}");
    std::process::exit(1)
}

fn main() {
    // Worker threads get the main thread's stack size: handling a peer's message nests deep
    // futures, which a debug build copies through the stack (2 MiB, tokio's default, was
    // found too little for a channel relay's deletion).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(8 << 20)
        .build()
        .unwrap_or_else(|e| fail(&format!("cannot start the async runtime: {e}")));
    rt.block_on(run())
}

async fn run() {
    let args = Args::parse();
    if args.version {
        println!("SimpleX Chat v{REFERENCE_VERSION}");
        println!(
            "simplex-chat {} (this implementation; chat protocol versions {}-{})",
            env!("CARGO_PKG_VERSION"),
            chat_core::protocol::CHAT_VERSIONS.min,
            chat_core::protocol::CHAT_VERSIONS.max
        );
        return;
    }
    if let Some(Sub::Demo { size, messages }) = &args.command {
        let Some(bytes) = xftp_proto::size::parse_file_size(size) else {
            fail(&format!("invalid size {size:?} (e.g. 64mb, 1gb)"))
        };
        if let Err(e) = demo::run(bytes, *messages).await {
            fail(&e)
        }
        return;
    }
    if let Some(Sub::GroupBench {
        members,
        messages,
        file,
    }) = &args.command
    {
        let file_bytes = match file {
            None => None,
            Some(s) => match xftp_proto::size::parse_file_size(s) {
                Some(b) => Some(b),
                None => fail(&format!("invalid size {s:?} (e.g. 100mb)")),
            },
        };
        if let Err(e) = group_bench::run(*members, *messages, file_bytes).await {
            fail(&e)
        }
        return;
    }
    init_log(&args);
    chat_core::store::set_migration_options(chat_core::store::MigrationOptions {
        backup: match &args.backup_directory {
            _ if args.disable_backup => chat_core::store::MigrationBackup::Off,
            Some(d) if !d.as_os_str().is_empty() => {
                chat_core::store::MigrationBackup::Into(d.clone())
            }
            _ => chat_core::store::MigrationBackup::Beside,
        },
        vacuum: !args.disable_vacuum,
    });
    // ',' separates a relay's hosts; spaces (as the reference) or ';' separate relays.
    let smp_servers: Vec<SmpServer> = match &args.server {
        Some(list) => relay_list(list)
            .map(|s| {
                s.parse()
                    .unwrap_or_else(|e| fail(&format!("bad SMP relay address {s:?}: {e}")))
            })
            .collect(),
        None => presets::SMP_RELAYS
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect(),
    };
    if smp_servers.is_empty() {
        fail("no SMP relay given (-s)");
    }
    let smp_server = smp_servers[presets::random_index(smp_servers.len())].clone();
    let socks = match (&args.socks_proxy, args.tor) {
        (Some(p), _) => Some(
            transport::SocksProxy::parse(&match p.strip_prefix(':') {
                Some(port) => format!("127.0.0.1:{port}"),
                None => p.clone(),
            })
            .unwrap_or_else(|e| fail(&e)),
        ),
        (None, true) => Some(transport::SocksProxy::tor_default()),
        (None, false) => None,
    };
    let auto_accept = match (&args.auto_accept_files, args.auto_accept_1mb) {
        (Some(s), _) => xftp_proto::size::parse_file_size(s)
            .unwrap_or_else(|| fail(&format!("invalid size {s:?} (e.g. 1048576, 10mb)"))),
        (None, true) => 1024 * 1024,
        (None, false) => 0,
    };
    let _ = (
        args.yes_migrate,
        &args.device_name,
        args.mute,
        args.allow_instant_files,
        &args.temp_folder,
    );
    if let Some(dir) = args.database.parent() {
        if !dir.as_os_str().is_empty() {
            if let Err(e) = std::fs::create_dir_all(dir) {
                fail(&format!("cannot create {}: {e}", dir.display()));
            }
        }
    }
    let xftp_list = args
        .xftp_server
        .clone()
        .unwrap_or_else(|| xftp_client::PRESET_RELAYS.join(" "));
    let xftp_servers = relay_list(&xftp_list)
        .map(|s| {
            s.parse()
                .unwrap_or_else(|e| fail(&format!("bad XFTP relay address {s:?}: {e}")))
        })
        .collect();
    let config = ChatConfig {
        db_prefix: args.database.clone(),
        db_key: args.key.clone(),
        smp_server,
        connect: connect_options(socks, &args),
        auto_accept_size: auto_accept,
        xftp_servers,
        files_folder: args.files_folder.clone(),
        max_file_size: chunker::plan::DEFAULT_MAX_FILE_SIZE,
        event_queue: args.queue_size as usize,
        chat_relay: args.relay,
        relay_address_server: args.relay_address_server.as_ref().map(|s| {
            s.trim().parse().unwrap_or_else(|e| {
                fail(&format!(
                    "bad SMP relay address {s:?} (--relay-address-server): {e}"
                ))
            })
        }),
        relay_max_channels: args.relay_max_channels,
    };
    let out = Out::default();
    // A bot's chat (-p) and a one-command run (-e) read plain lines (the display name at a
    // first start, if asked); a terminal gets the line editor.
    let mut input = if args.chat_server_port.is_some() || args.execute.is_some() {
        Input::plain()
    } else {
        Input::open(&out)
    };

    let prepared = Users::prepare(&config).unwrap_or_else(|e| fail(&e.to_string()));
    let new_user = match prepared.needs_user() {
        Ok(false) => None,
        Ok(true) => Some(match &args.create_bot_display_name {
            Some(name) => Profile {
                display_name: name.clone(),
                peer_type: Some("bot".into()),
                // The reference's bots refuse files unless allowed.
                preferences: (!args.create_bot_allow_files)
                    .then(|| serde_json::json!({"files": {"allow": "no"}})),
                ..Profile::default()
            },
            None => {
                out.lines(&[
                    "No user profiles found, it will be created now.".into(),
                    "Please choose your display name.".into(),
                    "It will be sent to your contacts when you connect.".into(),
                    "It is only stored on your device and you can change it later.".into(),
                ]);
                loop {
                    match input
                        .read("display name: ")
                        .await
                        .map(|t| t.map(|t| t.line))
                    {
                        Ok(Some(l)) if !l.trim().is_empty() && !l.contains('\'') => {
                            break Profile {
                                display_name: l.trim().to_string(),
                                ..Profile::default()
                            }
                        }
                        Ok(Some(_)) => out.lines(&["invalid display name".into()]),
                        _ => fail("no display name given"),
                    }
                }
            }
        }),
        Err(e) => fail(&e.to_string()),
    };
    let (users, mut events) =
        match Users::open(prepared, &config, new_user, !args.maintenance).await {
            Ok(c) => c,
            Err(e) => fail(&e.to_string()),
        };
    if let Some(chat) = users.active() {
        let p = chat.profile();
        out.lines(&[format!(
            "Current user: {}",
            view::full_name(&p.display_name, &p)
        )]);
    }
    // What each user's start reached, the active user's first (before any event is shown).
    // A muted (or hidden) user's is not shown unless it is the active one.
    let mut chats: Vec<_> = users
        .chats()
        .into_iter()
        .filter(|c| c.is_active() || c.privacy().show_ntfs)
        .collect();
    chats.sort_by_key(|c| !c.is_active());
    for chat in chats {
        match chat.start_summary() {
            Ok(s) => {
                for block in view::start_summary(&s) {
                    let block = if chat.is_active() {
                        block
                    } else {
                        view::for_user(&chat.profile().display_name, block)
                    };
                    out.lines(&block);
                }
            }
            Err(e) => out.lines(&view::error(&e)),
        }
    }
    if let Some(port) = args.chat_server_port {
        // A bot's chat: no terminal (stdin is not read, so its end does not stop the chat).
        let listener = server::bind(port)
            .await
            .unwrap_or_else(|e| fail(&format!("cannot listen on 127.0.0.1:{port}: {e}")));
        let bound = listener.local_addr().map_or(port, |a| a.port());
        out.lines(&[format!("chat server listening on ws://127.0.0.1:{bound}")]);
        tokio::select! {
            () = server::serve(users.clone(), events, listener) => {}
            _ = shutdown() => {}
        }
        users.close().await;
        return;
    }
    let shown = view::Shown {
        reactions: args.reactions,
        live: false,
        hosts: args.log_hosts || args.log_level <= LogLevel::Info,
    };
    {
        let out = out.clone();
        let users = users.clone();
        let mark_read = args.mark_read;
        let exec_log = args.execute.as_ref().map(|_| args.execute_log);
        tokio::spawn(async move {
            while let Some(e) = events.recv().await {
                let show = match exec_log {
                    None | Some(ExecLog::All) => true,
                    Some(ExecLog::None) => false,
                    Some(ExecLog::Messages) => users
                        .chat(e.user_id)
                        .and_then(|c| chat_core::api::event(&c, &e.event))
                        .is_some_and(|v| v["type"] == "newChatItems"),
                };
                if !show {
                    continue;
                }
                let lines = event_lines(&users, &e, shown);
                // The reference's --mark-read: what is shown is read (marked first, so that a
                // command typed after the line sees it read).
                if mark_read && !lines.is_empty() {
                    let ids = view::shown_items(&e.event);
                    if let (false, Some(chat)) = (ids.is_empty(), users.chat(e.user_id)) {
                        if let Err(err) = chat.mark_items_read(&ids) {
                            out.lines(&view::error(&err));
                        }
                    }
                }
                out.lines(&lines);
            }
        });
    }

    if let Some(cmd) = &args.execute {
        // The answer only, not the command (as the reference's).
        match users.execute_line(cmd).await {
            Ok((chat, r)) => {
                out.lines(&response_lines(chat.as_ref(), &r));
                if let Some(chat) = chat {
                    chat.after_response(&r).await;
                }
            }
            Err(e) => out.lines(&view::error(&e)),
        }
        tokio::time::sleep(std::time::Duration::from_secs(args.time)).await;
        users.close().await;
        return;
    }

    // Tab completes the active user's contacts and groups (read when it is pressed).
    {
        let users = users.clone();
        input.complete_names(Box::new(move || {
            users.active().map(|c| c.chat_names()).unwrap_or_default()
        }));
    }
    // A live message typed on the terminal (the reference's `/live` mode), if one is.
    let mut live: Option<LiveTyping> = None;
    loop {
        let read = match &live {
            Some(l) => input.read_from(&l.prompt(), &l.text, &l.name).await,
            None => input.read("").await,
        };
        let typed = match read {
            Ok(Some(t)) => t,
            Ok(None) => {
                // The input ended (Ctrl-D, Ctrl-C) while a live message was typed: it ends as
                // it was typed, not left live.
                if let (Some(l), Some(typed)) = (live.take(), input.typing()) {
                    let text = typed.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    l.end(&out, &text).await;
                }
                break;
            }
            Err(e) => fail(&format!("reading input: {e}")),
        };
        let mut line = typed.line;
        if let Some(l) = live.take() {
            // Enter ends the live message with the line as typed; Alt-Enter (or Ctrl-L)
            // starts the next one to the same chat.
            let name = l.name.clone();
            l.end(&out, &line).await;
            if !typed.live {
                continue;
            }
            line = format!("/live {name}");
        } else if typed.live && line.len() > 1 && (line.starts_with('@') || line.starts_with('#')) {
            // Alt-Enter on a message: sent live, typed on.
            line = format!("/live {line}");
        }
        if line.trim().is_empty() {
            continue;
        }
        // The line editor leaves the typed line on the screen: that is its echo.
        let echoed = !is_send_form(&line) || input.shows_typed();
        if echoed && !input.shows_typed() {
            out.lines(std::slice::from_ref(&line));
        }
        let cmd = chat_core::command::parse(&line);
        // A live message started on a terminal is typed on from the line editor: the next
        // line starts with its text (so it is not read ahead).
        let live_to = match &cmd {
            Ok(chat_core::command::Command::SendLive { to, group, .. }) => {
                input.typing().map(|typed| (to.clone(), *group, typed))
            }
            _ => None,
        };
        if !matches!(cmd, Ok(chat_core::command::Command::Quit)) && live_to.is_none() {
            input.read_ahead();
        }
        let result = match cmd {
            Ok(c) => users.execute(&line, c).await,
            Err(e) => Err(e.into()),
        };
        match result {
            Ok((_, Response::Quit)) => break,
            Ok((chat, r)) => {
                out.lines(&response_lines(chat.as_ref(), &r));
                if let (Some(chat), Some((to, group, typed))) = (&chat, live_to) {
                    live = LiveTyping::start(chat, &r, &to, group, typed);
                }
                if let Some(chat) = chat {
                    chat.after_response(&r).await;
                }
            }
            Err(e) => {
                if !echoed {
                    out.lines(std::slice::from_ref(&line));
                }
                out.lines(&view::error(&e));
            }
        }
    }
}
