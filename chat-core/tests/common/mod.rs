//! Helpers of chat-core's tests.
#![allow(dead_code)]

/// An SMP relay on 127.0.0.1 (Ed25519 identity), and its address.
pub async fn relay() -> (smp_server::Running, smp_proto::address::SmpServer) {
    let (identity, _) =
        transport::Identity::generate(transport::SignAlgorithm::Ed25519, "localhost").expect("id");
    let kh = identity.key_hash().expect("hash");
    let running = smp_server::start(
        "127.0.0.1:0".parse().expect("addr"),
        &identity,
        smp_server::RelayConfig::default(),
    )
    .await
    .expect("relay");
    let address = format!(
        "smp://{}@127.0.0.1:{}",
        simplex_codec::base64url::encode(&kh),
        running.addr.port()
    );
    (running, address.parse().expect("address"))
}
