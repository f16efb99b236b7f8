//! Member keys and signed events in a channel (`chat_core::group_keys`), with a real relay:
//! alice owns the channel, bob serves it as its relay, cath subscribes with our client and
//! mallory with a bare agent. The relay keeps each member's key as given (the owner's with
//! its invitation, a subscriber's with its request) and announces the owner with hers; an
//! event that must be signed is refused unsigned or with a bad signature, taken signed; the
//! owner's signed profile change reaches the subscribers through the relay with its signature
//! (the binary forward) and is taken there after it is checked against her announced key.

mod common;

use agent::agent::{Agent, AgentEvent};
use chat_core::chat::{Event, Response};
use chat_core::group_keys::{key_text, parse_key, sign_element, verify};
use chat_core::protocol::{parse_chat_messages, ChatEvent, ChatMessage, Profile, B64};
use common::{agent_event, msg, open, owner_and_relay, profile, relay, until};
use simplex_crypto::keys::KeyAlgorithm;
use smp_client::ConnectOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_events_are_signed_and_checked() {
    // On the heap: the scenario's future is larger than a test thread's stack in debug builds.
    Box::pin(scenario()).await
}

/// The next element of event `event` a bare agent receives on `conn` (what came before it
/// acknowledged and passed over).
async fn next_element(
    agent: &Agent,
    events: &mut tokio::sync::mpsc::Receiver<AgentEvent>,
    conn: agent::agent::ConnId,
    event: &str,
) -> chat_core::protocol::ParsedMsg {
    loop {
        if let AgentEvent::Message {
            conn: c,
            msg_id,
            body,
            ..
        } = agent_event(events).await
        {
            if c != conn {
                continue;
            }
            agent.ack(c, msg_id).await.expect("ack");
            let found = parse_chat_messages(&body)
                .into_iter()
                .flatten()
                .find(|p| p.msg.event.name() == event);
            if let Some(p) = found {
                return p;
            }
        }
    }
}

/// A member's key as a chat reports it (`/_members`), by display name.
async fn key_of(chat: &chat_core::chat::Chat, group: i64, name: &str) -> Option<Vec<u8>> {
    let Response::Members(_, members) = chat
        .execute_line(&format!("/_members #{group}"))
        .await
        .expect("/_members")
    else {
        panic!("members")
    };
    members
        .into_iter()
        .find(|m| m.profile.display_name == name)
        .unwrap_or_else(|| panic!("{name} is no member"))
        .member_key
}

