//! Commands and relay messages at every version they change at: encode, parse back, and the
//! downgrades the reference applies for older clients.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use simplex_crypto::{generate, KeyAlgorithm, PublicKey};
use smp_proto::command::{LinkData, NewQueue, QueueRequest};
use smp_proto::response::QueueIds;
use smp_proto::{BrokerMsg, Command, CommandError, ErrorType};

fn key(alg: KeyAlgorithm) -> PublicKey {
    generate(alg).unwrap().0
}

fn link() -> LinkData {
    LinkData {
        fixed: vec![1; 300],
        user: vec![2; 10],
    }
}

#[test]
fn new_round_trips_at_each_version() {
    let base = NewQueue {
        rcv_auth_key: key(KeyAlgorithm::Ed25519),
        rcv_dh_key: key(KeyAlgorithm::X25519),
        basic_auth: Some(b"secret".to_vec()),
        subscribe: true,
        request: Some(QueueRequest::Contact(Some((
            vec![3; 24],
            vec![4; 24],
            link(),
        )))),
        ntf_creds: Some((key(KeyAlgorithm::Ed448), key(KeyAlgorithm::X25519))),
    };
    let at = |v: u16, expect: NewQueue| {
        let bytes = Command::New(base.clone()).encode(v).unwrap();
        assert_eq!(Command::parse(v, &bytes), Ok(Command::New(expect)), "v{v}");
    };
    at(18, base.clone());
    at(17, base.clone());
    // v15-16: no notifier credentials.
    at(
        15,
        NewQueue {
            ntf_creds: None,
            ..base.clone()
        },
    );
    // v9-14: only whether the sender may secure the queue (contact: no).
    at(
        9,
        NewQueue {
            ntf_creds: None,
            request: Some(QueueRequest::Contact(None)),
            ..base.clone()
        },
    );
    // v6-8: 'A' + password, then the mode.
    at(
        6,
        NewQueue {
            ntf_creds: None,
            request: None,
            ..base.clone()
        },
    );

    // The minimal v17+ messaging queue of the spec: "NEW " rk dh '0' 'S' '1' 'M' '0' '0'.
    let minimal = NewQueue {
        basic_auth: None,
        request: Some(QueueRequest::Messaging(None)),
        ntf_creds: None,
        ..base.clone()
    };
    let bytes = Command::New(minimal).encode(18).unwrap();
    assert!(bytes.ends_with(b"0S1M00"));

    // A password with a forbidden character, an X448 auth key, an Ed25519 DH key: syntax.
    for bad in [
        NewQueue {
            basic_auth: Some(b"a:b".to_vec()),
            ..base.clone()
        },
        NewQueue {
            rcv_auth_key: key(KeyAlgorithm::X448),
            ..base.clone()
        },
        NewQueue {
            rcv_dh_key: key(KeyAlgorithm::Ed25519),
            ..base.clone()
        },
    ] {
        let bytes = Command::New(bad).encode(18).unwrap();
        assert_eq!(
            Command::parse(18, &bytes),
            Err(ErrorType::Cmd(CommandError::Syntax))
        );
    }
}

#[test]
fn other_commands_round_trip_and_trailing_bytes_are_syntax_errors() {
    let cmds = [
        Command::Sub,
        Command::Key(key(KeyAlgorithm::Ed25519)),
        Command::Rkey(vec![key(KeyAlgorithm::Ed25519), key(KeyAlgorithm::X25519)]),
        Command::Lset(vec![9; 24], link()),
        Command::Ldel,
        Command::Nkey(key(KeyAlgorithm::Ed25519), key(KeyAlgorithm::X25519)),
        Command::Ack(vec![7; 24]),
        Command::Send {
            notification: true,
            body: b"body with spaces".to_vec(),
        },
        Command::Skey(key(KeyAlgorithm::Ed448)),
        Command::Lkey(key(KeyAlgorithm::Ed25519)),
        Command::Lget,
        Command::Pfwd(18, key(KeyAlgorithm::X25519), vec![5; 100]),
        Command::Rfwd(vec![6; 50]),
        Command::Ping,
    ];
    for c in cmds {
        let bytes = c.encode(18).unwrap();
        assert_eq!(Command::parse(18, &bytes), Ok(c.clone()), "{}", c.tag());
        if !matches!(
            c,
            Command::Send { .. } | Command::Pfwd(..) | Command::Rfwd(_)
        ) {
            // Bytes after the last field; after a bare tag they must follow a space, or the
            // tag itself changes ("SUBx" is CMD UNKNOWN).
            let mut longer = bytes.clone();
            if longer == c.tag().as_bytes() {
                longer.push(b' ');
            }
            longer.push(b'x');
            assert_eq!(
                Command::parse(18, &longer),
                Err(ErrorType::Cmd(CommandError::Syntax)),
                "{}",
                c.tag()
            );
        }
    }
    // SEND skips flags it does not know, up to the space.
    assert_eq!(
        Command::parse(18, b"SEND TXY hi"),
        Ok(Command::Send {
            notification: true,
            body: b"hi".to_vec()
        })
    );
    assert_eq!(
        Command::parse(18, b"SUB="),
        Err(ErrorType::Cmd(CommandError::Unknown))
    );
}

