//! A chat relay serves at most `--relay-max-channels` channels at once: an owner asking it to
//! serve one more is refused with why, and the channels it serves go on.

mod common;

use chat_core::channels::RelayStatus;
use chat_core::chat::{Event, Response};
use common::{owner_and_relay, relay, until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_serves_at_most_its_channels() {
    // On the heap: the scenario's future is larger than a test thread's stack in debug builds.
    Box::pin(scenario()).await
}

async fn scenario() {
    let (_relay, server) = relay().await;
    let dir = tempfile::tempdir().expect("tmp");
    let ((alice, mut a_ev), (bob, mut b_ev)) = owner_and_relay(dir.path(), &server, 1).await;
    alice
        .execute_line(r#"/_public group 1 1 {"displayName": "news", "fullName": ""}"#)
        .await
        .expect("news");
    until(&mut a_ev, |e| {
        matches!(e, Event::GroupRelayUpdated(_, r) if r.status == RelayStatus::Active).then_some(())
    })
    .await;

    // A second channel: bob serves one already, the most it serves.
    alice
        .execute_line(r#"/_public group 1 1 {"displayName": "sports", "fullName": ""}"#)
        .await
        .expect("sports");
    let (refused, _) = until(&mut b_ev, |e| match e {
        Event::Error(s) if s.contains("--relay-max-channels") => Some(s.clone()),
        _ => None,
    })
    .await;
    assert!(
        refused.contains("alice asked this relay to serve a channel: it serves 1 channels"),
        "{refused}"
    );
    let Response::Groups(groups) = bob.execute_line("/gs").await.expect("/gs") else {
        panic!("groups")
    };
    let names: Vec<_> = groups.iter().map(|g| g.0.local_name.as_str()).collect();
    assert_eq!(names, ["news"], "only the first channel is served");
}
