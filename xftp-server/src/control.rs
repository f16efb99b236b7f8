//! The control port: a line protocol on 127.0.0.1 for the operator.
//!
//! ```text
//! auth <password>                         become admin (control_port_admin_password)
//! stats | stats-rts                       counters since start
//! delete <recipientId>                    delete the chunk of a recipient ID (admin)
//! block <recipientId> reason=spam|content[,notice=<json>]   block it (admin)
//! help | quit
//! ```
//! Answers: `ok`, `error: ...`, `AUTH`, or the requested text.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use simplex_codec::base64url;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::watch;
use xftp_proto::command::BlockingInfo;

use crate::relay::Relay;

/// Longest command line accepted.
const MAX_LINE: usize = 4096;

/// Serves the control port until shutdown.
pub async fn serve(relay: Arc<Relay>, listener: TcpListener, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                let relay = relay.clone();
                tokio::spawn(async move {
                    let _ = session(relay, tcp).await;
                });
            }
        }
    }
}

async fn session(relay: Arc<Relay>, tcp: tokio::net::TcpStream) -> std::io::Result<()> {
    let (read, mut write) = tcp.into_split();
    let mut lines = BufReader::new(read.take(1 << 20)).lines();
    write
        .write_all(b"XFTP server control port\n'help' for supported commands\n")
        .await?;
    let mut admin = false;
    while let Some(line) = lines.next_line().await? {
        if line.len() > MAX_LINE {
            write.write_all(b"error: line too long\n").await?;
            continue;
        }
        let (cmd, arg) = line.trim().split_once(' ').unwrap_or((line.trim(), ""));
        let answer = match cmd {
            "auth" => match &relay.config.control_port_admin_password {
                Some(pw) if subtle::ConstantTimeEq::ct_eq(pw.as_bytes(), arg.as_bytes()).into() => {
                    admin = true;
                    "ok".to_string()
                }
                _ => "AUTH".to_string(),
            },
            "stats" | "stats-rts" => stats(&relay).await,
            "delete" | "block" if !admin => "AUTH".to_string(),
            "delete" => delete(&relay, arg).await,
            "block" => block(&relay, arg).await,
            "help" => "commands: auth <password>, stats, delete <recipientId>, block <recipientId> reason=spam|content[,notice=<json>], quit".to_string(),
            "quit" => {
                write.write_all(b"bye\n").await?;
                return Ok(());
            }
            "" => continue,
            _ => "error: unknown command, 'help' for supported commands".to_string(),
        };
        write.write_all(answer.as_bytes()).await?;
        write.write_all(b"\n").await?;
    }
    Ok(())
}

async fn stats(relay: &Relay) -> String {
    let s = &relay.stats;
    let (count, used) = match (relay.store.count().await, relay.store.used().await) {
        (Ok(c), Ok(u)) => (c, u),
        (Err(e), _) | (_, Err(e)) => return format!("error: {e}"),
    };
    format!(
        "filesCreated={} fileRecipients={} filesUploaded={} fileDownloads={} fileDownloadAcks={} filesDeleted={} filesExpired={} filesCount={} filesSize={}",
        s.files_created.load(Ordering::Relaxed),
        s.recipients.load(Ordering::Relaxed),
        s.uploads.load(Ordering::Relaxed),
        s.downloads.load(Ordering::Relaxed),
        s.acks.load(Ordering::Relaxed),
        s.deletes.load(Ordering::Relaxed),
        s.expired.load(Ordering::Relaxed),
        count,
        used,
    )
}

async fn sender_of(relay: &Relay, rid_text: &str) -> Result<Vec<u8>, String> {
    let rid = base64url::decode(rid_text).ok_or("error: recipient ID is not base64url")?;
    relay
        .store
        .recipient(&rid)
        .await
        .map_err(|e| format!("error: {e}"))?
        .map(|(r, _)| r.sender_id.clone())
        .ok_or_else(|| "error: no such recipient ID".to_string())
}

async fn delete(relay: &Relay, arg: &str) -> String {
    match sender_of(relay, arg.trim()).await {
        Ok(sid) => match relay.delete_chunk(&sid, "delete").await {
            Ok(()) => "ok".into(),
            Err(e) => format!("error: {e}"),
        },
        Err(e) => e,
    }
}

async fn block(relay: &Relay, arg: &str) -> String {
    let Some((rid, info)) = arg.trim().split_once(' ') else {
        return "error: usage: block <recipientId> reason=spam|content[,notice=<json>]".into();
    };
    let Ok(info) = info.parse::<BlockingInfo>() else {
        return "error: invalid blocking info".into();
    };
    match sender_of(relay, rid).await {
        Ok(sid) => match relay.store.block_file(&sid, info).await {
            Ok(()) => "ok".into(),
            Err(e) => format!("error: {e}"),
        },
        Err(e) => e,
    }
}
