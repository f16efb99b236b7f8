//! The SOCKS5 client against a real SOCKS5 server (Debian's `microsocks`, which `.ci/run`
//! installs): addresses and host names, no authentication, circuit-isolation credentials,
//! fixed credentials, and the failures a user would meet.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use transport::{SocksAuth, SocksProxy};

struct Microsocks(Child, std::net::SocketAddr);

impl Drop for Microsocks {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts microsocks on a free port of 127.0.0.1, optionally requiring user/password.
async fn microsocks(creds: Option<(&str, &str)>) -> Microsocks {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new("microsocks");
    cmd.args(["-i", "127.0.0.1", "-p", &port.to_string()]);
    if let Some((u, p)) = creds {
        cmd.args(["-u", u, "-P", p]);
    }
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let guard = Microsocks(
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "microsocks is needed for this test: apt-get install microsocks (.ci/run does)",
            ),
        addr,
    );
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return guard;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("microsocks did not start");
}

/// A TCP server that answers each connection's first line with "echo: <line>".
async fn echo_server() -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let _ = s.write_all(b"echo: ").await;
                let _ = s.write_all(&buf[..n]).await;
            });
        }
    });
    addr
}

async fn round_trip(proxy: &SocksProxy, host: &str, port: u16) -> std::io::Result<Vec<u8>> {
    let mut s = transport::socks::connect(proxy, host, port).await?;
    s.write_all(b"hi").await?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await?;
    Ok(out)
}

#[tokio::test]
async fn connects_through_a_real_socks5_server() {
    let target = echo_server().await;
    let open = microsocks(None).await;
    for auth in [SocksAuth::None, SocksAuth::Isolate] {
        let proxy = SocksProxy { addr: open.1, auth };
        // By address, and by a name the proxy resolves.
        assert_eq!(
            round_trip(&proxy, "127.0.0.1", target.port())
                .await
                .unwrap(),
            b"echo: hi"
        );
        assert_eq!(
            round_trip(&proxy, "localhost", target.port())
                .await
                .unwrap(),
            b"echo: hi"
        );
    }
    // Nothing listens there: the proxy's refusal is reported.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let proxy = SocksProxy {
        addr: open.1,
        auth: SocksAuth::Isolate,
    };
    let e = round_trip(&proxy, "127.0.0.1", closed).await.unwrap_err();
    assert!(e.to_string().starts_with("SOCKS5"), "{e}");

    let locked = microsocks(Some(("alice", "secret"))).await;
    let with = |auth| SocksProxy {
        addr: locked.1,
        auth,
    };
    let fixed = with(SocksAuth::Fixed(b"alice".to_vec(), b"secret".to_vec()));
    assert_eq!(
        round_trip(&fixed, "127.0.0.1", target.port())
            .await
            .unwrap(),
        b"echo: hi"
    );
    let wrong = with(SocksAuth::Fixed(b"alice".to_vec(), b"guess".to_vec()));
    let e = round_trip(&wrong, "127.0.0.1", target.port())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("refused the credentials"), "{e}");
    let e = round_trip(&with(SocksAuth::None), "127.0.0.1", target.port())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("authentication"), "{e}");
    // The proxy gone: a clear connection error, not a hang.
    drop(open);
    assert!(round_trip(&proxy, "127.0.0.1", target.port())
        .await
        .is_err());
}
