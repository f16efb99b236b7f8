//! A channel's subscribers announced to its owner and counted (`chat_core::channels`): alice
//! owns the channel, bob serves it as its relay, cath and dan subscribe. The relay announces
//! each subscriber to alice (`x.grp.mem.new` with its key) and tells her when one leaves (the
//! leave signed by the subscriber, checked by the relay and by alice); alice counts them and
//! writes the count into the channel link's data (`publicGroupData.publicMemberCount`), where
//! a new subscriber reads it; removing a subscriber counts too.

mod common;

use chat_core::chat::{Event, Response};
use common::{open, owner_and_relay, relay, until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_are_announced_and_counted() {
    // On the heap: the scenario's future is larger than a test thread's stack in debug builds.
    Box::pin(scenario()).await
}

/// The count in the channel link's data, as a reader of the link sees it.
async fn link_count(reader: &chat_core::chat::Chat, link: &str) -> Option<i64> {
    let plan = reader
        .execute_line(&format!("/_connect plan 1 {link}"))
        .await
        .expect("/_connect plan");
    let json = chat_core::api::response(reader, &plan);
    json["connectionPlan"]["groupLinkPlan"]["groupSLinkData_"]["publicGroupData"]
        ["publicMemberCount"]
        .as_i64()
}

/// The count the owner's chat reports (`groupSummary.publicMemberCount`).
async fn own_count(chat: &chat_core::chat::Chat, group: i64) -> Option<i64> {
    let r = chat
        .execute_line(&format!("/_members #{group}"))
        .await
        .expect("/_members");
    let json = chat_core::api::response(chat, &r);
    json["group"]["groupInfo"]["groupSummary"]["publicMemberCount"].as_i64()
}

/// The next count alice publishes.
async fn published(events: &mut tokio::sync::mpsc::Receiver<Event>) -> i64 {
    until(events, |e| match e {
        Event::ChannelCountPublished(_, n) => Some(*n),
        Event::Error(s) => panic!("{s}"),
        _ => None,
    })
    .await
    .0
}

async fn scenario() {
    let (_relay, server) = relay().await;
    let dir = tempfile::tempdir().expect("tmp");
    let ((alice, mut a_ev), (_bob, _b_ev)) = owner_and_relay(
        dir.path(),
        &server,
        chat_core::channels::DEFAULT_MAX_CHANNELS,
    )
    .await;
    let created = alice
        .execute_line(r#"/_public group 1 1 {"displayName": "news", "fullName": ""}"#)
        .await
        .expect("/_public group");
    let Response::PublicGroupCreated(channel, link, _) = created else {
        panic!("{created:?}")
    };
    let news = channel.group_id;
    until(&mut a_ev, |e| {
        matches!(e, Event::GroupRelayUpdated(_, r)
            if r.status == chat_core::channels::RelayStatus::Active)
        .then_some(())
    })
    .await;
    // Just alice so far, in the link's data and at alice.
    let (cath, mut c_ev) = open(dir.path(), "cath", &server).await;
    assert_eq!(link_count(&cath, &link).await, Some(1));
    assert_eq!(own_count(&alice, news).await, Some(1));

    // cath joins: announced to alice with her key, counted; cath keeps the count she read.
    cath.execute_line(&format!("/c {link}")).await.expect("/c");
    let (cath_at_alice, _) = until(&mut a_ev, |e| match e {
        Event::MemberAnnounced { member, by, .. } => {
            assert_eq!(by.role, chat_core::protocol::GroupMemberRole::Relay);
            Some(member.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(cath_at_alice.profile.display_name, "cath");
    assert!(cath_at_alice.member_key.is_some(), "announced with her key");
    assert_eq!(published(&mut a_ev).await, 2);
    assert_eq!(own_count(&alice, news).await, Some(2));
    let (joined, _) = until(&mut c_ev, |e| match e {
        Event::UserJoinedGroup(g, _) => Some(g.group_id),
        _ => None,
    })
    .await;
    let r = cath
        .execute_line(&format!("/_members #{joined}"))
        .await
        .expect("/_members");
    let json = chat_core::api::response(&cath, &r);
    assert_eq!(
        json["group"]["groupInfo"]["groupSummary"]["publicMemberCount"], 1,
        "what the link said when cath read it: {json}"
    );

    // dan reads 2 in the link, joins: 3.
    let (dan, _d_ev) = open(dir.path(), "dan", &server).await;
    assert_eq!(link_count(&dan, &link).await, Some(2));
    dan.execute_line(&format!("/c {link}")).await.expect("/c");
    assert_eq!(published(&mut a_ev).await, 3);
    // cath reads the link again (`/_get group link data #G`): 3 now.
    let r = cath
        .execute_line(&format!("/_get group link data #{joined}"))
        .await
        .expect("/_get group link data");
    let json = chat_core::api::response(&cath, &r);
    assert_eq!(json["type"], "groupInfo", "{json}");
    assert_eq!(json["groupSummary"]["publicMemberCount"], 3, "{json}");
    assert_eq!(
        json["groupInfo"]["groupSummary"]["publicMemberCount"], 3,
        "{json}"
    );

    // cath leaves: the relay tells alice (cath's leave is signed: the relay and alice check
    // it against cath's key), 2.
    cath.execute_line(&format!("/_leave #{joined}"))
        .await
        .expect("/_leave");
    let (signed, _) = until(&mut a_ev, |e| match e {
        Event::MemberLeft(_, m, signed) => (m.profile.display_name == "cath").then_some(*signed),
        Event::Error(s) => panic!("{s}"),
        _ => None,
    })
    .await;
    assert_eq!(signed, Some(chat_core::group_keys::SigStatus::Verified));
    assert_eq!(published(&mut a_ev).await, 2);

    // alice removes dan: 1.
    alice.execute_line("/rm news dan").await.expect("/rm");
    assert_eq!(published(&mut a_ev).await, 1);
    assert_eq!(link_count(&cath, &link).await, Some(1));
}
