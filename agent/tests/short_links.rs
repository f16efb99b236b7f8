//! Short links over a real relay on 127.0.0.1: a one-time invitation joined by its short link
//! (LKEY secures the queue and returns the encrypted invitation; the link then works no more),
//! and a contact address looked at (LGET) and requested by its short link.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use agent::agent::{Agent, AgentEvent};
use smp_client::ConnectOptions;

mod common;
use common::{next, relay};

#[tokio::test(flavor = "multi_thread")]
async fn an_invitation_joined_by_its_short_link_and_an_address_requested_by_its_short_link() {
    let (relay, server) = relay().await;
    let (alice, mut ae) = Agent::start(server.clone(), ConnectOptions::default());
    let (bob, mut be) = Agent::start(server.clone(), ConnectOptions::default());
    let (carol, _ce) = Agent::start(server.clone(), ConnectOptions::default());

    // The invitation: full and short link; the short one has the relay's link id and key.
    let (ca, full, short) = alice
        .create_invitation_with_short_link(b"alice's profile")
        .await
        .unwrap();
    assert!(full.starts_with("simplex:/invitation#/?v="), "{full}");
    assert!(short.starts_with("https://127.0.0.1/i#"), "{short}");
    assert!(short.contains("?p=") && short.contains("&c="), "{short}");
    // An invitation cannot be looked at without being used.
    assert!(carol.resolve_address(&short).await.is_err());

    let cb = bob.join(&short, b"bob").await.unwrap();
    assert_eq!(
        next(&mut ae).await,
        AgentEvent::Confirmation {
            conn: ca,
            info: b"bob".to_vec()
        }
    );
    alice.allow(ca, b"alice").await.unwrap();
    assert_eq!(next(&mut ae).await, AgentEvent::Connected { conn: ca });
    assert!(matches!(next(&mut be).await, AgentEvent::Info { .. }));
    assert_eq!(next(&mut be).await, AgentEvent::Connected { conn: cb });
    bob.send(cb, b"joined by a short link").await.unwrap();
    assert!(matches!(
        next(&mut ae).await,
        AgentEvent::Message { ref body, integrity: None, .. } if body == b"joined by a short link"
    ));
    // Used once: the queue is secured, so a second party cannot take it.
    let again = carol.join(&short, b"carol").await;
    assert!(again.is_err(), "{again:?}");

    // The address: anyone can read it and its user data, then ask to connect.
    let (address, full, short) = alice
        .create_address_with_short_link(b"alice's address profile")
        .await
        .unwrap();
    assert!(short.starts_with("https://127.0.0.1/a#"), "{short}");
    let (resolved, user_data) = carol.resolve_address(&short).await.unwrap();
    assert_eq!(resolved, full);
    assert_eq!(user_data, b"alice's address profile");
    carol.join(&short, b"carol").await.unwrap();
    loop {
        match next(&mut ae).await {
            AgentEvent::Request {
                address: a, info, ..
            } => {
                assert_eq!((a, info.as_slice()), (address, &b"carol"[..]));
                break;
            }
            AgentEvent::Message { .. } => alice.ack(ca, 2).await.unwrap(),
            other => panic!("unexpected {other:?}"),
        }
    }

    // A link whose key was changed finds no data (contact: another link id) or data that does
    // not match (the key is the hash of the data).
    let key_at = short.find('#').unwrap() + 10;
    let mut bad = short.clone().into_bytes();
    bad[key_at] = if bad[key_at] == b'A' { b'B' } else { b'A' };
    let bad = String::from_utf8(bad).unwrap();
    assert!(carol.resolve_address(&bad).await.is_err());
    relay.stop();
}

