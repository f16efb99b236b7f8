//! `agent-peer`: one party of a connection in its own process, for durability tests and manual
//! trials. It keeps everything in an encrypted store, so it can be killed and started again:
//!
//! ```text
//! agent-peer --db alice.db --key k --server smp://... --invite link.txt --count 1000 --out got.txt
//! agent-peer --db bob.db   --key k --server smp://... --join   link.txt --count 1000 --out got.txt
//! ```
//!
//! After connecting, each side sends messages until its message ids reach `count + 1` (the body
//! of each is its id, so a restart continues where the agent is) and appends every received
//! message to `--out` as `<id> <body> <integrity>` (`ok`, or the agent's report in its stored
//! form, e.g. `skipped 5 6`), synced, before
//! acknowledging it. The agent's errors go to stderr.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use agent::agent::{Agent, AgentEvent};

struct Args {
    db: PathBuf,
    key: String,
    server: String,
    invite: Option<PathBuf>,
    join: Option<PathBuf>,
    count: i64,
    out: PathBuf,
}

fn args() -> Result<Args, String> {
    let mut a = std::env::args().skip(1);
    let (mut db, mut key, mut server, mut invite, mut join, mut count, mut out) =
        (None, None, None, None, None, None, None);
    while let Some(flag) = a.next() {
        let mut value = || a.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--db" => db = Some(PathBuf::from(value()?)),
            "--key" => key = Some(value()?),
            "--server" => server = Some(value()?),
            "--invite" => invite = Some(PathBuf::from(value()?)),
            "--join" => join = Some(PathBuf::from(value()?)),
            "--count" => count = Some(value()?.parse().map_err(|_| "--count: a number")?),
            "--out" => out = Some(PathBuf::from(value()?)),
            "--help" | "-h" => {
                return Err(
                    "usage: agent-peer --db FILE --key KEY --server SMP_ADDRESS \
                            (--invite LINK_FILE | --join LINK_FILE) --count N --out FILE"
                        .into(),
                )
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        db: db.ok_or("--db is required")?,
        key: key.ok_or("--key is required")?,
        server: server.ok_or("--server is required")?,
        invite,
        join,
        count: count.ok_or("--count is required")?,
        out: out.ok_or("--out is required")?,
    })
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let a = args()?;
    let server = a.server.parse().map_err(|e| format!("--server: {e}"))?;
    let store = agent::store::Store::open(&a.db, Some(&a.key)).map_err(|e| e.to_string())?;
    let (agent, mut events) = Agent::open(server, smp_client::ConnectOptions::default(), store)
        .await
        .map_err(|e| e.to_string())?;
    let mut conn = agent.connections().first().map(|(c, _)| *c);
    let mut connected = agent.connections().first().is_some_and(|(_, up)| *up);
    if conn.is_none() {
        if let Some(path) = &a.invite {
            let (c, link) = agent.create_invitation().await.map_err(|e| e.to_string())?;
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, link).map_err(|e| e.to_string())?;
            std::fs::rename(&tmp, path).map_err(|e| e.to_string())?;
            conn = Some(c);
        } else if let Some(path) = &a.join {
            let link = loop {
                if let Ok(l) = std::fs::read_to_string(path) {
                    break l;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            conn = Some(
                agent
                    .join(&link, b"joiner")
                    .await
                    .map_err(|e| e.to_string())?,
            );
        } else {
            return Err("--invite or --join is required".into());
        }
    }
    let conn = conn.ok_or("no connection")?;
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&a.out)
        .map_err(|e| e.to_string())?;
    let start_sending = |agent: Agent| {
        let count = a.count;
        tokio::spawn(async move {
            while let Some(id) = agent.next_msg_id(conn) {
                if id > count + 1 {
                    break;
                }
                if agent.send(conn, id.to_string().as_bytes()).await.is_err() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        })
    };
    if connected {
        start_sending(agent.clone());
    }
    while let Some(e) = events.recv().await {
        match e {
            AgentEvent::Confirmation { conn: c, .. } => {
                agent
                    .allow(c, b"inviter")
                    .await
                    .map_err(|e| e.to_string())?;
            }
            AgentEvent::Connected { .. } if !connected => {
                connected = true;
                start_sending(agent.clone());
            }
            AgentEvent::Message {
                conn: c,
                msg_id,
                body,
                integrity,
                ..
            } => {
                // Stored (synced) before it is acknowledged; the line in one write, so that a
                // kill cannot leave half a line for the next run's line to run into.
                let integrity = integrity.map_or_else(|| "ok".into(), |e| e.to_stored());
                let line = format!("{msg_id} {} {integrity}\n", String::from_utf8_lossy(&body));
                out.write_all(line.as_bytes())
                    .and_then(|()| out.sync_data())
                    .map_err(|e| e.to_string())?;
                let _ = agent.ack(c, msg_id).await;
            }
            AgentEvent::Error { conn, error } => eprintln!("connection {conn}: {error}"),
            _ => {}
        }
    }
    Ok(())
}
