//! The async XFTP client: one TLS + HTTP/2 connection per relay, the handshake with identity
//! pinning, and the chunk commands (create, add recipients, upload, download with transit
//! decryption, acknowledge, delete, ping).
//!
//! ```text
//! XftpConnection::connect(addr) ─► TLS (pinned to the key hash) ─► h2 ─► hello / handshake
//!      .create / .upload / .download / .ack / .delete / .ping ─► signed 16 KiB blocks
//! ```

pub mod agent;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use h2::client::SendRequest;
use h2::{RecvStream, SendStream};
use simplex_crypto::transit;
use simplex_crypto::SbNonce;
use simplex_crypto::{KeyAlgorithm, PrivateKey, PublicKey};
use tokio::net::TcpStream;
use xftp_proto::command::{Command, FileInfo, Response, XftpError};
use xftp_proto::handshake::{
    ClientHandshake, ClientHello, ServerHandshake, VersionRange, CURRENT_VERSION,
};
use xftp_proto::{ServerAddress, Transmission, XFTP_BLOCK_SIZE};

/// The SimpleX preset XFTP relays, as the reference clients have them (simplexmq's
/// `FileTransfer/Client/Presets.hs`): the default of `xftp` and `simplex-chat`.
pub const PRESET_RELAYS: [&str; 6] = [
    "xftp://da1aH3nOT-9G8lV7bWamhxpDYdJ1xmW7j3JpGaDR5Ug=@xftp1.simplex.im,blisztokwh6alt5oem45f2eksm2xdowxszmhjesntcyolmhutoon7sid.onion",
    "xftp://5vog2Imy1ExJB_7zDZrkV1KDWi96jYFyy9CL6fndBVw=@xftp2.simplex.im,jk6jybnel5hin2am5omd7g3hyvb4tfkyl7ea4vx5ldi7gpvz5ogqtcqd.onion",
    "xftp://PYa32DdYNFWi0uZZOprWQoQpIk5qyjRJ3EF7bVpbsn8=@xftp3.simplex.im,pqhchr4bpkzef5wra4hnmzvppn5j5mjrpzkh5ixx6mhylnxxd6lmwnad.onion",
    "xftp://k_GgQl40UZVV0Y4BX9ZTyMVqX5ZewcLW0waQIl7AYDE=@xftp4.simplex.im,q2lrjgiyo2efyweksavwxh3dlsrxetaxjztde2x5nateugrtrwzvmdid.onion",
    "xftp://-bIo6o8wuVc4wpZkZD3tH-rCeYaeER_0lz1ffQcSJDs=@xftp5.simplex.im,2kikdbdhlrluburwt6q6rnoxvezcm2ifx2hj463jlunkeftlzm7hf3qd.onion",
    "xftp://6nSvtY9pJn6PXWTAIMNl95E1Kk1vD7FM2TeOA64CFLg=@xftp6.simplex.im,tg3fmu6houq7vfqlsipm2qqzhtpgxesnuydqozx3khojxydhs53sbbyd.onion",
];

/// Time allowed to connect and handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(45);
/// Time allowed for a command without a chunk.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Time allowed for a command that moves `bytes` of chunk: the reference's 30 s plus 5 ms per
/// KiB (about 50 s for 4 MiB), so a relay that stops answering cannot hang a transfer.
pub fn transfer_timeout(bytes: usize) -> Duration {
    COMMAND_TIMEOUT + Duration::from_millis(5 * (bytes as u64).div_ceil(1024))
}

