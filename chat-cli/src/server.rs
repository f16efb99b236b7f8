//! The WebSocket bot API (`-p PORT`), as the reference's chat server: plain WebSocket on
//! 127.0.0.1 only, text frames. A request `{"corrId": "1", "cmd": "/user"}` is answered
//! `{"corrId": "1", "resp": {"type": "activeUser", ...}}`; events arrive as `{"resp": ...}`
//! without `corrId`; a frame that is not such a request is answered with `chatCmdError` and
//! no `corrId`.
//!
//! Limits (a client cannot take the chat down): frames up to [`MAX_FRAME`], at most
//! [`MAX_CLIENTS`] connections (and as many more in their handshake, which must finish within
//! [`HANDSHAKE_TIMEOUT`]), [`MAX_IN_FLIGHT`] commands running per connection (further requests
//! wait), and a client that does not read its events for [`CLIENT_QUEUE`] messages is
//! disconnected. Events wait (the chat is held up, as the reference's bounded queue does)
//! while no client is connected, so a bot that connects late still gets them.

use std::sync::{Arc, Mutex};

use chat_core::api;
use chat_core::users::{UserEvent, Users};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Notify, Semaphore};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// The largest frame (and message) a client may send.
pub const MAX_FRAME: usize = 1 << 20;
/// Connections at once.
pub const MAX_CLIENTS: usize = 64;
/// Commands of one connection running at once.
pub const MAX_IN_FLIGHT: usize = 16;
/// Messages queued for one connection before it is dropped as not reading.
pub const CLIENT_QUEUE: usize = 4096;
/// Time for the WebSocket handshake.
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Connections at once, handshakes included.
const MAX_CONNECTIONS: usize = 2 * MAX_CLIENTS;

struct Client {
    id: u64,
    tx: mpsc::Sender<String>,
    close: Arc<Notify>,
}

#[derive(Default)]
struct Clients {
    next: u64,
    list: Vec<Client>,
}

type Shared = Arc<Mutex<Clients>>;

fn lock(c: &Shared) -> std::sync::MutexGuard<'_, Clients> {
    c.lock().unwrap_or_else(|p| p.into_inner())
}

/// Binds 127.0.0.1:`port` (0: any free port); the address bound.
pub async fn bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", port)).await
}

/// Serves the API on `listener` until the process stops.
pub async fn serve(users: Users, events: mpsc::Receiver<UserEvent>, listener: TcpListener) {
    let clients: Shared = Arc::default();
    let (count_tx, count_rx) = watch::channel(0usize);
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::spawn(dispatch(users.clone(), events, clients.clone(), count_rx));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("simplex-chat: accepting a bot API connection: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        if lock(&clients).list.len() >= MAX_CLIENTS {
            eprintln!(
                "simplex-chat: refused a bot API connection from {peer}: {MAX_CLIENTS} are open"
            );
            continue;
        }
        // Connections still in their handshake count too.
        let Ok(slot) = connections.clone().try_acquire_owned() else {
            eprintln!(
                "simplex-chat: refused a bot API connection from {peer}: too many connecting"
            );
            continue;
        };
        let users = users.clone();
        let clients = clients.clone();
        let count_tx = count_tx.clone();
        tokio::spawn(async move {
            if let Err(e) = client(users, stream, clients, count_tx).await {
                eprintln!("simplex-chat: bot API connection from {peer}: {e}");
            }
            drop(slot);
        });
    }
}

/// Events (of every user) to every connected client, waiting while there is none.
async fn dispatch(
    users: Users,
    mut events: mpsc::Receiver<UserEvent>,
    clients: Shared,
    mut count: watch::Receiver<usize>,
) {
    loop {
        if count.wait_for(|n| *n > 0).await.is_err() {
            return;
        }
        let Some(e) = events.recv().await else {
            return;
        };
        // A deleted user's last events are not reported.
        let Some(resp) = users
            .chat(e.user_id)
            .and_then(|chat| api::event(&chat, &e.event))
        else {
            continue;
        };
        let text = json!({ "resp": resp }).to_string();
        let mut c = lock(&clients);
        c.list.retain(|cl| match cl.tx.try_send(text.clone()) {
            Ok(()) => true,
            Err(_) => {
                // Not reading (or gone): disconnected rather than buffered without bound.
                cl.close.notify_one();
                false
            }
        });
    }
}

