//! A hostile peer: a bare agent that connects to a chat like any contact and then sends what
//! no honest client sends - a file description with a part missing, parts of a file never
//! offered, malformed chat JSON, a file bigger than the recipient accepts, a legacy offer, call
//! events that fit no call (or a call with a key that is not one). The chat reports each with
//! a clear error, saves nothing and keeps working.

mod common;

use std::time::Duration;

use agent::agent::{Agent, AgentEvent, ConnId};
use chat_core::chat::{Chat, ChatConfig, ChatError, Event, Response};
use chat_core::protocol::{
    ChatEvent, ChatMessage, FileDescr, FileInvitation, MsgContainer, MsgContent, Profile, B64,
};
use common::relay;
use smp_client::ConnectOptions;
use tokio::sync::mpsc::Receiver;

async fn chat_event(events: &mut Receiver<Event>) -> Event {
    tokio::time::timeout(Duration::from_secs(20), events.recv())
        .await
        .expect("a chat event in time")
        .expect("events open")
}

async fn agent_event(events: &mut Receiver<AgentEvent>) -> AgentEvent {
    loop {
        let e = tokio::time::timeout(Duration::from_secs(20), events.recv())
            .await
            .expect("an agent event in time")
            .expect("events open");
        if !matches!(e, AgentEvent::Sent { .. } | AgentEvent::Delivered { .. }) {
            return e;
        }
    }
}

fn msg(id: Option<&[u8]>, event: ChatEvent) -> Vec<u8> {
    ChatMessage::new(id.map(|i| B64(i.to_vec())), event).encode()
}

fn offer(size: i64, with_descr: bool) -> ChatEvent {
    let mut c = MsgContainer::simple(MsgContent::File {
        text: String::new(),
    });
    c.file = Some(FileInvitation {
        file_name: "../../etc/passwd".into(),
        file_size: size,
        file_digest: None,
        file_conn_req: None,
        file_inline: None,
        file_descr: with_descr.then(|| FileDescr {
            file_descr_text: String::new(),
            file_descr_part_no: 0,
            file_descr_complete: false,
        }),
    });
    ChatEvent::MsgNew(c)
}