/// Client errors; [`ClientError::is_retriable`] tells transient from permanent.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Could not reach the relay.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// Where.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// TLS failed, or the relay is not the one in the address.
    #[error(transparent)]
    Tls(#[from] transport::TlsError),
    /// The HTTP/2 layer failed.
    #[error("HTTP/2: {0}")]
    Http(String),
    /// The handshake failed (version, session, signature).
    #[error("handshake: {0}")]
    Handshake(String),
    /// The relay answered with an error.
    #[error("relay error: {0}")]
    Relay(XftpError),
    /// The relay answered something unexpected.
    #[error("unexpected response: {0}")]
    Unexpected(String),
    /// A timeout.
    #[error("timed out: {0}")]
    Timeout(&'static str),
}

impl ClientError {
    /// Whether trying again (maybe on a new connection) can help.
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Connect { .. } | Self::Http(_) | Self::Timeout(_) => true,
            Self::Relay(e) => matches!(
                e,
                XftpError::Timeout | XftpError::FileIo | XftpError::Internal | XftpError::Session
            ),
            _ => false,
        }
    }
}

type Result<T> = std::result::Result<T, ClientError>;

/// A connection to one relay.
#[derive(Debug, Clone)]
pub struct XftpConnection {
    send: SendRequest<Bytes>,
    session_id: Vec<u8>,
    version: u16,
    server_dh: PublicKey,
    authority: String,
    _driver: Arc<tokio::task::JoinHandle<()>>,
}

/// IDs of a created chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkIds {
    /// Sender ID.
    pub sender_id: Vec<u8>,
    /// Recipient IDs, in key order.
    pub recipient_ids: Vec<Vec<u8>>,
}

impl XftpConnection {
    /// Connects to `addr` (or to `connect_to` instead of its host, for tests and proxies),
    /// pins its identity and performs the handshake.
    pub async fn connect(addr: &ServerAddress, connect_to: Option<SocketAddr>) -> Result<Self> {
        Self::connect_native(addr, connect_to, None, false).await
    }

    /// Like [`XftpConnection::connect`], from the local address `local` (a multi-homed host,
    /// or a test that needs another source address).
    pub async fn connect_from(
        addr: &ServerAddress,
        connect_to: Option<SocketAddr>,
        local: std::net::IpAddr,
    ) -> Result<Self> {
        tokio::time::timeout(
            CONNECT_TIMEOUT,
            Self::connect_inner(
                addr,
                connect_to,
                None,
                Some(local),
                None,
                transport::ALPN_XFTP,
            ),
        )
        .await
        .map_err(|_| ClientError::Timeout("connect"))?
    }

    /// Connects the way a browser does: SNI `web.sni`, the relay's web certificate checked
    /// against `web.ca` and the host name, a web challenge whose signature by the relay's
    /// online key proves the XFTP identity, and the web handshake headers.
    pub async fn connect_web(
        addr: &ServerAddress,
        connect_to: Option<SocketAddr>,
        web: &WebOptions,
    ) -> Result<Self> {
        tokio::time::timeout(
            CONNECT_TIMEOUT,
            Self::connect_inner(
                addr,
                connect_to,
                Some(web),
                None,
                None,
                transport::ALPN_XFTP,
            ),
        )
        .await
        .map_err(|_| ClientError::Timeout("connect"))?
    }

    /// Like [`XftpConnection::connect`] (through `socks` when given: the relay's host name is
    /// resolved by the proxy), offering ALPN
    /// `http/1.1` instead of `xftp/1` when `web_port`: a relay reached on the web port, as the
    /// reference's `useWebPort` (`--smp-web-port[-servers]`); the relay does the XFTP
    /// handshake over either.
    pub async fn connect_native(
        addr: &ServerAddress,
        connect_to: Option<SocketAddr>,
        socks: Option<&transport::SocksProxy>,
        web_port: bool,
    ) -> Result<Self> {
        let alpn = if web_port {
            transport::ALPN_HTTP11
        } else {
            transport::ALPN_XFTP
        };
        tokio::time::timeout(
            CONNECT_TIMEOUT,
            Self::connect_inner(addr, connect_to, None, None, socks, alpn),
        )
        .await
        .map_err(|_| ClientError::Timeout("connect"))?
    }

