//! Short-link data over real TLS: a contact address whose data another client reads (LGET)
//! and its owner updates (LSET), and a one-time invitation whose sender secures the queue and
//! reads the data in one step (LKEY), after which the data is gone.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use simplex_crypto::{generate, KeyAlgorithm, PrivateKey};
use smp_client::{ConnectOptions, SmpClient};
use smp_proto::command::{LinkData, NewQueue, QueueRequest};
use smp_proto::{BrokerMsg, Command, ErrorType};

mod common;

fn data(fixed: &[u8], user: &[u8]) -> LinkData {
    LinkData {
        fixed: fixed.to_vec(),
        user: user.to_vec(),
    }
}

/// NEW with client-chosen ids: the sender id must be SHA3-384(corrId)[..24].
async fn new_with_link(
    c: &SmpClient,
    rk: &PrivateKey,
    request: impl FnOnce(Vec<u8>) -> QueueRequest,
) -> smp_proto::response::QueueIds {
    let mut corr = [0u8; 24];
    simplex_crypto::random_bytes(&mut corr);
    let sid = simplex_crypto::digest::sha3_384(&corr).unwrap()[..24].to_vec();
    let new = Command::New(NewQueue {
        rcv_auth_key: simplex_crypto::public_key(rk).unwrap(),
        rcv_dh_key: generate(KeyAlgorithm::X25519).unwrap().0,
        basic_auth: None,
        subscribe: false,
        request: Some(request(sid.clone())),
        ntf_creds: None,
    });
    match c
        .call_with_corr_id(corr, Some(rk), b"", &new)
        .await
        .unwrap()
    {
        BrokerMsg::Ids(ids) => {
            assert_eq!(ids.snd_id, sid, "the client's sender id is kept");
            ids
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn contact_address_data_and_one_time_invitation_data() {
    let (relay, kh) = common::relay(transport::SignAlgorithm::Ed448).await;
    let connect = || SmpClient::connect(relay.addr, &kh, ConnectOptions::default());
    let (owner, _) = connect().await.unwrap();
    let (other, _) = connect().await.unwrap();

    // A contact address: the owner picks the link id.
    let rk = generate(KeyAlgorithm::Ed25519).unwrap().1;
    let lid = vec![9u8; 24];
    let ids = new_with_link(&owner, &rk, |sid| {
        QueueRequest::Contact(Some((lid.clone(), sid, data(b"fixed", b"profile v1"))))
    })
    .await;
    assert_eq!(ids.link_id.as_deref(), Some(&lid[..]));
    assert_eq!(
        other.call(None, &lid, &Command::Lget).await.unwrap(),
        BrokerMsg::Lnk(ids.snd_id.clone(), data(b"fixed", b"profile v1"))
    );
    // The owner updates the user part; the fixed part cannot change.
    let lset = |d| Command::Lset(lid.clone(), d);
    assert_eq!(
        owner
            .call(Some(&rk), &ids.rcv_id, &lset(data(b"fixed", b"profile v2")))
            .await
            .unwrap(),
        BrokerMsg::Ok
    );
    assert_eq!(
        owner
            .call(Some(&rk), &ids.rcv_id, &lset(data(b"other", b"x")))
            .await
            .unwrap(),
        BrokerMsg::Err(ErrorType::Auth)
    );
    assert_eq!(
        other.call(None, &lid, &Command::Lget).await.unwrap(),
        BrokerMsg::Lnk(ids.snd_id.clone(), data(b"fixed", b"profile v2"))
    );
    // Nobody but the owner can change it.
    let intruder = generate(KeyAlgorithm::Ed25519).unwrap().1;
    assert_eq!(
        other
            .call(Some(&intruder), &ids.rcv_id, &lset(data(b"fixed", b"spam")))
            .await
            .unwrap(),
        BrokerMsg::Err(ErrorType::Auth)
    );

    // A contact queue made without a link gets one later (LSET), but not another queue's.
    let rk3 = generate(KeyAlgorithm::Ed25519).unwrap().1;
    let new = Command::New(NewQueue {
        rcv_auth_key: simplex_crypto::public_key(&rk3).unwrap(),
        rcv_dh_key: generate(KeyAlgorithm::X25519).unwrap().0,
        basic_auth: None,
        subscribe: false,
        request: Some(QueueRequest::Contact(None)),
        ntf_creds: None,
    });
    let plain = match other.call(Some(&rk3), b"", &new).await.unwrap() {
        BrokerMsg::Ids(ids) => ids,
        other => panic!("{other:?}"),
    };
    let lset_on_plain = |l: &[u8], d| {
        let cmd = Command::Lset(l.to_vec(), d);
        let (other, rk3, rid) = (&other, &rk3, plain.rcv_id.clone());
        async move { other.call(Some(rk3), &rid, &cmd).await.unwrap() }
    };
    assert_eq!(
        lset_on_plain(&lid, data(b"fixed", b"hijack")).await,
        BrokerMsg::Err(ErrorType::Auth)
    );
    assert_eq!(
        other.call(None, &lid, &Command::Lget).await.unwrap(),
        BrokerMsg::Lnk(ids.snd_id.clone(), data(b"fixed", b"profile v2"))
    );
    let added = vec![7u8; 24];
    assert_eq!(
        lset_on_plain(&added, data(b"later", b"v1")).await,
        BrokerMsg::Ok
    );
    assert_eq!(
        owner.call(None, &added, &Command::Lget).await.unwrap(),
        BrokerMsg::Lnk(plain.snd_id.clone(), data(b"later", b"v1"))
    );

    // A one-time invitation: the relay picks the link id; LKEY secures and reads at once.
    let rk2 = generate(KeyAlgorithm::Ed25519).unwrap().1;
    let inv = new_with_link(&owner, &rk2, |sid| {
        QueueRequest::Messaging(Some((sid, data(b"invitation", b"user"))))
    })
    .await;
    let link = inv.link_id.clone().unwrap();
    // Invitation data is not readable without securing the queue.
    assert_eq!(
        other.call(None, &link, &Command::Lget).await.unwrap(),
        BrokerMsg::Err(ErrorType::Auth)
    );
    let (sk_pub, sk) = generate(KeyAlgorithm::Ed25519).unwrap();
    assert_eq!(
        other
            .call(Some(&sk), &link, &Command::Lkey(sk_pub.clone()))
            .await
            .unwrap(),
        BrokerMsg::Lnk(inv.snd_id.clone(), data(b"invitation", b"user"))
    );
    // Secured by that key: another sender's LKEY fails, a SEND signed with it works.
    let (k2_pub, k2) = generate(KeyAlgorithm::Ed25519).unwrap();
    assert_eq!(
        other
            .call(Some(&k2), &link, &Command::Lkey(k2_pub))
            .await
            .unwrap(),
        BrokerMsg::Err(ErrorType::Auth)
    );
    let send = Command::Send {
        notification: false,
        body: b"hello".to_vec(),
    };
    assert_eq!(
        other.call(Some(&sk), &inv.snd_id, &send).await.unwrap(),
        BrokerMsg::Ok
    );
    // The first message deletes the link data: the link is gone.
    assert_eq!(
        other
            .call(Some(&sk), &link, &Command::Lkey(sk_pub))
            .await
            .unwrap(),
        BrokerMsg::Err(ErrorType::Auth)
    );
    relay.stop();
}
