//! A connection to one relay that comes back by itself: when it is lost, the session
//! reconnects with back-off (100 ms doubling to 10 s) and subscribes every queue again, in
//! batches, before calls go through it again.
//!
//! ```text
//! subscribe(key, rid) ─► SUB ─► remembered ─┐
//! connection lost ─► Event::Disconnected ─► reconnect ─► SUB all remembered ─► Event::Reconnected
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use simplex_crypto::PrivateKey;
use smp_proto::{BrokerMsg, Command};
use tokio::sync::{mpsc, watch};

use crate::{ClientError, ConnectOptions, Event, SmpClient};

/// Longest wait between reconnection attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// A self-healing connection to one relay.
#[derive(Debug, Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

/// Where a session connects.
#[derive(Debug, Clone)]
enum Target {
    Addr(SocketAddr, [u8; 32]),
    Server(smp_proto::address::SmpServer),
}

impl Target {
    async fn connect(
        &self,
        opts: &ConnectOptions,
    ) -> Result<(SmpClient, mpsc::Receiver<Event>), ClientError> {
        match self {
            Self::Addr(a, kh) => SmpClient::connect(*a, kh, opts.clone()).await,
            Self::Server(s) => SmpClient::connect_server(s, opts.clone()).await,
        }
    }
}

#[derive(Debug)]
struct Inner {
    target: Target,
    /// How to connect (changed by [`Session::set_options`]: the next connection uses them).
    opts: std::sync::RwLock<ConnectOptions>,
    /// Wakes a reconnection waiting between tries (new options: try them at once).
    retry_now: Arc<tokio::sync::Notify>,
    /// The live connection; `None` while reconnecting.
    current: watch::Sender<Option<SmpClient>>,
    /// Queues to subscribe again after a reconnection: recipient id → key.
    subs: Mutex<HashMap<Vec<u8>, PrivateKey>>,
    events: mpsc::Sender<Event>,
}