/// An address made without a short link gets one later (the reference's `setConnShortLink`):
/// the link resolves to the address as made, with its data; asked again, the same link with new
/// data; requests come by it; another address's link or an invitation is refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_short_link_added_to_an_address_made_without_one() {
    let (relay, server) = relay().await;
    let (alice, mut ae) = Agent::start(server.clone(), ConnectOptions::default());
    let (carol, _ce) = Agent::start(server.clone(), ConnectOptions::default());
    let data = r#"{"type":"group","groupLinkId":"AAAA"}"#;
    let (address, full, none) = alice.create_address_with_data(data, None).await.unwrap();
    assert!(none.is_empty(), "no short link asked for: {none}");
    let (other, other_full) = alice.create_address().await.unwrap();
    let kind = agent::links::ShortLinkKind::Group;
    let refused = alice
        .add_short_link(address, &other_full, b"v1", kind)
        .await;
    assert!(refused.is_err(), "{refused:?}");
    let refused = alice
        .add_short_link(other, &full, b"v1", agent::links::ShortLinkKind::Invitation)
        .await;
    assert!(refused.is_err(), "{refused:?}");

    let short = alice
        .add_short_link(address, &full, b"v1", kind)
        .await
        .unwrap();
    assert!(short.starts_with("https://127.0.0.1/g#"), "{short}");
    let read = carol.read_address(&short).await.unwrap();
    assert_eq!(
        (read.link.as_str(), read.user_data.as_slice()),
        (full.as_str(), &b"v1"[..])
    );
    assert!(
        read.link.contains("data="),
        "the link's own data is kept: {}",
        read.link
    );
    let again = alice
        .add_short_link(address, &full, b"v2", kind)
        .await
        .unwrap();
    assert_eq!(again, short);
    assert_eq!(carol.read_address(&short).await.unwrap().user_data, b"v2");

    carol.join(&short, b"carol").await.unwrap();
    match next(&mut ae).await {
        AgentEvent::Request {
            address: a, info, ..
        } => {
            assert_eq!((a, info.as_slice()), (address, &b"carol"[..]));
        }
        other => panic!("unexpected {other:?}"),
    }
    relay.stop();
}

/// A link on a preset relay names only the host, as the reference clients' do; an agent that
/// knows the preset reads it, one that does not says why it cannot.
#[tokio::test(flavor = "multi_thread")]
async fn short_links_of_preset_relays_name_only_the_host() {
    let (relay, server) = relay().await;
    let (alice, mut ae) = Agent::start(server.clone(), ConnectOptions::default());
    let (bob, mut be) = Agent::start(server.clone(), ConnectOptions::default());
    let (carol, _ce) = Agent::start(server.clone(), ConnectOptions::default());
    alice.set_link_presets(std::slice::from_ref(&server));
    bob.set_link_presets(std::slice::from_ref(&server));

    let (ca, full, short) = alice
        .create_invitation_with_short_link(b"alice")
        .await
        .unwrap();
    assert!(short.starts_with("https://127.0.0.1/i#"), "{short}");
    assert!(!short.contains('?'), "host only: {short}");
    // The full link keeps the whole address.
    assert!(full.contains(server.port.as_str()), "{full}");

    let err = carol.join(&short, b"carol").await.unwrap_err();
    assert!(err.to_string().contains("not a preset relay here"), "{err}");
    let cb = bob.join(&short, b"bob").await.unwrap();
    assert!(matches!(next(&mut ae).await, AgentEvent::Confirmation { conn, .. } if conn == ca));
    alice.allow(ca, b"alice").await.unwrap();
    assert_eq!(next(&mut ae).await, AgentEvent::Connected { conn: ca });
    assert!(matches!(next(&mut be).await, AgentEvent::Info { .. }));
    assert_eq!(next(&mut be).await, AgentEvent::Connected { conn: cb });

    // An address too: read back and requested through the preset.
    let (_, full, short) = alice
        .create_address_with_short_link(b"the address")
        .await
        .unwrap();
    assert!(
        short.starts_with("https://127.0.0.1/a#") && !short.contains('?'),
        "{short}"
    );
    let (resolved, data) = bob.resolve_address(&short).await.unwrap();
    assert_eq!((resolved, data.as_slice()), (full, &b"the address"[..]));
    assert!(carol.resolve_address(&short).await.is_err());
    relay.stop();
}

