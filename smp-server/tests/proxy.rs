//! Private routing between two real relays on 127.0.0.1: a client sends to a queue on relay B
//! only through its own relay A (PRXY / PFWD), A forwards with RFWD, B answers RRES, and the
//! recipient, connected to B directly, gets the message.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use simplex_crypto::{generate, KeyAlgorithm};
use smp_client::proxy::{proxy_session, send_via};
use smp_client::{ConnectOptions, Event, SmpClient};
use smp_proto::command::{NewQueue, QueueRequest};
use smp_proto::error::ProxyError;
use smp_proto::proxy::ServerAddr;
use smp_proto::{BrokerMsg, Command, CommandError, ErrorType};

fn dest(addr: std::net::SocketAddr, key_hash: &[u8; 32]) -> ServerAddr {
    ServerAddr {
        hosts: vec![addr.ip().to_string()],
        port: addr.port().to_string(),
        key_hash: key_hash.to_vec(),
    }
}

#[tokio::test]
async fn a_message_reaches_a_queue_on_another_relay_through_the_senders_relay() {
    let (a, kh_a) = common::relay(transport::SignAlgorithm::Ed25519).await;
    let (b, kh_b) = common::relay(transport::SignAlgorithm::Ed448).await;

    // The recipient makes a queue on B and subscribes.
    let (recipient, mut events) = SmpClient::connect(b.addr, &kh_b, ConnectOptions::default())
        .await
        .unwrap();
    let (rk_pub, rk) = generate(KeyAlgorithm::Ed25519).unwrap();
    let (dh_pub, dh) = generate(KeyAlgorithm::X25519).unwrap();
    let new = Command::New(NewQueue {
        rcv_auth_key: rk_pub,
        rcv_dh_key: dh_pub,
        basic_auth: None,
        subscribe: true,
        request: Some(QueueRequest::Messaging(None)),
        ntf_creds: None,
    });
    let BrokerMsg::Ids(ids) = recipient.call(Some(&rk), b"", &new).await.unwrap() else {
        panic!()
    };

    // The sender knows only A.
    let (sender, _) = SmpClient::connect(a.addr, &kh_a, ConnectOptions::default())
        .await
        .unwrap();
    let versions = smp_proto::version::SUPPORTED;
    let relay = proxy_session(&sender, &dest(b.addr, &kh_b), None, versions)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        relay.version, 17,
        "the proxy caps the destination's versions"
    );

    // The sender secures the queue (SKEY) and sends a signed message, both through A.
    let (sk_pub, sk) = generate(KeyAlgorithm::Ed25519).unwrap();
    let skey = Command::Skey(sk_pub);
    assert_eq!(
        send_via(&sender, &relay, Some(&sk), &ids.snd_id, &skey)
            .await
            .unwrap(),
        BrokerMsg::Ok
    );
    let send = Command::Send {
        notification: false,
        body: b"through the proxy".to_vec(),
    };
    assert_eq!(
        send_via(&sender, &relay, Some(&sk), &ids.snd_id, &send)
            .await
            .unwrap(),
        BrokerMsg::Ok
    );
    let Some(Event::Msg(rid, msg_id, enc)) = events.recv().await else {
        panic!()
    };
    assert_eq!(rid, ids.rcv_id);
    let key = simplex_crypto::cryptobox::shared_key(&dh, &ids.srv_dh_key).unwrap();
    let nonce = simplex_crypto::SbNonce(msg_id.try_into().unwrap());
    let padded = simplex_crypto::cryptobox::open(&key, &nonce, &enc).unwrap();
    assert!(simplex_codec::encoding::unpad(&padded)
        .unwrap()
        .ends_with(b"through the proxy"));

    // The destination's own refusals come back through both relays: an unsigned SEND to the
    // now secured queue is AUTH, and recipient commands may not be forwarded.
    let unsigned = send_via(&sender, &relay, None, &ids.snd_id, &send)
        .await
        .unwrap();
    assert_eq!(unsigned, BrokerMsg::Err(ErrorType::Auth));
    let sub = send_via(&sender, &relay, Some(&rk), &ids.rcv_id, &Command::Sub)
        .await
        .unwrap();
    assert_eq!(
        sub,
        BrokerMsg::Err(ErrorType::Cmd(CommandError::Prohibited))
    );

    // A proxy session that does not exist; a destination whose identity is not the address's.
    let bogus = smp_client::proxy::ProxiedRelay {
        session_id: vec![1; 32],
        ..relay.clone()
    };
    assert_eq!(
        send_via(&sender, &bogus, Some(&sk), &ids.snd_id, &send)
            .await
            .unwrap(),
        BrokerMsg::Err(ErrorType::Proxy(ProxyError::NoSession))
    );
    let wrong = proxy_session(&sender, &dest(b.addr, &kh_a), None, versions).await;
    assert!(
        matches!(wrong, Ok(Err(ErrorType::Proxy(ProxyError::Broker(_))))),
        "{wrong:?}"
    );
    a.stop();
    b.stop();
}

#[tokio::test]
async fn a_relay_with_a_password_proxies_only_for_who_knows_it() {
    let (identity, _) =
        transport::Identity::generate(transport::SignAlgorithm::Ed25519, "localhost").unwrap();
    let kh_a = identity.key_hash().unwrap();
    let config = smp_server::RelayConfig {
        create_password: Some(b"secret".to_vec()),
        ..smp_server::RelayConfig::default()
    };
    let a = common::start("127.0.0.1:0".parse().unwrap(), &identity, config)
        .await
        .unwrap();
    let (b, kh_b) = common::relay(transport::SignAlgorithm::Ed25519).await;
    let (sender, _) = SmpClient::connect(a.addr, &kh_a, ConnectOptions::default())
        .await
        .unwrap();
    let versions = smp_proto::version::SUPPORTED;
    let no = proxy_session(&sender, &dest(b.addr, &kh_b), Some(b"wrong"), versions)
        .await
        .unwrap();
    assert_eq!(no.unwrap_err(), ErrorType::Proxy(ProxyError::BasicAuth));
    let yes = proxy_session(&sender, &dest(b.addr, &kh_b), Some(b"secret"), versions)
        .await
        .unwrap();
    assert!(yes.is_ok());
    a.stop();
    b.stop();
}
