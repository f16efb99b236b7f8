//! The control port (`[TRANSPORT] control_port`): a line protocol on 127.0.0.1 for the
//! operator, with the reference's commands and roles (`[AUTH] control_port_admin_password`,
//! `control_port_user_password`).
//!
//! ```text
//! auth <password>         role: CPRAdmin, CPRUser or CPRNone
//! stats                   (user) counters since the last daily line, queue and message counts
//! server-info             (user) connections and subscriptions
//! status <sender id>      (user) a queue's status
//! block <sender id> <info> / unblock <sender id>   (user; at most daily_block_queue_quota a day)
//! delete <sender id>      (admin) deletes the queue and its messages
//! save                    (admin) syncs the journal / writes nothing else (state is always saved)
//! help, quit
//! ```

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use simplex_codec::base64url;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::relay::Relay;

/// Control port settings.
#[derive(Debug, Clone, Default)]
pub struct ControlConfig {
    /// `[AUTH] control_port_admin_password`.
    pub admin_password: Option<String>,
    /// `[AUTH] control_port_user_password`.
    pub user_password: Option<String>,
    /// `[AUTH] daily_block_queue_quota` (0: no limit).
    pub daily_block_quota: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    None,
    User,
    Admin,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Self::None => "CPRNone",
            Self::User => "CPRUser",
            Self::Admin => "CPRAdmin",
        }
    }
}

/// Longest command line accepted.
const MAX_LINE: usize = 1024;

/// Serves the control port on 127.0.0.1:`port` until the task is dropped.
pub async fn serve(listener: TcpListener, relay: Arc<Relay>, config: Arc<ControlConfig>) {
    loop {
        let Ok((s, peer)) = listener.accept().await else {
            continue;
        };
        let (relay, config) = (relay.clone(), config.clone());
        tokio::spawn(async move {
            if let Err(e) = client(s, &relay, &config).await {
                tracing::debug!("control port client {peer}: {e}");
            }
        });
    }
}

/// Binds the control port (loopback only, as the reference).
pub async fn bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await
}

fn ct_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

async fn client(s: TcpStream, relay: &Relay, config: &ControlConfig) -> std::io::Result<()> {
    let (rd, mut wr) = s.into_split();
    let mut rd = BufReader::new(rd);
    wr.write_all(b"SMP server control port\n'help' for supported commands\n")
        .await?;
    let mut role = Role::None;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut rd)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            return Ok(());
        }
        if line.len() > MAX_LINE {
            wr.write_all(b"error: line too long\n").await?;
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\n', '\r']);
        let (cmd, arg) = text.split_once(' ').unwrap_or((text, ""));
        if !matches!(cmd, "auth" | "help" | "quit" | "") {
            tracing::warn!("ControlPort: {cmd}");
        }
        let user = role != Role::None;
        let admin = role == Role::Admin;
        let out: Vec<String> = match cmd {
            "" => Vec::new(),
            "quit" => return Ok(()),
            "help" => vec![
                "commands: stats, server-info, status, block, unblock, delete, save, help, quit"
                    .into(),
            ],
            "auth" => {
                let new = if config
                    .admin_password
                    .as_deref()
                    .is_some_and(|p| ct_eq(p, arg))
                {
                    Role::Admin
                } else if config
                    .user_password
                    .as_deref()
                    .is_some_and(|p| ct_eq(p, arg))
                {
                    Role::User
                } else {
                    Role::None
                };
                if role == Role::None {
                    role = new;
                    vec![format!("Current role is {}", role.name())]
                } else if role == new {
                    vec![format!("Current role is {}", role.name())]
                } else {
                    vec![format!(
                        "Current role is {}, start new session to change.",
                        role.name()
                    )]
                }
            }
            "stats" if user => {
                let (queues, messages) = relay.counts();
                relay.stats.report(&relay.started(), queues, messages)
            }
            "server-info" if user => vec![
                format!("Clients: {}", relay.connection_count()),
                format!("SMP subscriptions: {}", relay.subscription_count()),
            ],
            "status" if user => match base64url::decode(arg) {
                Some(id) => vec![relay
                    .admin_status(&id)
                    .unwrap_or_else(|e| format!("error: {e}"))],
                None => vec!["error: bad queue id".into()],
            },
            "block" if user => {
                let (id, info) = arg.split_once(' ').unwrap_or((arg, ""));
                let blocked = relay.stats.q_blocked.load(Ordering::Relaxed);
                if config.daily_block_quota != 0 && blocked >= config.daily_block_quota {
                    vec![format!(
                        "error: reached limit of {} queues blocked daily",
                        config.daily_block_quota
                    )]
                } else if !info.starts_with("reason=") || info.contains(char::is_whitespace) {
                    vec!["error: blocking info must be reason=spam|content[,notice=...]".into()]
                } else {
                    match base64url::decode(id) {
                        None => vec!["error: bad queue id".into()],
                        Some(id) => vec![match relay.admin_block(&id, Some(info.as_bytes())) {
                            Ok(crate::queue::Status::Active) => {
                                format!("ok, queue blocked: EntityBlocked {info}")
                            }
                            Ok(_) => format!("ok, already inactive: EntityBlocked {info}"),
                            Err(e) => format!("error: {e}"),
                        }],
                    }
                }
            }
            "unblock" if user => match base64url::decode(arg) {
                None => vec!["error: bad queue id".into()],
                Some(id) => vec![match relay.admin_block(&id, None) {
                    Ok(crate::queue::Status::Blocked(info)) => format!(
                        "ok, queue unblocked, reason to block was: {}",
                        String::from_utf8_lossy(&info)
                    ),
                    Ok(crate::queue::Status::Active) => "ok, queue was active".into(),
                    Ok(crate::queue::Status::Off) => "error, queue is inactive".into(),
                    Err(e) => format!("error: {e}"),
                }],
            },
            "delete" if admin => match base64url::decode(arg) {
                None => vec!["error: bad queue id".into()],
                Some(id) => vec![match relay.admin_delete(&id) {
                    Ok(n) => format!("ok, {n} messages deleted"),
                    Err(e) => format!("error: {e}"),
                }],
            },
            "save" if admin => match relay.journal_synced() {
                Ok(()) => vec![
                    "saving server state...".into(),
                    "server state saved!".into(),
                ],
                Err(e) => vec![format!("error: {e}")],
            },
            "stats" | "server-info" | "status" | "block" | "unblock" | "delete" | "save" => {
                tracing::error!("Unauthorized control port command");
                vec!["AUTH".into()]
            }
            "clients" | "stats-rts" | "threads" | "sockets" | "socket-threads" | "suspend"
            | "resume" => vec![format!("{cmd} is not available on this relay")],
            _ => vec!["error: bad ControlProtocol command".into()],
        };
        for l in out {
            wr.write_all(l.as_bytes()).await?;
            wr.write_all(b"\n").await?;
        }
    }
}