/// A channel's link: it takes no requests itself (`direct` off), and its owner changes its
/// data with LSET - the relays that take requests for it, new user data - keeping the link,
/// also after a restart from the store. Requests to it by the link are refused with the reason.
#[tokio::test(flavor = "multi_thread")]
async fn a_channel_link_names_its_relays_and_its_owner_changes_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("owner.db");
    let (relay, server) = relay().await;
    let open = || agent::store::Store::open(&db, None).unwrap();
    let (owner, _oe) = Agent::open(server.clone(), ConnectOptions::default(), open())
        .await
        .unwrap();
    let (relay_client, _re) = Agent::start(server.clone(), ConnectOptions::default());
    let (reader, _rd) = Agent::start(server.clone(), ConnectOptions::default());

    let (conn, full, short) = owner
        .create_address_link(b"v1", agent::links::ShortLinkKind::Channel, false)
        .await
        .unwrap();
    assert!(short.starts_with("https://127.0.0.1/c#"), "{short}");
    let data = reader.read_address(&short).await.unwrap();
    assert_eq!(
        (data.link.as_str(), data.user_data.as_slice(), data.direct),
        (full.as_str(), &b"v1"[..], false)
    );
    assert!(data.relays.is_empty());
    // Not by the link itself.
    let err = reader.join(&short, b"me").await.unwrap_err();
    assert!(err.to_string().contains("only through its relays"), "{err}");

    // A relay's own link, then the channel's data naming it.
    let (_, _, relay_link) = relay_client
        .create_address_link(b"relay", agent::links::ShortLinkKind::Relay, true)
        .await
        .unwrap();
    assert!(
        relay_link.starts_with("https://127.0.0.1/r#"),
        "{relay_link}"
    );
    owner
        .set_link_data(conn, b"v2", std::slice::from_ref(&relay_link))
        .await
        .unwrap();
    let data = reader.read_address(&short).await.unwrap();
    assert_eq!(data.user_data, b"v2");
    assert_eq!(data.relays, vec![relay_link.clone()]);
    assert_eq!(data.link, full);
    assert!(data.owners.is_empty());

    // An owner named in the data (`OwnerAuth`, signed by the link's root key): its reader
    // gets the id and the key, checked. A key that is none is refused before anything is
    // written.
    let (owner_key, _) =
        simplex_crypto::asymmetric::generate(simplex_crypto::keys::KeyAlgorithm::Ed25519).unwrap();
    let owners = vec![(b"owner id".to_vec(), owner_key.to_der())];
    owner
        .set_link_data_with_owners(conn, b"v2", std::slice::from_ref(&relay_link), &owners)
        .await
        .unwrap();
    let data = reader.read_address(&short).await.unwrap();
    assert_eq!(data.owners, owners);
    let bad = [(b"x".to_vec(), b"not a key".to_vec())];
    assert!(owner
        .set_link_data_with_owners(conn, b"v9", &[], &bad)
        .await
        .is_err());
    let (x25519, _) =
        simplex_crypto::asymmetric::generate(simplex_crypto::keys::KeyAlgorithm::X25519).unwrap();
    let not_ed25519 = [(b"x".to_vec(), x25519.to_der())];
    assert!(owner
        .set_link_data_with_owners(conn, b"v9", &[], &not_ed25519)
        .await
        .is_err());
    assert_eq!(reader.read_address(&short).await.unwrap().user_data, b"v2");

    // After a restart the owner still can.
    owner.close().await;
    drop(owner);
    let (owner, _oe) = Agent::open(server.clone(), ConnectOptions::default(), open())
        .await
        .unwrap();
    owner.set_link_data(conn, b"v3", &[]).await.unwrap();
    let data = reader.read_address(&short).await.unwrap();
    assert_eq!(
        (data.user_data.as_slice(), data.relays.len()),
        (&b"v3"[..], 0)
    );
    // Only an address of ours with a short link can be changed.
    let (plain, _) = owner.create_address().await.unwrap();
    assert!(owner.set_link_data(plain, b"x", &[]).await.is_err());
    relay.stop();
}

/// An invitation's short link data changes until the invitation is used (the reference's
/// `setConnShortLink` of an invitation: a chat's incognito profile chosen after the link was
/// made), also after a restart; its joiner reads the data as it was then; once used, the relay
/// refuses a change (the queue is secured).
#[tokio::test(flavor = "multi_thread")]
async fn an_invitation_link_data_changes_until_it_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("alice.db");
    let (relay, server) = relay().await;
    let open = || agent::store::Store::open(&db, None).unwrap();
    let (alice, _ae) = Agent::open(server.clone(), ConnectOptions::default(), open())
        .await
        .unwrap();
    let (bob, _be) = Agent::start(server.clone(), ConnectOptions::default());

    let (ca, _, short) = alice
        .create_invitation_with_short_link(b"alice")
        .await
        .unwrap();
    alice
        .set_link_data(ca, b"a random profile", &[])
        .await
        .unwrap();
    // An invitation names no relays.
    let (_, _, relay_link) = bob
        .create_address_link(b"relay", agent::links::ShortLinkKind::Relay, true)
        .await
        .unwrap();
    let err = alice
        .set_link_data(ca, b"x", std::slice::from_ref(&relay_link))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("names no relays"), "{err}");
    alice.close().await;
    drop(alice);
    let (alice, _ae) = Agent::open(server.clone(), ConnectOptions::default(), open())
        .await
        .unwrap();
    alice.set_link_data(ca, b"alice again", &[]).await.unwrap();

    let (_, data) = bob.join_with_data(&short, b"bob").await.unwrap();
    assert_eq!(data, b"alice again");
    let err = alice.set_link_data(ca, b"too late", &[]).await.unwrap_err();
    assert!(err.to_string().to_lowercase().contains("auth"), "{err}");
    relay.stop();
}