    async fn connect_inner(
        addr: &ServerAddress,
        connect_to: Option<SocketAddr>,
        web: Option<&WebOptions>,
        local: Option<std::net::IpAddr>,
        socks: Option<&transport::SocksProxy>,
        alpn: &'static [u8],
    ) -> Result<Self> {
        let host = addr.server.host().to_string();
        let port = addr.server.port_number();
        let target = match connect_to {
            Some(a) => a.to_string(),
            None => format!(
                "{}:{port}",
                host.trim_start_matches('[').trim_end_matches(']')
            ),
        };
        let connect_err = |source| ClientError::Connect {
            addr: target.clone(),
            source,
        };
        let tcp = match (local, socks) {
            (_, Some(proxy)) => {
                let (h, p) = match connect_to {
                    Some(a) => (a.ip().to_string(), a.port()),
                    None => (
                        host.trim_start_matches('[')
                            .trim_end_matches(']')
                            .to_string(),
                        port,
                    ),
                };
                transport::socks::connect(proxy, &h, p)
                    .await
                    .map_err(connect_err)?
            }
            (None, None) => TcpStream::connect(&target).await.map_err(connect_err)?,
            (Some(ip), None) => {
                let remote = tokio::net::lookup_host(&target)
                    .await
                    .map_err(connect_err)?
                    .find(|a| a.is_ipv4() == ip.is_ipv4())
                    .ok_or_else(|| {
                        connect_err(std::io::Error::other(
                            "no address of the local address's family",
                        ))
                    })?;
                let socket = if ip.is_ipv4() {
                    tokio::net::TcpSocket::new_v4()
                } else {
                    tokio::net::TcpSocket::new_v6()
                }
                .map_err(connect_err)?;
                socket.bind(SocketAddr::new(ip, 0)).map_err(connect_err)?;
                socket.connect(remote).await.map_err(connect_err)?
            }
        };
        let _ = tcp.set_nodelay(true);
        let tls = match web {
            None => {
                let connector = transport::shared_client_connector(alpn)?;
                transport::connect(connector, tcp, &addr.server.key_hash).await?
            }
            Some(w) => web_tls(tcp, w).await?,
        };
        let session_id = transport::session_id(tls.ssl());
        let tls_leaf_der = tls.ssl().peer_certificate().and_then(|c| c.to_der().ok());
        let (send, conn) = h2::client::Builder::new()
            // What the relay may send ahead of our reads, per download and in all: memory.
            .initial_window_size(1024 * 1024)
            .initial_connection_window_size(4 * 1024 * 1024)
            .max_frame_size(256 * 1024)
            .max_send_buffer_size(256 * 1024)
            .handshake::<_, Bytes>(tls)
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut c = Self {
            send,
            session_id,
            version: 0,
            server_dh: PublicKey::from_raw(KeyAlgorithm::X25519, &[0; 32])
                .map_err(|e| ClientError::Handshake(e.to_string()))?,
            authority: format!("{host}:{port}"),
            _driver: Arc::new(driver),
        };
        // Hello: an empty body (or a web challenge); the relay answers with its handshake.
        let mut challenge = [0u8; 32];
        let (hello, hello_header) = match web {
            None => (Bytes::new(), None),
            Some(_) => {
                openssl::rand::rand_bytes(&mut challenge)
                    .map_err(|e| ClientError::Handshake(e.to_string()))?;
                let block = ClientHello::Web(challenge)
                    .encode()
                    .map_err(|e| ClientError::Handshake(e.to_string()))?;
                (Bytes::from(block), Some("xftp-web-hello"))
            }
        };
        let (_, body) = c.post_with(hello, None, hello_header).await?;
        let block = read_exact(body, XFTP_BLOCK_SIZE).await?;
        let hs = ServerHandshake::decode_block(&block.0)
            .map_err(|e| ClientError::Handshake(e.to_string()))?;
        // The online (leaf) certificate of the XFTP chain signs the session key and the proof.
        let leaf = hs
            .cert_chain
            .first()
            .and_then(|der| openssl::x509::X509::from_der(der).ok())
            .ok_or_else(|| ClientError::Handshake("no certificate in the handshake".into()))?;
        let leaf_key = leaf
            .public_key()
            .map_err(|e| ClientError::Handshake(e.to_string()))?;
        match web {
            // Natively, it must be the very certificate TLS was authenticated with.
            None if tls_leaf_der.as_deref() != hs.cert_chain.first().map(Vec::as_slice) => {
                return Err(ClientError::Handshake(
                    "the handshake's certificate is not the TLS certificate".into(),
                ));
            }
            None => {}
            Some(_) => {
                let mut msg = challenge.to_vec();
                msg.extend_from_slice(&c.session_id);
                let proven = openssl::sign::Verifier::new_without_digest(&leaf_key)
                    .and_then(|mut v| v.verify_oneshot(&hs.web_identity_proof, &msg))
                    .unwrap_or(false);
                if !proven {
                    return Err(ClientError::Handshake(
                        "the web identity proof does not verify".into(),
                    ));
                }
            }
        }
        if hs.session_id != c.session_id {
            return Err(ClientError::Handshake(
                "the relay's session id differs from ours".into(),
            ));
        }
        let version = hs
            .versions
            .highest_common(VersionRange {
                min: 1,
                max: CURRENT_VERSION,
            })
            .ok_or_else(|| ClientError::Handshake("no common protocol version".into()))?;
        if hs.cert_chain.len() != 2
            || openssl::sha::sha256(&hs.cert_chain[1]).as_slice() != addr.server.key_hash
        {
            return Err(ClientError::Handshake(
                "the handshake's certificate is not the relay's identity".into(),
            ));
        }
        let (spki, _, sig) = simplex_crypto::signed::decode_signed_key(&hs.signed_key)
            .map_err(|e| ClientError::Handshake(e.to_string()))?;
        let verified = openssl::sign::Verifier::new_without_digest(&leaf_key)
            .and_then(|mut v| v.verify_oneshot(&sig, &spki))
            .unwrap_or(false);
        if !verified {
            return Err(ClientError::Handshake(
                "the session key is not signed by the relay".into(),
            ));
        }
        c.server_dh =
            PublicKey::from_der(&spki).map_err(|e| ClientError::Handshake(e.to_string()))?;
        c.version = version;
        let ch = ClientHandshake {
            version,
            key_hash: addr.server.key_hash.clone(),
        };
        let block = ch
            .encode_block()
            .map_err(|e| ClientError::Handshake(e.to_string()))?;
        let (_, body) = c
            .post_with(Bytes::from(block), None, web.map(|_| "xftp-handshake"))
            .await?;
        let (reply, _) = read_all(body, XFTP_BLOCK_SIZE).await?;
        if !reply.is_empty() {
            return Err(ClientError::Handshake(
                String::from_utf8_lossy(&reply[..reply.len().min(64)])
                    .trim_end_matches('#')
                    .to_string(),
            ));
        }
        Ok(c)
    }

