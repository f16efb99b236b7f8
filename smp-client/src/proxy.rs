//! The client side of private routing: commands for a relay the client does not connect to,
//! sent through its own relay (the proxy) and encrypted end to end for the destination.
//!
//! ```text
//! proxy_session: PRXY dest ─► PKEY (dest session id, versions, certificate chain, signed key)
//!                             the chain must hash to the address's key hash
//! send_via:      transmission for the dest session ─► crypto_box(DH(dest key, one-time key),
//!                corrId, pad(.., 16226)) ─► PFWD ─► PRES ─► open with reverse(corrId) ─► answer
//! ```

use simplex_codec::encoding::{pad, unpad};
use simplex_crypto::{cryptobox, KeyAlgorithm, PrivateKey, PublicKey, SbNonce};
use smp_proto::block::{decode_content, encode_content};
use smp_proto::proxy::{
    reverse_nonce, ProxiedSession, ProxyRequest, ServerAddr, PADDED_PROXIED_LEN,
};
use smp_proto::transmission::Transmission;
use smp_proto::{BrokerMsg, Command, Version, VersionRange};

use crate::{online_key, ClientError, SmpClient};

/// A destination relay reached through a proxy: what PKEY told, checked.
#[derive(Debug, Clone)]
pub struct ProxiedRelay {
    /// The proxy's session with the destination (the entity of PFWD; the implied session id
    /// of the forwarded transmissions).
    pub session_id: Vec<u8>,
    /// The version the forwarded transmissions use.
    pub version: Version,
    /// The destination's session key (signed by its identity).
    pub server_key: PublicKey,
}

/// Asks `proxy` for a session with `dest` (PRXY) and checks the destination's identity
/// against the key hash of its address.
pub async fn proxy_session(
    proxy: &SmpClient,
    dest: &ServerAddr,
    basic_auth: Option<&[u8]>,
    versions: VersionRange,
) -> Result<Result<ProxiedRelay, smp_proto::ErrorType>, ClientError> {
    let body = ProxyRequest {
        server: dest.clone(),
        basic_auth: basic_auth.map(<[u8]>::to_vec),
    }
    .encode()
    .map_err(|_| ClientError::Encode)?;
    let pkey = match proxy.call(None, b"", &Command::Prxy(body)).await? {
        BrokerMsg::Pkey(b) => b,
        BrokerMsg::Err(e) => return Ok(Err(e)),
        _ => return Err(ClientError::BadAnswer),
    };
    let s = ProxiedSession::decode(&pkey).map_err(|_| ClientError::BadAnswer)?;
    let bad = |what: &str| ClientError::Handshake(format!("proxied relay: {what}"));
    // The same identity check as a direct TLS connection makes.
    let certs: Result<Vec<openssl::x509::X509>, _> = s
        .chain
        .iter()
        .map(|c| openssl::x509::X509::from_der(c))
        .collect();
    let certs = certs.map_err(|_| bad("a certificate does not parse"))?;
    transport::tls::verify_chain(&certs, &dest.key_hash)
        .map_err(|e| bad(&format!("its identity is not the one in the address: {e}")))?;
    let signer = online_key(&s.chain)?;
    let server_key = simplex_crypto::signed::verify_signed_key(&s.signed_key, &signer)
        .map_err(|_| bad("the session key is not signed"))?;
    let version = s
        .range
        .highest_common(versions)
        .ok_or_else(|| bad("no common version"))?;
    Ok(Ok(ProxiedRelay {
        session_id: s.session_id,
        version,
        server_key,
    }))
}

/// Sends one command to the destination through the proxy (PFWD) and returns the
/// destination's answer. `Err(Proxy(..))` answers come from the proxy itself.
pub async fn send_via(
    proxy: &SmpClient,
    relay: &ProxiedRelay,
    key: Option<&PrivateKey>,
    entity: &[u8],
    cmd: &Command,
) -> Result<BrokerMsg, ClientError> {
    let v = relay.version;
    let mut nonce = [0u8; 24];
    simplex_crypto::random_bytes(&mut nonce);
    let mut t = Transmission {
        corr_id: nonce.to_vec(),
        entity_id: entity.to_vec(),
        command: cmd.encode(v).map_err(|_| ClientError::Encode)?,
        session_id: if v < smp_proto::version::IMPLIED_SESSION_ID {
            relay.session_id.clone()
        } else {
            Vec::new()
        },
        ..Transmission::default()
    };
    if let Some(k) = key {
        let signed = t
            .authorized(&relay.session_id)
            .map_err(|_| ClientError::Encode)?;
        t.authorization = simplex_crypto::sign(k, &signed).map_err(|_| ClientError::Encode)?;
    }
    let bytes = t.encode(v).map_err(|_| ClientError::Encode)?;
    let content = encode_content(&[bytes]).map_err(|_| ClientError::TooLarge)?;
    let padded = pad(&content, PADDED_PROXIED_LEN).map_err(|_| ClientError::TooLarge)?;
    let (cmd_pub, cmd_priv) =
        simplex_crypto::generate(KeyAlgorithm::X25519).map_err(|_| ClientError::Encode)?;
    let secret =
        cryptobox::shared_key(&cmd_priv, &relay.server_key).map_err(|_| ClientError::Encode)?;
    let enc = cryptobox::seal(&secret, &SbNonce(nonce), &padded);
    let pfwd = Command::Pfwd(v, cmd_pub, enc);
    match proxy
        .call_with_corr_id(nonce, None, &relay.session_id, &pfwd)
        .await?
    {
        BrokerMsg::Pres(er) => {
            let plain = cryptobox::open(&secret, &SbNonce(reverse_nonce(&nonce)), &er)
                .map_err(|_| ClientError::BadAnswer)?;
            let content = unpad(&plain).map_err(|_| ClientError::BadAnswer)?;
            let items = decode_content(content).map_err(|_| ClientError::BadAnswer)?;
            let [one] = items.as_slice() else {
                return Err(ClientError::BadAnswer);
            };
            let t = Transmission::decode(one, v).map_err(|_| ClientError::BadAnswer)?;
            BrokerMsg::parse(v, &t.command).ok_or(ClientError::BadAnswer)
        }
        other => Ok(other),
    }
}
