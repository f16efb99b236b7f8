//! The proxy side of private routing: a client asks this relay for a session with another
//! relay (PRXY), then sends commands for it (PFWD); this relay forwards them (RFWD) over its
//! own client connection to the destination and hands back the still-encrypted answers (PRES).
//! It sees neither the commands nor the answers, only which relay they go to.
//!
//! ```text
//! PRXY dest ─► connect to dest (proxy-server flag, once per destination) ─► PKEY
//! PFWD v key enc ─► RFWD crypto_box_noPad(S, n, corrId ‖ v ‖ key ‖ enc) ─► RRES ─► PRES
//! ```

use std::collections::HashMap;
use std::time::Duration;

use simplex_crypto::{cryptobox, PublicKey, SbNonce};
use smp_client::{ClientError, ConnectOptions, SmpClient};
use smp_proto::error::ProxyError;
use smp_proto::proxy::{
    reverse_nonce, FwdResponse, FwdTransmission, ProxiedSession, ProxyRequest, ServerAddr,
    PROXIED_RELAY_MAX, SENDING_PROXY,
};
use smp_proto::{BrokerMsg, Command, ErrorType, Version, VersionRange};

/// Proxied commands one connection may have waiting for other relays at once.
pub const PER_CONNECTION: usize = 32;
/// Destination relays connected at once (clients choose them: this bounds what they can make
/// the relay hold open).
pub const MAX_DESTINATIONS: usize = 1024;

/// The connections to destination relays, shared by every client of this relay.
#[derive(Debug)]
pub struct ProxyAgent {
    basic_auth: Option<Vec<u8>>,
    stats: std::sync::Arc<crate::stats::Stats>,
    opts: ConnectOptions,
    relays: tokio::sync::Mutex<HashMap<ServerAddr, SmpClient>>,
    sessions: std::sync::Mutex<HashMap<Vec<u8>, SmpClient>>,
}

fn broker(what: &str) -> BrokerMsg {
    BrokerMsg::Err(ErrorType::Proxy(ProxyError::Broker(
        what.as_bytes().to_vec(),
    )))
}

fn client_error(e: &ClientError) -> BrokerMsg {
    match e {
        ClientError::Timeout => broker("TIMEOUT"),
        ClientError::Network(_) | ClientError::Tls(_) | ClientError::Closed => broker("NETWORK"),
        ClientError::Handshake(_) => broker("TRANSPORT HANDSHAKE IDENTITY"),
        ClientError::BadAnswer => broker("RESPONSE BLOCK"),
        ClientError::Encode | ClientError::TooLarge => broker("TRANSPORT LARGE_MSG"),
    }
}

impl ProxyAgent {
    /// A proxy that requires `basic_auth` (the relay's `create_password`) when set.
    pub fn new(basic_auth: Option<Vec<u8>>, stats: std::sync::Arc<crate::stats::Stats>) -> Self {
        Self {
            basic_auth,
            stats,
            opts: ConnectOptions {
                connect_timeout: Duration::from_secs(15),
                response_timeout: Duration::from_secs(30),
                proxy_server: true,
                event_queue: 16,
                ..ConnectOptions::default()
            },
            relays: tokio::sync::Mutex::default(),
            sessions: std::sync::Mutex::default(),
        }
    }

    /// Answers PRXY.
    pub async fn prxy(&self, body: &[u8]) -> BrokerMsg {
        use crate::stats::proxy::*;
        let r = self.prxy_inner(body).await;
        let p = &self.stats.p_relays;
        let outcome = match &r {
            BrokerMsg::Pkey(_) => SUCCESSES,
            BrokerMsg::Err(ErrorType::Proxy(ProxyError::BasicAuth)) => return r,
            BrokerMsg::Err(ErrorType::Proxy(ProxyError::Broker(b)))
                if b.starts_with(b"TRANSPORT VERSION") =>
            {
                ERRORS_COMPAT
            }
            BrokerMsg::Err(ErrorType::Proxy(ProxyError::Broker(_))) => ERRORS_CONNECT,
            _ => ERRORS_OTHER,
        };
        p[REQUESTS].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        p[outcome].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        r
    }

    async fn prxy_inner(&self, body: &[u8]) -> BrokerMsg {
        let Ok(req) = ProxyRequest::decode(body) else {
            return BrokerMsg::Err(ErrorType::Cmd(smp_proto::CommandError::Syntax));
        };
        let allowed = match &self.basic_auth {
            None => true,
            Some(p) => req
                .basic_auth
                .as_ref()
                .is_some_and(|a| bool::from(subtle_eq(a, p))),
        };
        if !allowed {
            return BrokerMsg::Err(ErrorType::Proxy(ProxyError::BasicAuth));
        }
        let client = match self.relay(&req.server).await {
            Ok(c) => c,
            Err(e) => {
                tracing::info!("proxy: cannot reach {:?}: {e}", req.server.hosts);
                return client_error(&e);
            }
        };
        let range = VersionRange::new(SENDING_PROXY, PROXIED_RELAY_MAX)
            .and_then(|ours| client.server_range().intersect(ours));
        let (Some(range), true) = (range, client.version() >= SENDING_PROXY) else {
            return broker("TRANSPORT VERSION");
        };
        let Some(auth) = client.server_auth() else {
            return broker("TRANSPORT NO_AUTH");
        };
        let session = ProxiedSession {
            session_id: client.session_id().to_vec(),
            range,
            chain: auth.chain.clone(),
            signed_key: auth.signed_key.clone(),
        };
        match session.encode() {
            Ok(b) => BrokerMsg::Pkey(b),
            Err(_) => BrokerMsg::Err(ErrorType::Internal),
        }
    }