    /// The negotiated protocol version.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// The session id (tls-unique).
    pub fn session_id(&self) -> &[u8] {
        &self.session_id
    }

    /// The relay's handshake X25519 key.
    pub fn server_dh_key(&self) -> &PublicKey {
        &self.server_dh
    }

    /// Sends one transmission (signed with `key` when given) and returns the response and the
    /// rest of the response body.
    pub async fn command(
        &self,
        entity_id: &[u8],
        key: Option<&PrivateKey>,
        cmd: &Command,
        chunk: Option<Bytes>,
    ) -> Result<(Response, RecvStream, Option<Bytes>)> {
        let mut t = Transmission {
            authenticator: Vec::new(),
            session_id: self.session_id.clone(),
            corr_id: Vec::new(),
            entity_id: entity_id.to_vec(),
            command: cmd
                .encode()
                .map_err(|e| ClientError::Unexpected(e.to_string()))?,
        };
        if let Some(k) = key {
            let signed = t
                .signed_bytes()
                .map_err(|e| ClientError::Unexpected(e.to_string()))?;
            t.authenticator = simplex_crypto::sign(k, &signed)
                .map_err(|e| ClientError::Unexpected(e.to_string()))?;
        }
        self.transmit(&t, chunk).await
    }

    /// Starts an FPUT and returns its open request stream without sending any chunk bytes
    /// (tests of relays against uploads that stall; dropping the stream cancels the upload).
    #[doc(hidden)]
    pub async fn begin_upload(
        &self,
        sender_id: &[u8],
        sender_key: &PrivateKey,
    ) -> Result<h2::SendStream<Bytes>> {
        let mut t = Transmission {
            authenticator: Vec::new(),
            session_id: self.session_id.clone(),
            corr_id: Vec::new(),
            entity_id: sender_id.to_vec(),
            command: Command::Put
                .encode()
                .map_err(|e| ClientError::Unexpected(e.to_string()))?,
        };
        let signed = t
            .signed_bytes()
            .map_err(|e| ClientError::Unexpected(e.to_string()))?;
        t.authenticator = simplex_crypto::sign(sender_key, &signed)
            .map_err(|e| ClientError::Unexpected(e.to_string()))?;
        let block = t
            .encode_block()
            .map_err(|e| ClientError::Unexpected(e.to_string()))?;
        let (_, mut stream) = self.open_post(None).await?;
        send_data(&mut stream, Bytes::from(block), false).await?;
        Ok(stream)
    }

