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

/// A chat's configuration: databases `<dir>/<name>_*.db`, files in `<dir>/<name>_files`, no
/// XFTP relay, files up to 1 MiB.
pub fn config(
    dir: &std::path::Path,
    name: &str,
    server: &smp_proto::address::SmpServer,
) -> chat_core::chat::ChatConfig {
    chat_core::chat::ChatConfig {
        db_prefix: dir.join(name),
        db_key: None,
        smp_server: server.clone(),
        connect: smp_client::ConnectOptions::default(),
        xftp_servers: Vec::new(),
        files_folder: dir.join(format!("{name}_files")),
        max_file_size: 1 << 20,
        auto_accept_size: 0,
        event_queue: chat_core::chat::DEFAULT_EVENT_QUEUE,
        chat_relay: false,
        relay_address_server: None,
        relay_max_channels: chat_core::channels::DEFAULT_MAX_CHANNELS,
    }
}

/// alice, a channel's owner-to-be, and bob, a chat relay (serving at most `max_channels`)
/// whose address alice configured (`/relays name=bob_relay ...`): each chat and its events.
pub async fn owner_and_relay(
    dir: &std::path::Path,
    server: &smp_proto::address::SmpServer,
    max_channels: usize,
) -> (
    (
        chat_core::chat::Chat,
        tokio::sync::mpsc::Receiver<chat_core::chat::Event>,
    ),
    (
        chat_core::chat::Chat,
        tokio::sync::mpsc::Receiver<chat_core::chat::Event>,
    ),
) {
    let alice = open(dir, "alice", server).await;
    let mut bob_config = config(dir, "bob", server);
    bob_config.chat_relay = true;
    bob_config.relay_max_channels = max_channels;
    let bob = chat_core::chat::Chat::open(&bob_config, Some(profile("bob_relay")))
        .await
        .expect("bob");
    let chat_core::chat::Response::AddressCreated(address) =
        bob.0.execute_line("/ad").await.expect("/ad")
    else {
        panic!("an address")
    };
    let address = address.short.unwrap_or(address.full);
    alice
        .0
        .execute_line(&format!("/relays name=bob_relay {address}"))
        .await
        .expect("/relays");
    (alice, bob)
}

/// A chat named `name` (its profile too), with [`config`]: the chat and its events.
pub async fn open(
    dir: &std::path::Path,
    name: &str,
    server: &smp_proto::address::SmpServer,
) -> (
    chat_core::chat::Chat,
    tokio::sync::mpsc::Receiver<chat_core::chat::Event>,
) {
    chat_core::chat::Chat::open(&config(dir, name, server), Some(profile(name)))
        .await
        .expect(name)
}

/// A profile with this display name and no full name.
pub fn profile(name: &str) -> chat_core::protocol::Profile {
    chat_core::protocol::Profile {
        display_name: name.into(),
        full_name: String::new(),
        ..chat_core::protocol::Profile::default()
    }
}

/// After `ContactConnected`: the seven informational items a new direct chat starts with (the
/// banner, the encryption notice, five features), each reported as its own event.
pub async fn info_items(events: &mut tokio::sync::mpsc::Receiver<chat_core::chat::Event>) {
    for n in 0..7 {
        let e = tokio::time::timeout(std::time::Duration::from_secs(20), events.recv())
            .await
            .expect("an event in time")
            .expect("events open");
        match e {
            chat_core::chat::Event::InfoItem(_, item) => {
                assert!(item.info.is_some(), "item {n}: {item:?}")
            }
            other => panic!("informational item {n} expected, got {other:?}"),
        }
    }
}

/// How long a test waits for an event.
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// The next chat event that `pick` selects, with the events skipped before it.
pub async fn until<T>(
    events: &mut tokio::sync::mpsc::Receiver<chat_core::chat::Event>,
    mut pick: impl FnMut(&chat_core::chat::Event) -> Option<T>,
) -> (T, Vec<chat_core::chat::Event>) {
    let mut skipped = Vec::new();
    loop {
        let e = tokio::time::timeout(WAIT, events.recv())
            .await
            .expect("a chat event in time")
            .expect("events open");
        if let Some(t) = pick(&e) {
            return (t, skipped);
        }
        skipped.push(e);
    }
}

/// The next agent event that is not a delivery report.
pub async fn agent_event(
    events: &mut tokio::sync::mpsc::Receiver<agent::agent::AgentEvent>,
) -> agent::agent::AgentEvent {
    use agent::agent::AgentEvent;
    loop {
        let e = tokio::time::timeout(WAIT, events.recv())
            .await
            .expect("an agent event in time")
            .expect("events open");
        if !matches!(e, AgentEvent::Sent { .. } | AgentEvent::Delivered { .. }) {
            return e;
        }
    }
}

/// A chat message without a shared id, encoded.
pub fn msg(event: chat_core::protocol::ChatEvent) -> Vec<u8> {
    chat_core::protocol::ChatMessage::new(None, event).encode()
}
