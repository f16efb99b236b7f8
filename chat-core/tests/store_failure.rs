//! A chat database that fails while a message is stored: the message is reported, not
//! acknowledged to the relay, and shown after the next start - nothing acknowledged is lost.

mod common;

use std::time::Duration;

use chat_core::chat::{Chat, Event, Response};
use chat_core::command::Command;
use chat_core::protocol::MsgContent;
use common::{config, profile as user};
use tokio::sync::mpsc::Receiver;

async fn event(events: &mut Receiver<Event>) -> Event {
    tokio::time::timeout(Duration::from_secs(20), events.recv())
        .await
        .expect("an event in time")
        .expect("events open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_database_cannot_store_is_kept_at_the_relay() {
    let (identity, _) =
        transport::Identity::generate(transport::SignAlgorithm::Ed25519, "localhost").expect("id");
    let relay = smp_server::start(
        "127.0.0.1:0".parse().expect("addr"),
        &identity,
        smp_server::RelayConfig::default(),
    )
    .await
    .expect("relay");
    let server: smp_proto::address::SmpServer = format!(
        "smp://{}@127.0.0.1:{}",
        simplex_codec::base64url::encode(&identity.key_hash().expect("hash")),
        relay.addr.port()
    )
    .parse()
    .expect("address");
    let dir = tempfile::tempdir().expect("tmp");
    let (alice, mut ae) = Chat::open(&config(dir.path(), "alice", &server), Some(user("alice")))
        .await
        .expect("alice");
    let (bob, mut be) = Chat::open(&config(dir.path(), "bob", &server), Some(user("bob")))
        .await
        .expect("bob");
    let Ok(Response::Invitation { link, .. }) = alice.execute(Command::CreateInvitation).await
    else {
        panic!("an invitation")
    };
    bob.execute(Command::Connect(link)).await.expect("join");
    // Each side's contact is made when the other's profile comes (bob's confirmation,
    // alice's info), then connected.
    assert!(matches!(event(&mut ae).await, Event::ContactConnecting(c) if c.local_name == "bob"));
    assert!(matches!(event(&mut ae).await, Event::ContactConnected(_)));
    common::info_items(&mut ae).await;
    assert!(matches!(event(&mut be).await, Event::ContactConnecting(c) if c.local_name == "alice"));
    assert!(matches!(event(&mut be).await, Event::ContactConnected(_)));
    common::info_items(&mut be).await;

    // Alice's chat database refuses new items (as a full disk would).
    let db = rusqlite::Connection::open(dir.path().join("alice_chat.db")).expect("open");
    db.execute_batch(
        "CREATE TRIGGER full_disk BEFORE INSERT ON chat_items
         BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END;",
    )
    .expect("trigger");
    bob.execute(Command::SendText {
        to: "alice".into(),
        text: "kept for you".into(),
    })
    .await
    .expect("send");
    match event(&mut ae).await {
        Event::Error(e) => assert!(e.contains("full"), "{e}"),
        other => panic!("expected the store error, got {other:?}"),
    }

    // The disk has room again; alice starts again and the message is there.
    db.execute_batch("DROP TRIGGER full_disk;").expect("drop");
    alice.close().await;
    drop(alice);
    drop(ae);
    let (alice, mut ae) = Chat::open(&config(dir.path(), "alice", &server), None)
        .await
        .expect("alice again");
    match event(&mut ae).await {
        Event::Received(c, item) => {
            assert_eq!(c.local_name, "bob");
            assert_eq!(item.content, MsgContent::text("kept for you"));
        }
        other => panic!("expected the message, got {other:?}"),
    }
    alice.close().await;
    bob.close().await;
    relay.stop();
}