    /// Starts a POST (with an optional handshake header); returns the response to come and
    /// the request body stream.
    async fn open_post(
        &self,
        header: Option<&'static str>,
    ) -> Result<(h2::client::ResponseFuture, SendStream<Bytes>)> {
        let mut send = self
            .send
            .clone()
            .ready()
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let mut req = http::Request::builder()
            .method("POST")
            .uri(format!("https://{}/", self.authority));
        if let Some(h) = header {
            req = req.header(h, "1");
        }
        let req = req.body(()).map_err(|e| ClientError::Http(e.to_string()))?;
        send.send_request(req, false)
            .map_err(|e| ClientError::Http(e.to_string()))
    }

    /// Sends a prepared transmission (tests use this to send malformed or foreign ones).
    pub async fn transmit(
        &self,
        t: &Transmission,
        chunk: Option<Bytes>,
    ) -> Result<(Response, RecvStream, Option<Bytes>)> {
        let block = t
            .encode_block()
            .map_err(|e| ClientError::Unexpected(e.to_string()))?;
        self.transmit_raw(Bytes::from(block), chunk).await
    }

    /// Sends raw request bytes (a block, maybe malformed) and decodes the response block.
    pub async fn transmit_raw(
        &self,
        head: Bytes,
        chunk: Option<Bytes>,
    ) -> Result<(Response, RecvStream, Option<Bytes>)> {
        let limit = transfer_timeout(chunk.as_ref().map_or(0, Bytes::len));
        let exchange = async {
            let (_, body) = self.post(head, chunk).await?;
            read_exact(body, XFTP_BLOCK_SIZE).await
        };
        let (block, (body, extra)) = tokio::time::timeout(limit, exchange)
            .await
            .map_err(|_| ClientError::Timeout("relay response"))??;
        let t = Transmission::decode_block(&block)
            .map_err(|e| ClientError::Unexpected(format!("response block: {e}")))?;
        if t.session_id != self.session_id {
            return Err(ClientError::Relay(XftpError::Session));
        }
        let resp = Response::decode(&t.command)
            .map_err(|e| ClientError::Unexpected(format!("response: {e}")))?;
        Ok((resp, body, extra))
    }