fn request_error(message: &str) -> String {
    let err =
        chat_core::chat::ChatError::Command(chat_core::command::CommandError(message.to_string()));
    json!({ "resp": api::command_error(&err) }).to_string()
}

/// A request's `corrId` and `cmd`.
fn parse_request(text: &str) -> Result<(Value, String), String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("invalid request: {e}"))?;
    let corr = v
        .get("corrId")
        .filter(|c| c.is_string() || c.is_number())
        .cloned()
        .ok_or("invalid request: no corrId")?;
    let cmd = v
        .get("cmd")
        .and_then(Value::as_str)
        .ok_or("invalid request: no cmd")?;
    Ok((corr, cmd.to_string()))
}

async fn client(
    users: Users,
    stream: TcpStream,
    clients: Shared,
    count: watch::Sender<usize>,
) -> Result<(), String> {
    let config = WebSocketConfig::default()
        .max_frame_size(Some(MAX_FRAME))
        .max_message_size(Some(MAX_FRAME));
    // A connection that does not finish its handshake in time is closed: it holds a task.
    let ws = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        tokio_tungstenite::accept_async_with_config(stream, Some(config)),
    )
    .await
    .map_err(|_| "no WebSocket handshake in time".to_string())?
    .map_err(|e| format!("handshake: {e}"))?;
    let (mut sink, mut source) = ws.split();
    let (tx, mut rx) = mpsc::channel::<String>(CLIENT_QUEUE);
    let close = Arc::new(Notify::new());
    let id = {
        let mut c = lock(&clients);
        c.next += 1;
        let id = c.next;
        c.list.push(Client {
            id,
            tx: tx.clone(),
            close: close.clone(),
        });
        count.send_replace(c.list.len());
        id
    };
    let writer = async {
        while let Some(text) = rx.recv().await {
            sink.send(Message::text(text))
                .await
                .map_err(|e| format!("send: {e}"))?;
        }
        Ok::<(), String>(())
    };
    let reader = async {
        let running = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        while let Some(frame) = source.next().await {
            let frame = frame.map_err(|e| format!("receive: {e}"))?;
            let text = match frame {
                Message::Text(t) => t.to_string(),
                Message::Binary(_) => {
                    let _ = tx
                        .send(request_error("invalid request: binary frame"))
                        .await;
                    continue;
                }
                Message::Close(_) => break,
                _ => continue, // ping (answered by the library), pong
            };
            let (corr, cmd) = match parse_request(&text) {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.send(request_error(&e)).await;
                    continue;
                }
            };
            let Ok(permit) = running.clone().acquire_owned().await else {
                break;
            };
            let users = users.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let (resp, done) = match users.execute_line(&cmd).await {
                    Ok((chat, r)) => (
                        chat_core::users::response_json(chat.as_ref(), &r),
                        chat.map(|c| (c, r)),
                    ),
                    Err(e) => (api::command_error(&e), None),
                };
                let _ = tx
                    .send(json!({"corrId": corr, "resp": resp}).to_string())
                    .await;
                if let Some((chat, r)) = done {
                    chat.after_response(&r).await;
                }
                drop(permit);
            });
        }
        Ok::<(), String>(())
    };
    let result = tokio::select! {
        r = writer => r,
        r = reader => r,
        () = close.notified() => Err("not reading its events: disconnected".into()),
    };
    let mut c = lock(&clients);
    c.list.retain(|cl| cl.id != id);
    count.send_replace(c.list.len());
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests() {
        assert_eq!(
            parse_request(r#"{"corrId":"1","cmd":"/user"}"#),
            Ok((json!("1"), "/user".to_string()))
        );
        assert_eq!(
            parse_request(r#"{"corrId": 7, "cmd": "/_contacts 1"}"#),
            Ok((json!(7), "/_contacts 1".to_string()))
        );
        for bad in [
            "",
            "[]",
            r#"{"cmd":"/user"}"#,
            r#"{"corrId":"1"}"#,
            r#"{"corrId":"1","cmd":5}"#,
            r#"{"corrId":null,"cmd":"/user"}"#,
        ] {
            assert!(parse_request(bad).is_err(), "{bad}");
        }
    }
}
