//! Helpers shared by the agent's tests: vector files, a relay on 127.0.0.1, events.
#![allow(dead_code, clippy::unwrap_used)]

use serde_json::Value;
use simplex_crypto::{KeyAlgorithm, PrivateKey, PublicKey};

/// A vector file of `testdata/<dir>/`.
pub fn load(path: &str) -> Value {
    let path = format!("{}/../testdata/{path}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A hex string's bytes.
pub fn hx(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

/// A fixed key of a vector file by label (its public half checked when given).
pub fn key(file: &Value, label: &str) -> (PublicKey, PrivateKey) {
    let k = file["fixedKeys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["label"] == label)
        .unwrap_or_else(|| panic!("no key {label}"));
    let alg = match k["alg"].as_str().unwrap() {
        "X25519" => KeyAlgorithm::X25519,
        _ => KeyAlgorithm::X448,
    };
    let private = PrivateKey::from_raw(alg, &hx(&k["privRawHex"])).unwrap();
    let public = simplex_crypto::public_key(&private).unwrap();
    assert_eq!(public.raw(), hx(&k["pubRawHex"]), "{label}");
    (public, private)
}

/// An SMP relay on 127.0.0.1 with a new `alg` identity, and its address.
pub async fn relay_with(
    alg: transport::SignAlgorithm,
) -> (smp_server::Running, smp_proto::address::SmpServer) {
    let (identity, _) = transport::Identity::generate(alg, "localhost").unwrap();
    let kh = identity.key_hash().unwrap();
    let running = smp_server::start(
        "127.0.0.1:0".parse().unwrap(),
        &identity,
        smp_server::RelayConfig::default(),
    )
    .await
    .unwrap();
    let address = format!(
        "smp://{}@127.0.0.1:{}",
        simplex_codec::base64url::encode(&kh),
        running.addr.port()
    );
    (running, address.parse().unwrap())
}

/// An SMP relay on 127.0.0.1 (Ed25519 identity), and its address.
pub async fn relay() -> (smp_server::Running, smp_proto::address::SmpServer) {
    relay_with(transport::SignAlgorithm::Ed25519).await
}

/// The next event but delivery reports and relay up/down (checked where they matter).
pub async fn next(
    events: &mut tokio::sync::mpsc::Receiver<agent::agent::AgentEvent>,
) -> agent::agent::AgentEvent {
    use agent::agent::AgentEvent;
    loop {
        let e = tokio::time::timeout(std::time::Duration::from_secs(20), events.recv())
            .await
            .expect("an agent event in time")
            .expect("events open");
        match e {
            AgentEvent::Sent { .. } | AgentEvent::Up { .. } | AgentEvent::Down { .. } => {}
            e => return e,
        }
    }
}

/// Connects `bob` to `alice`'s one-time invitation (infos `bob` and `alice`), both sides
/// connected; their connection ids.
pub async fn connect(
    alice: &agent::agent::Agent,
    ae: &mut tokio::sync::mpsc::Receiver<agent::agent::AgentEvent>,
    bob: &agent::agent::Agent,
    be: &mut tokio::sync::mpsc::Receiver<agent::agent::AgentEvent>,
) -> (agent::agent::ConnId, agent::agent::ConnId) {
    use agent::agent::AgentEvent;
    let (ca, link) = alice.create_invitation().await.unwrap();
    let cb = bob.join(&link, b"bob").await.unwrap();
    assert!(matches!(next(ae).await, AgentEvent::Confirmation { .. }));
    alice.allow(ca, b"alice").await.unwrap();
    assert_eq!(next(ae).await, AgentEvent::Connected { conn: ca });
    assert!(matches!(next(be).await, AgentEvent::Info { .. }));
    assert_eq!(next(be).await, AgentEvent::Connected { conn: cb });
    (ca, cb)
}