    async fn post(
        &self,
        head: Bytes,
        chunk: Option<Bytes>,
    ) -> Result<(http::response::Parts, RecvStream)> {
        self.post_with(head, chunk, None).await
    }

    async fn post_with(
        &self,
        head: Bytes,
        chunk: Option<Bytes>,
        header: Option<&'static str>,
    ) -> Result<(http::response::Parts, RecvStream)> {
        let (resp, mut stream) = self.open_post(header).await?;
        // The end of the request travels with its last bytes: a relay may answer (and close
        // the stream) as soon as it has the command block.
        let sent = match chunk {
            None => send_data(&mut stream, head, true).await,
            Some(c) => match send_data(&mut stream, head, false).await {
                Ok(()) => send_data(&mut stream, c, true).await,
                Err(e) => Err(e),
            },
        };
        if let Err(e) = sent {
            // A relay that refuses an upload (full disk, quota) answers and closes the stream
            // before it has the whole chunk: its answer says more than "stream closed".
            return match tokio::time::timeout(Duration::from_secs(5), resp).await {
                Ok(Ok(r)) => Ok(r.into_parts()),
                _ => Err(e),
            };
        }
        let resp = resp.await.map_err(|e| ClientError::Http(e.to_string()))?;
        let (parts, body) = resp.into_parts();
        Ok((parts, body))
    }

    /// FNEW: creates a chunk record with one recipient per key.
    pub async fn create(
        &self,
        sender_key: &PrivateKey,
        size: u32,
        digest: [u8; 32],
        recipient_keys: Vec<PublicKey>,
        password: Option<&str>,
    ) -> Result<ChunkIds> {
        let info = FileInfo {
            sender_key: simplex_crypto::public_key(sender_key)
                .map_err(|e| ClientError::Unexpected(e.to_string()))?,
            size,
            digest: digest.to_vec(),
        };
        let cmd = Command::New {
            info,
            recipient_keys,
            basic_auth: password.map(|p| p.as_bytes().to_vec()),
        };
        match self.command(&[], Some(sender_key), &cmd, None).await?.0 {
            Response::Sids {
                sender_id,
                recipient_ids,
            } => Ok(ChunkIds {
                sender_id,
                recipient_ids,
            }),
            other => Err(unexpected(other)),
        }
    }

    /// FADD: adds recipients.
    pub async fn add_recipients(
        &self,
        sender_id: &[u8],
        sender_key: &PrivateKey,
        keys: Vec<PublicKey>,
    ) -> Result<Vec<Vec<u8>>> {
        match self
            .command(
                sender_id,
                Some(sender_key),
                &Command::Add {
                    recipient_keys: keys,
                },
                None,
            )
            .await?
            .0
        {
            Response::Rids(ids) => Ok(ids),
            other => Err(unexpected(other)),
        }
    }

    /// FPUT: uploads the chunk bytes.
    pub async fn upload(
        &self,
        sender_id: &[u8],
        sender_key: &PrivateKey,
        chunk: Bytes,
    ) -> Result<()> {
        expect_ok(
            self.command(sender_id, Some(sender_key), &Command::Put, Some(chunk))
                .await?
                .0,
        )
    }

    /// FGET: downloads `size` bytes of a chunk, decrypting the transit encryption.
    pub async fn download(
        &self,
        recipient_id: &[u8],
        recipient_key: &PrivateKey,
        size: u32,
    ) -> Result<Vec<u8>> {
        self.download_into(recipient_id, recipient_key, size, Vec::new())
            .await
    }

    /// Like [`XftpConnection::download`], receiving into `buf` (reused buffers avoid fresh
    /// allocations for every chunk).
    pub async fn download_into(
        &self,
        recipient_id: &[u8],
        recipient_key: &PrivateKey,
        size: u32,
        buf: Vec<u8>,
    ) -> Result<Vec<u8>> {
        self.download_checked(recipient_id, recipient_key, size, buf, None)
            .await
            .map(|(data, _)| data)
    }