    /// The connection to a destination, made once and shared.
    async fn relay(&self, server: &ServerAddr) -> Result<SmpClient, ClientError> {
        let mut relays = self.relays.lock().await;
        if let Some(c) = relays.get(server).filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        if relays.len() >= MAX_DESTINATIONS {
            relays.retain(|_, c| !c.is_closed());
            if relays.len() >= MAX_DESTINATIONS {
                return Err(ClientError::Network(
                    "too many destination relays connected".into(),
                ));
            }
        }
        let key_hash: [u8; 32] = server
            .key_hash
            .as_slice()
            .try_into()
            .map_err(|_| ClientError::Handshake("bad key hash".into()))?;
        let port = server
            .port_number()
            .ok_or_else(|| ClientError::Network("bad port".into()))?;
        let mut last = ClientError::Network("no host".into());
        for host in &server.hosts {
            // Onion hosts need a SOCKS proxy, which this relay does not use.
            if host.ends_with(".onion") {
                continue;
            }
            let addrs = match tokio::net::lookup_host((host.as_str(), port)).await {
                Ok(a) => a.collect::<Vec<_>>(),
                Err(e) => {
                    last = ClientError::Network(e.to_string());
                    continue;
                }
            };
            for addr in addrs {
                match SmpClient::connect(addr, &key_hash, self.opts.clone()).await {
                    Ok((c, _events)) => {
                        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
                        sessions.retain(|_, c| !c.is_closed());
                        sessions.insert(c.session_id().to_vec(), c.clone());
                        relays.insert(server.clone(), c.clone());
                        return Ok(c);
                    }
                    Err(e) => last = e,
                }
            }
        }
        Err(last)
    }

    /// Answers PFWD: forwards the client's encrypted transmission to the destination.
    pub async fn pfwd(
        &self,
        session_id: &[u8],
        corr_id: &[u8],
        version: Version,
        key: PublicKey,
        enc: Vec<u8>,
    ) -> BrokerMsg {
        use crate::stats::proxy::*;
        let r = self
            .pfwd_inner(session_id, corr_id, version, key, enc)
            .await;
        let outcome = match &r {
            // The destination's own refusals are successes of the proxy, as in the reference.
            BrokerMsg::Pres(_) | BrokerMsg::Err(ErrorType::Proxy(ProxyError::Protocol(_))) => {
                SUCCESSES
            }
            BrokerMsg::Err(ErrorType::Proxy(ProxyError::NoSession)) => ERRORS_CONNECT,
            BrokerMsg::Err(ErrorType::Proxy(ProxyError::Broker(b)))
                if b.starts_with(b"TRANSPORT VERSION") =>
            {
                ERRORS_COMPAT
            }
            _ => ERRORS_OTHER,
        };
        let p = &self.stats.p_msg_fwds;
        p[REQUESTS].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        p[outcome].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        r
    }

    async fn pfwd_inner(
        &self,
        session_id: &[u8],
        corr_id: &[u8],
        version: Version,
        key: PublicKey,
        enc: Vec<u8>,
    ) -> BrokerMsg {
        let client = {
            let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
            sessions.get(session_id).filter(|c| !c.is_closed()).cloned()
        };
        let Some(client) = client else {
            return BrokerMsg::Err(ErrorType::Proxy(ProxyError::NoSession));
        };
        if client.version() < SENDING_PROXY {
            return broker("TRANSPORT VERSION");
        }
        let Some(secret) = client.server_auth().map(|a| a.session_secret.clone()) else {
            return broker("TRANSPORT NO_AUTH");
        };
        let fwd = FwdTransmission {
            corr_id: corr_id.to_vec(),
            version,
            key,
            enc,
        };
        let Ok(plain) = fwd.encode() else {
            return BrokerMsg::Err(ErrorType::Internal);
        };
        let mut nonce = [0u8; 24];
        simplex_crypto::random_bytes(&mut nonce);
        let sealed = cryptobox::seal(&secret, &SbNonce(nonce), &plain);
        let answer = client
            .call_with_corr_id(nonce, None, b"", &Command::Rfwd(sealed))
            .await;
        match answer {
            Ok(BrokerMsg::Rres(efr)) => {
                let Ok(r) = cryptobox::open(&secret, &SbNonce(reverse_nonce(&nonce)), &efr) else {
                    return BrokerMsg::Err(ErrorType::Crypto);
                };
                match FwdResponse::decode(&r) {
                    Ok(r) => BrokerMsg::Pres(r.enc),
                    Err(_) => broker("RESPONSE BLOCK"),
                }
            }
            Ok(BrokerMsg::Err(e)) => {
                BrokerMsg::Err(ErrorType::Proxy(ProxyError::Protocol(Box::new(e))))
            }
            Ok(_) => broker("UNEXPECTED RRES"),
            Err(e) => client_error(&e),
        }
    }
}

fn subtle_eq(a: &[u8], b: &[u8]) -> subtle::Choice {
    use subtle::ConstantTimeEq;
    a.ct_eq(b)
}