impl Inner {
    /// The connection options in effect.
    fn options(&self) -> ConnectOptions {
        self.opts
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl Session {
    /// Connects (the first connection must succeed) and keeps the session alive from then on.
    pub async fn connect(
        addr: SocketAddr,
        key_hash: &[u8; 32],
        opts: ConnectOptions,
    ) -> Result<(Self, mpsc::Receiver<Event>), ClientError> {
        Self::start(Target::Addr(addr, *key_hash), opts).await
    }

    /// As [`Session::connect`], to a relay by its `smp://` address (hosts tried in order).
    pub async fn connect_server(
        server: &smp_proto::address::SmpServer,
        opts: ConnectOptions,
    ) -> Result<(Self, mpsc::Receiver<Event>), ClientError> {
        Self::start(Target::Server(server.clone()), opts).await
    }

    async fn start(
        target: Target,
        opts: ConnectOptions,
    ) -> Result<(Self, mpsc::Receiver<Event>), ClientError> {
        let (client, events) = target.connect(&opts).await?;
        let (ev_tx, ev_rx) = mpsc::channel(opts.event_queue.max(1));
        forward(events, ev_tx.clone());
        let (current, _) = watch::channel(Some(client));
        let inner = Arc::new(Inner {
            target,
            opts: std::sync::RwLock::new(opts),
            retry_now: Arc::default(),
            current,
            subs: Mutex::default(),
            events: ev_tx,
        });
        tokio::spawn(supervise(Arc::downgrade(&inner)));
        Ok((Self { inner }, ev_rx))
    }

    /// The live connection, waiting (up to the response timeout) while reconnecting.
    pub async fn client(&self) -> Result<SmpClient, ClientError> {
        let mut rx = self.inner.current.subscribe();
        let wait = async {
            rx.wait_for(|c| c.as_ref().is_some_and(|c| !c.is_closed()))
                .await
                .map(|c| c.clone())
        };
        match tokio::time::timeout(self.inner.options().response_timeout, wait).await {
            Ok(Ok(c)) => c.ok_or(ClientError::Closed),
            Ok(Err(_)) => Err(ClientError::Closed),
            Err(_) => Err(ClientError::Timeout),
        }
    }

    /// New connection options (a proxy, timeouts, host modes): the connections made from now
    /// on use them; [`Session::reconnect`] applies them to this one.
    pub fn set_options(&self, opts: ConnectOptions) {
        *self
            .inner
            .opts
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = opts;
        // A reconnection waiting between tries tries the new options at once.
        self.inner.retry_now.notify_one();
    }

    /// Replaces the live connection (a network change): calls from now on wait for a new
    /// one; the old one closes once the calls it carries are answered (at most the response
    /// timeout), and the session reconnects and subscribes its queues again, as after a lost
    /// connection ([`Event::Disconnected`], then [`Event::Reconnected`]). Nothing while it is
    /// reconnecting already.
    pub fn reconnect(&self) {
        let Some(old) = self.inner.current.send_replace(None) else {
            return;
        };
        let wait = self.inner.options().response_timeout;
        tokio::spawn(async move {
            const STEP: Duration = Duration::from_millis(10);
            let started = tokio::time::Instant::now();
            while old.in_flight() > 0 && !old.is_closed() && started.elapsed() < wait {
                tokio::time::sleep(STEP).await;
            }
            old.abort();
        });
    }

    /// The version negotiated with the relay (waiting for a connection as [`Session::call`]).
    pub async fn version(&self) -> Result<smp_proto::version::Version, ClientError> {
        Ok(self.client().await?.version())
    }

    /// Sends one command on the live connection.
    pub async fn call(
        &self,
        key: Option<&PrivateKey>,
        entity: &[u8],
        cmd: &Command,
    ) -> Result<BrokerMsg, ClientError> {
        self.client().await?.call(key, entity, cmd).await
    }

    /// Sends one command with a chosen 24-byte corrId on the live connection (NEW with link
    /// data: the sender id is derived from it).
    pub async fn call_with_corr_id(
        &self,
        corr_id: [u8; 24],
        key: Option<&PrivateKey>,
        entity: &[u8],
        cmd: &Command,
    ) -> Result<BrokerMsg, ClientError> {
        self.client()
            .await?
            .call_with_corr_id(corr_id, key, entity, cmd)
            .await
    }

    /// Sends many commands on the live connection, in order, in as few blocks as they fit.
    pub async fn call_many(
        &self,
        reqs: &[crate::Request<'_>],
    ) -> Vec<Result<BrokerMsg, ClientError>> {
        match self.client().await {
            Ok(c) => c.call_many(reqs).await,
            Err(e) => reqs.iter().map(|_| Err(e.clone())).collect(),
        }
    }

    /// Subscribes a queue and remembers it, so that it is subscribed again after a
    /// reconnection. Returns the relay's answer (SOK, or an error).
    pub async fn subscribe(
        &self,
        key: &PrivateKey,
        rcv_id: &[u8],
    ) -> Result<BrokerMsg, ClientError> {
        let answer = self.call(Some(key), rcv_id, &Command::Sub).await?;
        if matches!(answer, BrokerMsg::Sok(_) | BrokerMsg::Ok) {
            self.inner
                .subs
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(rcv_id.to_vec(), key.clone());
        }
        Ok(answer)
    }

    /// Stops subscribing a queue again after reconnections (after DEL, or END).
    pub fn forget(&self, rcv_id: &[u8]) {
        self.inner
            .subs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(rcv_id);
    }

    /// Queues the session subscribes.
    pub fn subscriptions(&self) -> usize {
        self.inner
            .subs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }
}

fn forward(mut from: mpsc::Receiver<Event>, to: mpsc::Sender<Event>) {
    tokio::spawn(async move {
        while let Some(ev) = from.recv().await {
            if to.send(ev).await.is_err() {
                break;
            }
        }
    });
}

/// Watches the connection and brings it back; ends when the session is dropped.
async fn supervise(weak: std::sync::Weak<Inner>) {
    loop {
        // Only the signal is held here: dropping the session closes its connection.
        let Some(mut closed) = weak
            .upgrade()
            .and_then(|i| i.current.borrow().as_ref().map(SmpClient::closed_signal))
        else {
            return;
        };
        // Keep-alive: a PING when the interval passes; no answer means a dead connection.
        loop {
            let interval = match weak.upgrade() {
                Some(i) => i.options().keep_alive,
                None => return,
            };
            let closing = async { closed.wait_for(|c| *c).await.is_ok() };
            tokio::select! {
                _ = closing => break,
                () = tokio::time::sleep(interval) => {
                    let Some(inner) = weak.upgrade() else { return };
                    // Taken out by `reconnect`: closing already.
                    let Some(client) = inner.current.borrow().clone() else { break };
                    if !matches!(client.call(None, b"", &Command::Ping).await, Ok(BrokerMsg::Pong)) {
                        client.abort();
                    }
                }
            }
        }
        let Some(inner) = weak.upgrade() else { return };
        inner.current.send_replace(None);
        let _ = inner.events.send(Event::Disconnected).await;
        drop(inner);
        let mut backoff = Duration::from_millis(100);
        loop {
            let Some(inner) = weak.upgrade() else { return };
            let opts = inner.options();
            match inner.target.connect(&opts).await {
                Ok((client, events)) => {
                    forward(events, inner.events.clone());
                    let (resubscribed, lost) = resubscribe(&inner, &client).await;
                    inner.current.send_replace(Some(client));
                    if !lost.is_empty() {
                        let _ = inner.events.send(Event::SubscriptionsLost(lost)).await;
                    }
                    let _ = inner.events.send(Event::Reconnected(resubscribed)).await;
                    break;
                }
                Err(e) if !e.is_retriable() => {
                    // Another relay at this address now (identity changed): keep trying
                    // slowly; every call meanwhile fails with a timeout.
                    backoff = MAX_BACKOFF;
                }
                Err(_) => {}
            }
            let retry_now = inner.retry_now.clone();
            drop(inner);
            tokio::select! {
                _ = tokio::time::sleep(backoff) => backoff = (backoff * 2).min(MAX_BACKOFF),
                _ = retry_now.notified() => backoff = Duration::from_millis(100),
            }
        }
    }
}

/// Subscribes every remembered queue on a new connection (batched by `call_many`); returns
/// how many the relay accepted, and the queues it no longer knows (AUTH: forgotten).
async fn resubscribe(inner: &Inner, client: &SmpClient) -> (usize, Vec<Vec<u8>>) {
    let subs: Vec<(Vec<u8>, PrivateKey)> = inner
        .subs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(r, k)| (r.clone(), k.clone()))
        .collect();
    let sub = Command::Sub;
    let mut ok = 0;
    let mut lost = Vec::new();
    for chunk in subs.chunks(1000) {
        let reqs: Vec<crate::Request<'_>> =
            chunk.iter().map(|(r, k)| (Some(k), &r[..], &sub)).collect();
        for ((rid, _), answer) in chunk.iter().zip(client.call_many(&reqs).await) {
            match answer {
                Ok(BrokerMsg::Sok(_) | BrokerMsg::Ok) => ok += 1,
                Ok(BrokerMsg::Err(smp_proto::ErrorType::Auth)) => {
                    inner
                        .subs
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(rid);
                    lost.push(rid.clone());
                }
                _ => {}
            }
        }
    }
    (ok, lost)
}