    /// [`XftpConnection::download_into`], also computing the chunk's SHA-256 in the same pass
    /// off the async threads when `sha256` is given; returns the bytes and whether the digest
    /// matched (always `true` without one).
    pub async fn download_checked(
        &self,
        recipient_id: &[u8],
        recipient_key: &PrivateKey,
        size: u32,
        buf: Vec<u8>,
        sha256: Option<Vec<u8>>,
    ) -> Result<(Vec<u8>, bool)> {
        let (dh_pub, dh_priv) = simplex_crypto::generate(KeyAlgorithm::X25519)
            .map_err(|e| ClientError::Unexpected(e.to_string()))?;
        let (resp, body, extra) = self
            .command(
                recipient_id,
                Some(recipient_key),
                &Command::Get { dh_key: dh_pub },
                None,
            )
            .await?;
        let Response::File { dh_key, nonce } = resp else {
            return Err(unexpected(resp));
        };
        let key =
            transit::key(&dh_priv, &dh_key).map_err(|_| ClientError::Relay(XftpError::Crypto))?;
        let expected = size as usize + 16;
        let (mut sealed, _) = tokio::time::timeout(
            transfer_timeout(expected),
            read_all_with(body, extra, expected + 1, buf, expected),
        )
        .await
        .map_err(|_| ClientError::Timeout("chunk download"))??;
        if sealed.len() != expected {
            return Err(ClientError::Relay(XftpError::Size));
        }
        // Decrypt in place (one chunk-sized buffer per download), off the async threads that
        // drive the connections.
        tokio::task::spawn_blocking(move || {
            transit::open_in_place(&key, &SbNonce(nonce), &mut sealed)
                .map_err(|_| ClientError::Relay(XftpError::Crypto))?;
            let matches = sha256.is_none_or(|d| openssl::sha::sha256(&sealed).as_slice() == d);
            Ok((sealed, matches))
        })
        .await
        .map_err(|e| ClientError::Unexpected(e.to_string()))?
    }

    /// FACK.
    pub async fn ack(&self, recipient_id: &[u8], recipient_key: &PrivateKey) -> Result<()> {
        expect_ok(
            self.command(recipient_id, Some(recipient_key), &Command::Ack, None)
                .await?
                .0,
        )
    }

    /// FDEL.
    pub async fn delete(&self, sender_id: &[u8], sender_key: &PrivateKey) -> Result<()> {
        expect_ok(
            self.command(sender_id, Some(sender_key), &Command::Del, None)
                .await?
                .0,
        )
    }

    /// PING.
    pub async fn ping(&self) -> Result<()> {
        match self.command(&[], None, &Command::Ping, None).await?.0 {
            Response::Pong => Ok(()),
            other => Err(unexpected(other)),
        }
    }
}

/// How to connect as a browser does.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// The host name sent as SNI and checked in the web certificate.
    pub sni: String,
    /// The web CA to trust (browsers use their own store).
    pub ca: openssl::x509::X509,
}

async fn web_tls(tcp: TcpStream, web: &WebOptions) -> Result<tokio_openssl::SslStream<TcpStream>> {
    use openssl::ssl::{SslConnector, SslMethod};
    let tls_err = |e: openssl::error::ErrorStack| ClientError::Tls(transport::TlsError::Config(e));
    let mut b = SslConnector::builder(SslMethod::tls_client()).map_err(tls_err)?;
    let mut store = openssl::x509::store::X509StoreBuilder::new().map_err(tls_err)?;
    store.add_cert(web.ca.clone()).map_err(tls_err)?;
    b.set_verify_cert_store(store.build()).map_err(tls_err)?;
    b.set_alpn_protos(b"\x02h2").map_err(tls_err)?;
    let ssl = b
        .build()
        .configure()
        .map_err(tls_err)?
        .into_ssl(&web.sni)
        .map_err(tls_err)?;
    let mut tls = tokio_openssl::SslStream::new(ssl, tcp).map_err(tls_err)?;
    std::pin::Pin::new(&mut tls)
        .connect()
        .await
        .map_err(|e| ClientError::Tls(transport::TlsError::Handshake(e.to_string())))?;
    Ok(tls)
}