/// An invitation's short link read before it is joined (the reference's plan of it): LKEY
/// secures its queue with a key the reader keeps - reading again gives the data again, no one
/// else can read or join it, and the reader joins it later by its full link (as a prepared
/// contact does), after a restart too, or by its short link; the key is forgotten once joined.
#[tokio::test(flavor = "multi_thread")]
async fn an_invitation_read_before_it_is_joined() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bob.db");
    let (relay, server) = relay().await;
    let open = || agent::store::Store::open(&db, None).unwrap();
    let (alice, mut ae) = Agent::start(server.clone(), ConnectOptions::default());
    let (bob, _be) = Agent::open(server.clone(), ConnectOptions::default(), open())
        .await
        .unwrap();
    let (carol, _ce) = Agent::start(server.clone(), ConnectOptions::default());

    let (ca, full, short) = alice
        .create_invitation_with_short_link(b"alice's profile")
        .await
        .unwrap();
    assert_eq!(
        bob.read_invitation(&short).await.unwrap(),
        b"alice's profile"
    );
    assert_eq!(
        bob.read_invitation(&short).await.unwrap(),
        b"alice's profile"
    );
    // Only an invitation is read so.
    let (_, _, address) = alice
        .create_address_with_short_link(b"address")
        .await
        .unwrap();
    assert!(bob.read_invitation(&address).await.is_err());
    // Secured for bob: carol can neither read nor join it.
    let err = carol.read_invitation(&short).await.unwrap_err();
    assert!(err.to_string().to_lowercase().contains("auth"), "{err}");
    assert!(carol.join(&full, b"carol").await.is_err());

    // bob restarts and joins by the full link: the key kept secures nothing new, it is used.
    bob.close().await;
    drop(bob);
    let (bob, mut be) = Agent::open(server.clone(), ConnectOptions::default(), open())
        .await
        .unwrap();
    let cb = bob.join(&full, b"bob").await.unwrap();
    assert_eq!(
        next(&mut ae).await,
        AgentEvent::Confirmation {
            conn: ca,
            info: b"bob".to_vec()
        }
    );
    alice.allow(ca, b"alice").await.unwrap();
    assert_eq!(next(&mut ae).await, AgentEvent::Connected { conn: ca });
    assert!(matches!(next(&mut be).await, AgentEvent::Info { .. }));
    assert_eq!(next(&mut be).await, AgentEvent::Connected { conn: cb });
    bob.send(cb, b"read, then joined").await.unwrap();
    assert!(matches!(
        next(&mut ae).await,
        AgentEvent::Message { ref body, .. } if body == b"read, then joined"
    ));
    bob.close().await;
    drop(bob);
    // Joined: the key is not kept any more.
    let link_id = agent::links::ShortLink::parse(&short)
        .unwrap()
        .link_id
        .unwrap();
    assert!(open().inv_short_link(&link_id).unwrap().is_none());

    // Read, then joined by its short link (an agent without a store).
    let (ca2, _, short2) = alice
        .create_invitation_with_short_link(b"alice again")
        .await
        .unwrap();
    assert_eq!(
        carol.read_invitation(&short2).await.unwrap(),
        b"alice again"
    );
    let (_, data) = carol.join_with_data(&short2, b"carol").await.unwrap();
    assert_eq!(data, b"alice again");
    loop {
        match next(&mut ae).await {
            AgentEvent::Confirmation { conn, info } => {
                assert_eq!((conn, info.as_slice()), (ca2, &b"carol"[..]));
                break;
            }
            AgentEvent::Message { .. } => alice.ack(ca, 2).await.unwrap(),
            other => panic!("unexpected {other:?}"),
        }
    }
    relay.stop();
}