#[test]
fn credentials_follow_the_reference() {
    use CommandError::*;
    let e = |c| Err(ErrorType::Cmd(c));
    let new = Command::parse(
        18,
        &Command::New(NewQueue {
            rcv_auth_key: key(KeyAlgorithm::Ed25519),
            rcv_dh_key: key(KeyAlgorithm::X25519),
            basic_auth: None,
            subscribe: true,
            request: None,
            ntf_creds: None,
        })
        .encode(18)
        .unwrap(),
    )
    .unwrap();
    assert_eq!(new.check_credentials(false, b""), e(NoAuth));
    assert_eq!(new.check_credentials(true, b"q"), e(HasAuth));
    assert_eq!(new.check_credentials(true, b""), Ok(()));
    let send = Command::Send {
        notification: false,
        body: vec![],
    };
    assert_eq!(send.check_credentials(true, b""), e(NoEntity));
    assert_eq!(send.check_credentials(false, b"q"), Ok(()));
    assert_eq!(Command::Ping.check_credentials(false, b"q"), e(HasAuth));
    assert_eq!(Command::Lget.check_credentials(true, b"q"), e(HasAuth));
    assert_eq!(Command::Lget.check_credentials(false, b""), e(NoEntity));
    assert_eq!(Command::Sub.check_credentials(true, b""), e(NoAuth));
    assert_eq!(Command::Sub.check_credentials(true, b"q"), Ok(()));
}

#[test]
fn relay_messages_round_trip_and_downgrade_for_old_clients() {
    let ids = QueueIds {
        rcv_id: vec![1; 24],
        snd_id: vec![2; 24],
        srv_dh_key: key(KeyAlgorithm::X25519),
        messaging: Some(true),
        link_id: Some(vec![3; 24]),
        service_id: None,
        ntf_creds: Some((vec![4; 24], key(KeyAlgorithm::X25519))),
    };
    for (v, expect) in [
        (18, ids.clone()),
        (
            16,
            QueueIds {
                ntf_creds: None,
                ..ids.clone()
            },
        ),
        (
            15,
            QueueIds {
                ntf_creds: None,
                ..ids.clone()
            },
        ),
        (
            9,
            QueueIds {
                ntf_creds: None,
                link_id: None,
                ..ids.clone()
            },
        ),
        (
            6,
            QueueIds {
                ntf_creds: None,
                link_id: None,
                messaging: None,
                ..ids.clone()
            },
        ),
    ] {
        let bytes = BrokerMsg::Ids(ids.clone()).encode(v).unwrap();
        assert_eq!(
            BrokerMsg::parse(v, &bytes),
            Some(BrokerMsg::Ids(expect)),
            "v{v}"
        );
    }
    let msgs = [
        BrokerMsg::Msg(vec![5; 24], vec![6; 1000]),
        BrokerMsg::Lnk(vec![7; 24], link()),
        BrokerMsg::Sok(None),
        BrokerMsg::Nid(vec![8; 24], key(KeyAlgorithm::X25519)),
        BrokerMsg::Nmsg([9; 24], vec![1; 144]),
        BrokerMsg::End,
        BrokerMsg::Deld,
        BrokerMsg::Ends(3),
        BrokerMsg::Soks(135),
        BrokerMsg::Ok,
        BrokerMsg::Pong,
        BrokerMsg::Err(ErrorType::Quota),
    ];
    for m in msgs {
        let bytes = m.encode(18).unwrap();
        assert_eq!(BrokerMsg::parse(18, &bytes), Some(m.clone()));
    }
    // MSG: no space between the id and the body.
    assert_eq!(
        BrokerMsg::Msg(vec![1, 2], b"xy".to_vec())
            .encode(18)
            .unwrap(),
        b"MSG \x02\x01\x02xy"
    );
    // Older clients get what the reference sends them.
    assert_eq!(BrokerMsg::Deld.encode(9).unwrap(), b"END");
    assert_eq!(BrokerMsg::Sok(None).encode(15).unwrap(), b"OK");
    let blocked = BrokerMsg::Err(ErrorType::Blocked(b"reason=spam,notice={}".to_vec()));
    assert_eq!(blocked.encode(11).unwrap(), b"ERR AUTH");
    assert_eq!(blocked.encode(17).unwrap(), b"ERR BLOCKED reason=spam");
    assert_eq!(
        blocked.encode(18).unwrap(),
        b"ERR BLOCKED reason=spam,notice={}"
    );
    // Which messages need an entity.
    assert!(BrokerMsg::Pong.check_entity(b"q").is_err());
    assert!(BrokerMsg::End.check_entity(b"").is_err());
    assert!(BrokerMsg::Err(ErrorType::Auth).check_entity(b"").is_ok());
}