fn unexpected(r: Response) -> ClientError {
    match r {
        Response::Err(e) => ClientError::Relay(e),
        other => ClientError::Unexpected(format!("{other:?}")),
    }
}

fn expect_ok(r: Response) -> Result<()> {
    match r {
        Response::Ok => Ok(()),
        other => Err(unexpected(other)),
    }
}

/// Sends `data` within the peer's flow-control window; `end` closes the request with the last
/// piece.
async fn send_data(stream: &mut SendStream<Bytes>, mut data: Bytes, end: bool) -> Result<()> {
    if data.is_empty() && end {
        return stream
            .send_data(Bytes::new(), true)
            .map_err(|e| ClientError::Http(e.to_string()));
    }
    while !data.is_empty() {
        stream.reserve_capacity(data.len());
        let cap = match std::future::poll_fn(|cx| stream.poll_capacity(cx)).await {
            Some(Ok(n)) => n,
            Some(Err(e)) => return Err(ClientError::Http(e.to_string())),
            None => return Err(ClientError::Http("stream closed".into())),
        };
        if cap == 0 {
            continue;
        }
        let piece = data.split_to(cap.min(data.len()));
        stream
            .send_data(piece, end && data.is_empty())
            .map_err(|e| ClientError::Http(e.to_string()))?;
    }
    Ok(())
}

/// Reads exactly `n` bytes; returns them, the stream and any bytes read past them.
async fn read_exact(
    mut body: RecvStream,
    n: usize,
) -> Result<(Vec<u8>, (RecvStream, Option<Bytes>))> {
    let mut buf = BytesMut::with_capacity(n);
    while buf.len() < n {
        match body.data().await {
            None => break,
            Some(Err(e)) => return Err(ClientError::Http(e.to_string())),
            Some(Ok(mut b)) => {
                let _ = body.flow_control().release_capacity(b.len());
                let need = n - buf.len();
                if b.len() > need {
                    let rest = b.split_off(need);
                    buf.extend_from_slice(&b);
                    return Ok((buf.to_vec(), (body, Some(rest))));
                }
                buf.extend_from_slice(&b);
            }
        }
    }
    if buf.len() != n {
        return Err(ClientError::Unexpected(format!(
            "response of {} bytes, expected {n}",
            buf.len()
        )));
    }
    Ok((buf.to_vec(), (body, None)))
}

/// Reads the rest of a body, at most `limit` bytes.
async fn read_all(body: RecvStream, limit: usize) -> Result<(Vec<u8>, RecvStream)> {
    read_all_with(body, None, limit, Vec::new(), 0).await
}

/// Reads the rest of a body into a buffer of `capacity` (the expected size, so it never grows
/// past it), failing beyond `limit` bytes.
async fn read_all_with(
    mut body: RecvStream,
    first: Option<Bytes>,
    limit: usize,
    mut buf: Vec<u8>,
    capacity: usize,
) -> Result<(Vec<u8>, RecvStream)> {
    buf.clear();
    buf.reserve(capacity.min(limit));
    if let Some(f) = first {
        buf.extend_from_slice(&f);
    }
    while let Some(piece) = body.data().await {
        let b = piece.map_err(|e| ClientError::Http(e.to_string()))?;
        let _ = body.flow_control().release_capacity(b.len());
        if buf.len() + b.len() > limit {
            return Err(ClientError::Relay(XftpError::Size));
        }
        buf.extend_from_slice(&b);
    }
    Ok((buf, body))
}
