//! The control port: roles, statistics, and an operator blocking, unblocking and deleting a
//! queue while a client uses it.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use simplex_crypto::{generate, KeyAlgorithm};
use smp_client::{ConnectOptions, SmpClient};
use smp_proto::command::{NewQueue, QueueRequest};
use smp_proto::{BrokerMsg, Command, ErrorType};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

struct Operator {
    rd: tokio::io::Lines<BufReader<tokio::net::tcp::OwnedReadHalf>>,
    wr: tokio::net::tcp::OwnedWriteHalf,
}

impl Operator {
    async fn connect(addr: std::net::SocketAddr) -> Self {
        let s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (rd, wr) = s.into_split();
        let mut op = Self {
            rd: BufReader::new(rd).lines(),
            wr,
        };
        assert_eq!(op.line().await, "SMP server control port");
        assert_eq!(op.line().await, "'help' for supported commands");
        op
    }

    async fn line(&mut self) -> String {
        self.rd.next_line().await.unwrap().unwrap()
    }

    /// Sends a command and reads `n` lines of answer.
    async fn ask(&mut self, cmd: &str, n: usize) -> Vec<String> {
        self.wr
            .write_all(format!("{cmd}\n").as_bytes())
            .await
            .unwrap();
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(self.line().await);
        }
        out
    }
}

#[tokio::test]
async fn an_operator_sees_stats_and_blocks_unblocks_and_deletes_a_queue() {
    let (identity, _) =
        transport::Identity::generate(transport::SignAlgorithm::Ed25519, "localhost").unwrap();
    let kh = identity.key_hash().unwrap();
    let opts = smp_server::StartOptions {
        control: Some((
            0,
            smp_server::control::ControlConfig {
                admin_password: Some("admin-pw".into()),
                user_password: Some("user-pw".into()),
                daily_block_quota: 20,
            },
        )),
        ..Default::default()
    };
    let relay = common::start_on(
        &["127.0.0.1:0".parse().unwrap()],
        &identity,
        smp_server::RelayConfig::default(),
        &opts,
    )
    .await
    .unwrap();
    let control = relay.control_addr.unwrap();
    assert!(control.ip().is_loopback());

    let (c, _events) = SmpClient::connect(relay.addr, &kh, ConnectOptions::default())
        .await
        .unwrap();
    let (rk_pub, rk) = generate(KeyAlgorithm::Ed25519).unwrap();
    let dh = generate(KeyAlgorithm::X25519).unwrap().0;
    let new = Command::New(NewQueue {
        rcv_auth_key: rk_pub,
        rcv_dh_key: dh,
        basic_auth: None,
        subscribe: false,
        request: Some(QueueRequest::Messaging(None)),
        ntf_creds: None,
    });
    let BrokerMsg::Ids(ids) = c.call(Some(&rk), b"", &new).await.unwrap() else {
        panic!()
    };
    let send = |b: &[u8]| Command::Send {
        notification: false,
        body: b.to_vec(),
    };
    assert_eq!(
        c.call(None, &ids.snd_id, &send(b"one")).await.unwrap(),
        BrokerMsg::Ok
    );
    let sid = simplex_codec::base64url::encode(&ids.snd_id);

    let mut op = Operator::connect(control).await;
    assert_eq!(op.ask("stats", 1).await, ["AUTH"]);
    assert_eq!(op.ask("auth wrong", 1).await, ["Current role is CPRNone"]);
    assert_eq!(op.ask("auth user-pw", 1).await, ["Current role is CPRUser"]);
    assert_eq!(
        op.ask("auth admin-pw", 1).await,
        ["Current role is CPRUser, start new session to change."]
    );
    let stats = op.ask("stats", 22).await;
    for expected in ["qCreated: 1", "msgSent: 1", "qCount: 1", "msgCount: 1"] {
        assert!(
            stats.iter().any(|l| l == expected),
            "{expected} in {stats:?}"
        );
    }
    let status = op.ask(&format!("status {sid}"), 1).await;
    assert!(status[0].starts_with("status: EntityActive"), "{status:?}");

    // Blocked: the sender gets BLOCKED; unblocked: it is served again.
    assert_eq!(
        op.ask(&format!("block {sid} reason=spam"), 1).await,
        ["ok, queue blocked: EntityBlocked reason=spam"]
    );
    assert_eq!(
        c.call(None, &ids.snd_id, &send(b"two")).await.unwrap(),
        BrokerMsg::Err(ErrorType::Blocked(b"reason=spam".to_vec()))
    );
    assert_eq!(
        op.ask(&format!("unblock {sid}"), 1).await,
        ["ok, queue unblocked, reason to block was: reason=spam"]
    );
    assert_eq!(
        c.call(None, &ids.snd_id, &send(b"two")).await.unwrap(),
        BrokerMsg::Ok
    );

    // Deleting needs the admin role (a new session).
    assert_eq!(op.ask(&format!("delete {sid}"), 1).await, ["AUTH"]);
    let mut admin = Operator::connect(control).await;
    assert_eq!(
        admin.ask("auth admin-pw", 1).await,
        ["Current role is CPRAdmin"]
    );
    assert_eq!(
        admin.ask(&format!("delete {sid}"), 1).await,
        ["ok, 2 messages deleted"]
    );
    assert_eq!(
        c.call(None, &ids.snd_id, &send(b"three")).await.unwrap(),
        BrokerMsg::Err(ErrorType::Auth)
    );
    assert_eq!(
        admin.ask(&format!("status {sid}"), 1).await,
        ["error: AUTH"]
    );
    assert_eq!(
        admin.ask("nonsense", 1).await,
        ["error: bad ControlProtocol command"]
    );
    relay.stop();
}