async fn scenario() {
    let (_relay, server) = relay().await;
    let dir = tempfile::tempdir().expect("tmp");
    let ((alice, mut a_ev), (bob, mut b_ev)) = owner_and_relay(
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
    let (served, _) = until(&mut b_ev, |e| match e {
        Event::RelayServing(g, _) => Some(g.group_id),
        _ => None,
    })
    .await;
    until(&mut a_ev, |e| {
        matches!(e, Event::GroupRelayUpdated(_, r)
            if r.status == chat_core::channels::RelayStatus::Active)
        .then_some(())
    })
    .await;
    // The relay has alice's key from her invitation: an Ed25519 key.
    let alice_key = key_of(&bob, served, "alice").await.expect("alice's key");
    assert_eq!(parse_key(&key_text(&alice_key)).expect("a key"), alice_key);

    // cath subscribes with our client: the relay has her key, she has alice's from the relay.
    let (cath, mut c_ev) = open(dir.path(), "cath", &server).await;
    cath.execute_line(&format!("/c {link}")).await.expect("/c");
    let (joined, _) = until(&mut c_ev, |e| match e {
        Event::UserJoinedGroup(g, _) => Some(g.group_id),
        _ => None,
    })
    .await;
    let cath_key = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            if let Some(k) = key_of(&bob, served, "cath").await {
                return k;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("cath's key at the relay");
    assert_eq!(parse_key(&key_text(&cath_key)).expect("a key"), cath_key);
    let announced = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            let Response::Members(_, members) = cath
                .execute_line(&format!("/_members #{joined}"))
                .await
                .expect("/_members")
            else {
                panic!("members")
            };
            if let Some(a) = members
                .into_iter()
                .find(|m| m.profile.display_name == "alice")
            {
                return a.member_key;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("alice announced to cath");
    assert_eq!(announced.as_ref(), Some(&alice_key));

    // mallory subscribes with a bare agent and a key of her own.
    let (public, private) =
        simplex_crypto::asymmetric::generate(KeyAlgorithm::Ed25519).expect("keys");
    let mallory_id = B64(vec![7; 12]);
    let (mallory, mut m_ev) = Agent::start(server, ConnectOptions::default());
    let data = mallory.read_address(&link).await.expect("the link's data");
    let link_data: serde_json::Value = serde_json::from_slice(&data.user_data).expect("JSON");
    let group_id = simplex_codec::base64url::decode(
        link_data["groupProfile"]["publicGroup"]["publicGroupId"]
            .as_str()
            .expect("the channel's id"),
    )
    .expect("base64url");
    // The link names alice as its owner with her key (`OwnerAuth`, checked against the link's
    // root key when read): the key her relay and her subscribers have.
    assert_eq!(data.owners.len(), 1, "{:?}", data.owners);
    assert_eq!(data.owners[0].1, alice_key);
    let relay_link = data.relays.first().expect("a relay").clone();
    let conn = mallory
        .join(
            &relay_link,
            &msg(ChatEvent::Member {
                profile: profile("mallory"),
                new_member_id: mallory_id.clone(),
                new_member_key: Some(key_text(&public.to_der())),
            }),
        )
        .await
        .expect("join");
    match agent_event(&mut m_ev).await {
        AgentEvent::Confirmation { conn: c, .. } if c == conn => mallory
            .allow(
                conn,
                &msg(ChatEvent::Info {
                    profile: profile("mallory"),
                }),
            )
            .await
            .expect("allow"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        key_of(&bob, served, "mallory").await,
        Some(public.to_der()),
        "the key mallory gave"
    );

    // Unsigned, signed with another key, signed for another channel: refused by the relay.
    mallory
        .send(conn, &msg(ChatEvent::GrpLeave))
        .await
        .expect("send");
    until(&mut b_ev, |e| {
        matches!(e, Event::Error(s) if s.contains("x.grp.leave from mallory is not signed"))
            .then_some(())
    })
    .await;
    let renamed = |name: &str| {
        msg(ChatEvent::Info {
            profile: Profile {
                display_name: name.into(),
                ..Profile::default()
            },
        })
    };
    let (_, other) = simplex_crypto::asymmetric::generate(KeyAlgorithm::Ed25519).expect("keys");
    let forged = sign_element(&other, &group_id, &mallory_id.0, &renamed("eve")).expect("sign");
    mallory.send(conn, &forged).await.expect("send");
    until(&mut b_ev, |e| {
        matches!(e, Event::Error(s) if s.contains("x.info from mallory: a bad signature"))
            .then_some(())
    })
    .await;
    let elsewhere =
        sign_element(&private, b"another channel", &mallory_id.0, &renamed("eve")).expect("sign");
    mallory.send(conn, &elsewhere).await.expect("send");
    until(&mut b_ev, |e| {
        matches!(e, Event::Error(s) if s.contains("x.info from mallory: a bad signature"))
            .then_some(())
    })
    .await;
    // Signed as it should be: taken.
    let good =
        sign_element(&private, &group_id, &mallory_id.0, &renamed("mallory2")).expect("sign");
    mallory.send(conn, &good).await.expect("send");
    until(&mut b_ev, |e| match e {
        Event::GroupMemberUpdated { to, .. } => {
            (to.profile.display_name == "mallory2").then_some(())
        }
        Event::Error(s) => panic!("{s}"),
        _ => None,
    })
    .await;

    // alice changes the channel's profile: signed by her, the API says so.
    let changed = alice
        .execute_line(&format!(
            r#"/_group_profile #{} {{"displayName": "news", "fullName": "News daily", "publicGroup": {}}}"#,
            channel.group_id,
            serde_json::to_string(&channel.profile.public_group).expect("JSON")
        ))
        .await
        .expect("/_group_profile");
    let json = chat_core::api::response(&alice, &changed);
    assert_eq!(json["type"], "groupUpdated", "{json}");
    assert_eq!(json["msgSigned"], true, "{json}");
    // mallory gets it from the relay as alice signed it (the binary forward), and the
    // signature is alice's over this channel and her member id.
    let forwarded = next_element(&mallory, &mut m_ev, conn, "x.grp.info").await;
    let header = forwarded.forward.expect("forwarded by the relay");
    let chat_core::protocol::FwdSender::Member(author, name) = header.sender else {
        panic!("not as the channel")
    };
    assert_eq!(name, "alice");
    let signed = forwarded.signed.expect("with alice's signature");
    assert!(verify(&alice_key, &group_id, &author, &signed));
    let ChatEvent::GrpInfo { group_profile } = ChatMessage::decode(&signed.body)
        .expect("the signed JSON")
        .event
    else {
        panic!("x.grp.info")
    };
    assert_eq!(group_profile.full_name, "News daily");
    // cath checked it against alice's key and took it.
    until(&mut c_ev, |e| match e {
        Event::GroupUpdatedBy { to, by, signed, .. } => {
            assert_eq!(by.profile.display_name, "alice");
            assert_eq!(*signed, Some(chat_core::group_keys::SigStatus::Verified));
            let json = chat_core::api::event(&cath, e).expect("an API event");
            assert_eq!(json["msgSigned"], "verified", "{json}");
            (to.profile.full_name == "News daily").then_some(())
        }
        Event::Error(s) => panic!("{s}"),
        _ => None,
    })
    .await;

    // A post alice signs at her asking (`sign=on`): hers marked signed, forwarded with her
    // signature, checked and marked at cath; its edit signed too. Not as the channel.
    let as_channel = alice
        .execute_line(&format!(
            r#"/_send #{}(as_group=on) sign=on json [{{"msgContent": {{"type": "text", "text": "x"}}}}]"#,
            channel.group_id
        ))
        .await;
    assert!(as_channel.is_err(), "{as_channel:?}");
    let sent = alice
        .execute_line(&format!(
            r#"/_send #{} sign=on json [{{"msgContent": {{"type": "text", "text": "signed post"}}}}]"#,
            channel.group_id
        ))
        .await
        .expect("/_send sign=on");
    let json = chat_core::api::response(&alice, &sent);
    let meta = &json["chatItems"][0]["chatItem"]["meta"];
    assert_eq!(meta["msgVerified"]["type"], "signed", "{json}");
    assert_eq!(meta["msgVerified"]["sigStatus"], "verified", "{json}");
    let item_id = meta["itemId"].as_i64().expect("its id");
    let post = next_element(&mallory, &mut m_ev, conn, "x.msg.new").await;
    let signed = post.signed.expect("with alice's signature");
    assert!(verify(&alice_key, &group_id, &author, &signed));
    let (received, _) = until(&mut c_ev, |e| match e {
        Event::GroupReceived(_, m, item) if m.profile.display_name == "alice" => {
            let json = chat_core::api::event(&cath, e).expect("an API event");
            Some((item.msg_signed.clone(), json))
        }
        Event::Error(s) => panic!("{s}"),
        _ => None,
    })
    .await;
    assert_eq!(received.0.as_deref(), Some("verified"));
    assert_eq!(
        received.1["chatItems"][0]["chatItem"]["meta"]["msgVerified"]["sigStatus"], "verified",
        "{}",
        received.1
    );
    alice
        .execute_line(&format!(
            r#"/_update item #{} {item_id} json {{"msgContent": {{"type": "text", "text": "signed post, edited"}}}}"#,
            channel.group_id
        ))
        .await
        .expect("/_update item");
    until(&mut c_ev, |e| match e {
        Event::GroupItemUpdated(_, _, item) => {
            assert_eq!(item.msg_signed.as_deref(), Some("verified"));
            Some(())
        }
        Event::Error(s) => panic!("{s}"),
        _ => None,
    })
    .await;
}

/// An owner's test of a chat relay (`x.grp.relay.test`, as the reference's owners make before
/// asking one): the relay answers in its acceptance with the challenge signed by its address
/// link's root key; a client that serves no channels refuses the request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_proves_it_holds_its_address() {
    Box::pin(relay_test()).await
}

async fn relay_test() {
    let (_relay, server) = relay().await;
    let dir = tempfile::tempdir().expect("tmp");
    let ((alice, mut a_ev), (bob, mut b_ev)) = owner_and_relay(
        dir.path(),
        &server,
        chat_core::channels::DEFAULT_MAX_CHANNELS,
    )
    .await;
    let Response::Address(bob_address) = bob.execute_line("/sa").await.expect("/sa") else {
        panic!("bob's address")
    };
    let bob_address = bob_address.short.expect("a short link");
    let (tester, mut t_ev) = Agent::start(server.clone(), ConnectOptions::default());
    let data = tester
        .read_address(&bob_address)
        .await
        .expect("the link's data");
    // The relay's address data reads as a contact's (`profile`) and as the reference's
    // `RelayAddressLinkData` (`relayProfile`).
    let json: serde_json::Value = serde_json::from_slice(&data.user_data).expect("JSON");
    assert_eq!(json["profile"]["displayName"], "bob_relay", "{json}");
    assert_eq!(json["relayProfile"]["displayName"], "bob_relay", "{json}");
    assert_eq!(json["relayProfile"]["fullName"], "", "{json}");
    let root = simplex_crypto::keys::PublicKey::from_der(&data.root_key).expect("a key");
    let challenge = B64(b"a random challenge of 32 bytes!!".to_vec());
    let test = msg(ChatEvent::GrpRelayTest {
        challenge: challenge.clone(),
        signature: None,
    });
    let conn = tester.join(&bob_address, &test).await.expect("join");
    let answer = match agent_event(&mut t_ev).await {
        AgentEvent::Confirmation { conn: c, info, .. } if c == conn => {
            ChatMessage::decode(&info).expect("the answer").event
        }
        other => panic!("{other:?}"),
    };
    let ChatEvent::GrpRelayTest {
        challenge: echoed,
        signature: Some(sig),
    } = answer
    else {
        panic!("{answer:?}")
    };
    assert_eq!(echoed, challenge);
    assert!(simplex_crypto::asymmetric::verify(
        &root,
        &challenge.0,
        &sig.0
    ));
    assert!(!simplex_crypto::asymmetric::verify(
        &root,
        b"another challenge",
        &sig.0
    ));
    // A longer "challenge" (what could pass for data the key signs) is refused.
    let long = msg(ChatEvent::GrpRelayTest {
        challenge: B64(vec![7; 33]),
        signature: None,
    });
    tester.join(&bob_address, &long).await.expect("join");
    until(&mut b_ev, |e| match e {
        Event::Error(s) => s
            .contains("x.grp.relay.test: a bad challenge")
            .then_some(()),
        _ => None,
    })
    .await;

    // alice serves no channels: her address refuses a test.
    let Response::AddressCreated(alice_address) = alice.execute_line("/ad").await.expect("/ad")
    else {
        panic!("alice's address")
    };
    let alice_address = alice_address.short.expect("a short link");
    tester.join(&alice_address, &test).await.expect("join");
    until(&mut a_ev, |e| match e {
        Event::Error(s) => s.contains("tested as a chat relay").then_some(()),
        _ => None,
    })
    .await;
}