fn part(msg_id: &[u8], no: i64, complete: bool) -> ChatEvent {
    ChatEvent::MsgFileDescr {
        msg_id: B64(msg_id.to_vec()),
        file_descr: FileDescr {
            file_descr_text: "xftp: garbage\n".into(),
            file_descr_part_no: no,
            file_descr_complete: complete,
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_peer_gets_clear_errors_and_nothing_is_saved() {
    let (relay, server) = relay().await;
    let dir = tempfile::tempdir().expect("tmp");
    let folder = dir.path().join("files");
    std::fs::create_dir_all(&folder).expect("folder");
    let config = ChatConfig {
        db_prefix: dir.path().join("alice"),
        db_key: None,
        smp_server: server.clone(),
        connect: ConnectOptions::default(),
        xftp_servers: Vec::new(),
        files_folder: folder.clone(),
        max_file_size: 1 << 20,
        auto_accept_size: 0,
        event_queue: chat_core::chat::DEFAULT_EVENT_QUEUE,
        chat_relay: false,
        relay_address_server: None,
        relay_max_channels: chat_core::channels::DEFAULT_MAX_CHANNELS,
    };
    let alice_profile = Profile {
        display_name: "alice".into(),
        full_name: "Alice".into(),
        ..Profile::default()
    };
    let (alice, mut events) = Chat::open(&config, Some(alice_profile))
        .await
        .expect("chat");
    let (mallory, mut mallory_events) = Agent::start(server, ConnectOptions::default());

    // Mallory connects like anyone.
    let Response::Invitation { link, .. } = alice.execute_line("/c").await.expect("/c") else {
        panic!("an invitation")
    };
    let info = msg(
        None,
        ChatEvent::Info {
            profile: Profile {
                display_name: "mallory".into(),
                full_name: String::new(),
                ..Profile::default()
            },
        },
    );
    let conn: ConnId = mallory.join(&link, &info).await.expect("join");
    assert!(matches!(
        agent_event(&mut mallory_events).await,
        AgentEvent::Info { .. }
    ));
    assert!(matches!(
        agent_event(&mut mallory_events).await,
        AgentEvent::Connected { .. }
    ));
    // A contact from mallory's confirmation with its profile, then connected.
    assert!(
        matches!(chat_event(&mut events).await, Event::ContactConnecting(c) if c.local_name == "mallory")
    );
    assert!(
        matches!(chat_event(&mut events).await, Event::ContactConnected(c) if c.local_name == "mallory")
    );
    common::info_items(&mut events).await;

    // A description part 2 after none: the file fails, and stays failed.
    mallory
        .send(conn, &msg(Some(b"file-one-id!"), offer(100, true)))
        .await
        .expect("send");
    let Event::FileOffered { file_id, name, .. } = chat_event(&mut events).await else {
        panic!("an offer")
    };
    assert_eq!(
        name, "passwd",
        "the received name is sanitized to one component"
    );
    mallory
        .send(conn, &msg(None, part(b"file-one-id!", 2, true)))
        .await
        .expect("send");
    let Event::Error(e) = chat_event(&mut events).await else {
        panic!("an error")
    };
    assert!(e.contains("lost or reordered"), "{e}");
    let r = alice.execute_line(&format!("/fr {file_id}")).await;
    assert!(
        matches!(r, Err(ChatError::File(ref e)) if e.contains("failed")),
        "{r:?}"
    );

    // A part for a file never offered; malformed JSON; an offer without XFTP.
    mallory
        .send(conn, &msg(None, part(b"never-offered", 1, true)))
        .await
        .expect("send");
    assert!(
        matches!(chat_event(&mut events).await, Event::Error(e) if e.contains("never offered"))
    );
    mallory
        .send(
            conn,
            br#"{"v":"1","event":"x.msg.new","params":{"content":7}}"#,
        )
        .await
        .expect("send");
    assert!(
        matches!(chat_event(&mut events).await, Event::Error(e) if e.contains("content")),
        "malformed content is reported"
    );
    mallory
        .send(conn, &msg(Some(b"legacy-offer"), offer(100, false)))
        .await
        .expect("send");
    assert!(
        matches!(chat_event(&mut events).await, Event::Error(e) if e.contains("legacy")),
        "legacy offers are refused"
    );

    // Bigger than alice accepts: refused at /fr with the sizes.
    mallory
        .send(conn, &msg(Some(b"huge-file-id"), offer(5 << 30, true)))
        .await
        .expect("send");
    let Event::FileOffered { file_id, .. } = chat_event(&mut events).await else {
        panic!("an offer")
    };
    let r = alice.execute_line(&format!("/fr {file_id}")).await;
    assert!(
        matches!(r, Err(ChatError::File(ref e)) if e.contains("5.0 GiB, more than the 1.0 MiB")),
        "{r:?}"
    );

    // A flood of group invitations: 20 are kept (until joined or deleted), the rest refused.
    for i in 0..21 {
        let inv = format!(
            r#"{{"v":"1","event":"x.grp.inv","params":{{"groupInvitation":{{"fromMember":{{"memberId":"AQID","memberRole":"admin"}},"invitedMember":{{"memberId":"BAUG","memberRole":"member"}},"connRequest":"https://simplex.chat/invitation#/?v=2","groupProfile":{{"displayName":"g{i}","fullName":""}}}}}}}}"#
        );
        mallory.send(conn, inv.as_bytes()).await.expect("send");
    }
    for i in 0..21 {
        match chat_event(&mut events).await {
            Event::GroupInvited { .. } if i < 20 => {}
            Event::Error(e) if i == 20 => {
                assert!(e.contains("20 invitations not joined yet"), "{e}")
            }
            other => panic!("invitation {i}: {other:?}"),
        }
    }

    // A voice message while alice does not allow mallory voice messages: not kept, an item
    // says so (the reference's "Voice messages: received, prohibited").
    let set = alice
        .execute_line("/set voice @mallory no")
        .await
        .expect("/set");
    assert!(
        matches!(set, Response::ContactPrefsUpdated { .. }),
        "{set:?}"
    );
    match chat_event(&mut events).await {
        Event::InfoItem(_, item) => assert_eq!(item.content.text_shown(), "Voice messages: off"),
        other => panic!("the feature's item, got {other:?}"),
    }
    mallory
        .send(
            conn,
            &msg(
                Some(b"voice-msg-01"),
                ChatEvent::MsgNew(MsgContainer::simple(MsgContent::Voice {
                    text: String::new(),
                    duration: 3,
                })),
            ),
        )
        .await
        .expect("send");
    match chat_event(&mut events).await {
        Event::InfoItem(_, item) => {
            assert_eq!(
                item.content.text_shown(),
                "Voice messages: received, prohibited"
            );
            assert_eq!(item.info.expect("info")["type"], "rcvChatFeatureRejected");
        }
        other => panic!("the rejection, got {other:?}"),
    }

    // Call events that fit no call: an error line each, nothing changes.
    let session = chat_core::calls::WebRtcSession {
        rtc_session: "{}".into(),
        rtc_ice_candidates: "[]".into(),
    };
    let video = chat_core::calls::CallType::DEFAULT;
    let bogus_offer = ChatEvent::CallOffer {
        call_id: B64(vec![7; 16]),
        offer: chat_core::calls::CallOffer {
            call_type: video,
            rtc_session: session.clone(),
            call_dh_pub_key: None,
        },
    };
    mallory
        .send(conn, &msg(None, bogus_offer))
        .await
        .expect("send");
    match chat_event(&mut events).await {
        Event::Error(e) => assert_eq!(e, "x.call.offer: no current call"),
        other => panic!("an error line, got {other:?}"),
    }
    // A call whose key is not a key: offered, not encrypted (no shared key); its end under
    // another call's id changes nothing, an answer out of turn neither.
    let inv = ChatEvent::CallInv {
        call_id: B64(vec![1; 16]),
        invitation: chat_core::calls::CallInvitation {
            call_type: video,
            call_dh_pub_key: Some(B64(b"not a key".to_vec())),
        },
    };
    mallory.send(conn, &msg(None, inv)).await.expect("send");
    match chat_event(&mut events).await {
        Event::Call(chat_core::calls::CallEvent::Invitation(i)) => {
            assert!(i.shared_key.is_none(), "no key agreed with a bad key")
        }
        other => panic!("the invitation, got {other:?}"),
    }
    assert!(matches!(chat_event(&mut events).await, Event::InfoItem(..)));
    let wrong_end = ChatEvent::CallEnd {
        call_id: B64(vec![2; 16]),
    };
    mallory
        .send(conn, &msg(None, wrong_end))
        .await
        .expect("send");
    match chat_event(&mut events).await {
        Event::Error(e) => assert_eq!(e, "x.call.end: wrong contact or callId"),
        other => panic!("an error line, got {other:?}"),
    }
    let answer = ChatEvent::CallAnswer {
        call_id: B64(vec![1; 16]),
        answer: chat_core::calls::CallAnswer {
            rtc_session: session,
        },
    };
    mallory.send(conn, &msg(None, answer)).await.expect("send");
    match chat_event(&mut events).await {
        Event::Error(e) => assert_eq!(e, "x.call.answer: wrong call state invitationReceived"),
        other => panic!("an error line, got {other:?}"),
    }
    // The call is still there to be declined.
    let mallory_id = alice
        .execute_line("/_call get")
        .await
        .map(|r| match r {
            Response::CallInvitations(list) => list.first().map(|i| i.contact.contact_id),
            _ => None,
        })
        .expect("/_call get")
        .expect("the invitation is kept");
    let declined = alice
        .execute_line(&format!("/_call reject @{mallory_id}"))
        .await
        .expect("reject");
    assert!(matches!(declined, Response::Ok), "{declined:?}");
    match chat_event(&mut events).await {
        Event::Updated(_, item) => {
            assert_eq!(item.content.text_shown(), "incoming call: rejected")
        }
        other => panic!("the call's item, got {other:?}"),
    }

    // Still a working chat: a message goes through, and nothing was written.
    mallory
        .send(
            conn,
            &msg(
                Some(b"plain-text-1"),
                ChatEvent::MsgNew(MsgContainer::simple(MsgContent::text("hi"))),
            ),
        )
        .await
        .expect("send");
    assert!(matches!(
        chat_event(&mut events).await,
        Event::Received(_, item) if item.content == MsgContent::text("hi")
    ));
    assert_eq!(std::fs::read_dir(&folder).expect("folder").count(), 0);
    relay.stop();
}
