#![allow(clippy::unwrap_used)]
mod common;
use common::{InitOpts, TestRelay};

#[tokio::test]
async fn ping_and_one_chunk() {
    let relay = TestRelay::init_and_start(InitOpts::default());
    let c = relay.connect().await;
    c.ping().await.unwrap();
    assert_eq!(c.version(), 3);
    let (spub, skey) = xftp_proto::crypto::generate(xftp_proto::KeyAlgorithm::Ed25519).unwrap();
    let _ = spub;
    let (rpub, rkey) = xftp_proto::crypto::generate(xftp_proto::KeyAlgorithm::Ed25519).unwrap();
    let data = vec![7u8; 65536];
    let digest = openssl::sha::sha256(&data);
    let ids = c
        .create(&skey, 65536, digest, vec![rpub], None)
        .await
        .unwrap();
    c.upload(&ids.sender_id, &skey, bytes::Bytes::from(data.clone()))
        .await
        .unwrap();
    let got = c
        .download(&ids.recipient_ids[0], &rkey, 65536)
        .await
        .unwrap();
    assert_eq!(got, data);
}
