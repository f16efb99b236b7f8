//! The address's short link shows the user's profile before anyone connects: after `/p` the
//! link's data (read by another agent with LGET) has the new profile (LSET), the link unchanged.

mod common;

use agent::agent::Agent;
use chat_core::chat::{Chat, Response};
use common::{config, profile, relay};
use smp_client::ConnectOptions;

fn displayed(data: &[u8]) -> (String, String) {
    let v: serde_json::Value = serde_json::from_slice(data).expect("JSON link data");
    (
        v["profile"]["displayName"]
            .as_str()
            .unwrap_or_default()
            .into(),
        v["profile"]["fullName"].as_str().unwrap_or_default().into(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_address_link_data_follows_the_profile() {
    let (relay, server) = relay().await;
    let dir = tempfile::tempdir().expect("tmp");
    let (alice, _events) = Chat::open(
        &config(dir.path(), "alice", &server),
        Some(profile("alice")),
    )
    .await
    .expect("chat");
    let (reader, _re) = Agent::start(server, ConnectOptions::default());
    let Response::AddressCreated(link) = alice.execute_line("/ad").await.expect("/ad") else {
        panic!("an address")
    };
    let short = link.short.clone().expect("a short link");
    let data = reader.read_address(&short).await.expect("link data");
    assert_eq!(displayed(&data.user_data), ("alice".into(), String::new()));

    alice
        .execute_line("/p alice_2 Alice Smith")
        .await
        .expect("/p");
    let data = reader.read_address(&short).await.expect("link data");
    assert_eq!(
        displayed(&data.user_data),
        ("alice_2".into(), "Alice Smith".into())
    );
    // A profile over 10,240 bytes of JSON (a large image): the data is compressed, as the
    // reference writes it ('X' and a zstd frame), and reads back whole - the image kept.
    let image = format!(
        "data:image/png;base64,iVBORw0KGgo{}",
        "AAAAQUJD".repeat(2_000)
    );
    let p =
        serde_json::json!({"displayName": "alice_2", "fullName": "Alice Smith", "image": image});
    alice
        .execute_line(&format!("/_profile 1 {p}"))
        .await
        .expect("/_profile");
    let data = reader.read_address(&short).await.expect("link data");
    assert_eq!(data.user_data.first(), Some(&b'X'), "compressed");
    assert!(data.user_data.len() < 10_240);
    let plain = chat_core::compress::read_link_data(&data.user_data).expect("decompressed");
    let v: serde_json::Value = serde_json::from_slice(&plain).expect("JSON link data");
    assert_eq!(v["profile"]["image"], image.as_str());
    // The same address.
    let Response::Address(again) = alice.execute_line("/sa").await.expect("/sa") else {
        panic!("the address")
    };
    assert_eq!(again.short.as_deref(), Some(short.as_str()));
    relay.stop();
}
