//! The user's relays, as the reference's terminal shows and changes them: `/smp` and `/xftp`
//! list the relays new queues and uploads go to, `/smp <server>...` and `/xftp <server>...`
//! change them (kept for the user, used from then on; existing queues and files stay where
//! they are), `/smp default` and `/xftp default` go back to the configured ones (the
//! options), `/smp test <server>` and `/xftp test <server>` try one: a queue created and
//! deleted, a small file uploaded, downloaded, compared and deleted.

use smp_proto::address::SmpServer;
use xftp_proto::address::ServerAddress;

use crate::chat::{Chat, ChatError, Response};

/// The settings keys of the user's relays (space-separated addresses).
pub const SMP_SETTING: &str = "smp_servers";
pub const XFTP_SETTING: &str = "xftp_servers";

/// How many relays one command may name.
pub const MAX_SERVERS: usize = 64;

/// Which relays a command is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Smp,
    Xftp,
}

impl Protocol {
    /// `SMP`, `XFTP`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Smp => "SMP",
            Protocol::Xftp => "XFTP",
        }
    }
}

/// A failed relay test: the step (`Connect`, `CreateQueue`, `UploadFile`, ...) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestFailure {
    pub step: String,
    pub error: String,
}

fn parse_smp(list: &[String]) -> Result<Vec<SmpServer>, ChatError> {
    list.iter()
        .map(|s| {
            s.parse()
                .map_err(|e| ChatError::BadCommand(format!("invalid SMP server {s}: {e}")))
        })
        .collect()
}

fn parse_xftp(list: &[String]) -> Result<Vec<ServerAddress>, ChatError> {
    list.iter()
        .map(|s| {
            s.parse()
                .map_err(|e| ChatError::BadCommand(format!("invalid XFTP server {s}: {e}")))
        })
        .collect()
}

impl Chat {
    /// The XFTP relays uploads go to now.
    pub(crate) fn xftp_servers(&self) -> Vec<ServerAddress> {
        self.inner
            .xftp_servers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The user's stored relays, if it set any (at open: they replace the configured ones).
    pub(crate) fn apply_stored_servers(&self) -> Result<(), ChatError> {
        let (smp, xftp) = {
            let store = self.store();
            (store.setting(SMP_SETTING)?, store.setting(XFTP_SETTING)?)
        };
        let words = |s: String| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        if let Some(s) = smp {
            self.inner.agent.set_servers(parse_smp(&words(s))?);
        }
        if let Some(s) = xftp {
            *self
                .inner
                .xftp_servers
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = parse_xftp(&words(s))?;
        }
        Ok(())
    }

    /// `/smp`, `/xftp`: the relays in use.
    pub(crate) fn show_servers(&self, p: Protocol) -> Response {
        let servers = match p {
            Protocol::Smp => self
                .inner
                .agent
                .servers()
                .iter()
                .map(ToString::to_string)
                .collect(),
            Protocol::Xftp => self
                .xftp_servers()
                .iter()
                .map(ToString::to_string)
                .collect(),
        };
        Response::Servers(p, servers)
    }

    /// `/smp <server>...`, `/xftp <server>...` (none: back to the configured ones).
    pub(crate) fn set_servers(
        &self,
        p: Protocol,
        list: Vec<String>,
    ) -> Result<Response, ChatError> {
        if list.len() > MAX_SERVERS {
            return Err(ChatError::BadCommand(format!(
                "at most {MAX_SERVERS} servers"
            )));
        }
        let key = match p {
            Protocol::Smp => SMP_SETTING,
            Protocol::Xftp => XFTP_SETTING,
        };
        match p {
            Protocol::Smp => {
                let servers = if list.is_empty() {
                    self.inner.configured_smp.clone()
                } else {
                    parse_smp(&list)?
                };
                self.inner.agent.set_servers(servers);
            }
            Protocol::Xftp => {
                let servers = if list.is_empty() {
                    self.inner.configured_xftp.clone()
                } else {
                    parse_xftp(&list)?
                };
                *self
                    .inner
                    .xftp_servers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = servers;
            }
        }
        let stored = (!list.is_empty()).then(|| list.join(" "));
        self.store().set_setting(key, stored.as_deref())?;
        Ok(Response::Ok)
    }

    /// `/smp test <server>`, `/xftp test <server>`.
    pub(crate) async fn test_server(
        &self,
        p: Protocol,
        server: String,
    ) -> Result<Response, ChatError> {
        let failure = match p {
            Protocol::Smp => {
                let s = parse_smp(std::slice::from_ref(&server))?.remove(0);
                self.inner.agent.test_server(&s).await.err()
            }
            Protocol::Xftp => {
                let s = parse_xftp(std::slice::from_ref(&server))?.remove(0);
                self.test_xftp(&s).await.err()
            }
        };
        Ok(Response::ServerTested {
            protocol: p,
            server,
            failure: failure.map(|(step, error)| TestFailure {
                step: step.to_string(),
                error,
            }),
        })
    }

    /// An XFTP relay's test: a 64 KiB chunk created, uploaded, downloaded, compared and
    /// deleted.
    async fn test_xftp(&self, addr: &ServerAddress) -> Result<(), (&'static str, String)> {
        use simplex_crypto::KeyAlgorithm;
        let conn = self
            .inner
            .pool
            .get(addr)
            .await
            .map_err(|e| ("Connect", e.to_string()))?;
        let gen = || {
            simplex_crypto::generate(KeyAlgorithm::Ed25519)
                .map_err(|e| ("CreateFile", e.to_string()))
        };
        let (_, sender_key) = gen()?;
        let (rcp_pub, rcp_key) = gen()?;
        let mut data = vec![0u8; 64 * 1024];
        simplex_crypto::random_bytes(&mut data);
        let digest = simplex_crypto::digest::sha256(&data);
        let ids = conn
            .create(
                &sender_key,
                data.len() as u32,
                digest,
                vec![rcp_pub],
                addr.password.as_deref(),
            )
            .await
            .map_err(|e| ("CreateFile", e.to_string()))?;
        let rid = ids
            .recipient_ids
            .first()
            .cloned()
            .ok_or(("CreateFile", "no recipient id".to_string()))?;
        conn.upload(
            &ids.sender_id,
            &sender_key,
            bytes::Bytes::from(data.clone()),
        )
        .await
        .map_err(|e| ("UploadFile", e.to_string()))?;
        let got = conn
            .download(&rid, &rcp_key, data.len() as u32)
            .await
            .map_err(|e| ("DownloadFile", e.to_string()))?;
        if got != data {
            return Err(("CompareFile", "downloaded data differs".into()));
        }
        conn.delete(&ids.sender_id, &sender_key)
            .await
            .map_err(|e| ("DeleteFile", e.to_string()))?;
        Ok(())
    }
}

/// The lines of a test's failure, as the reference's: the step and error, then a hint.
pub fn failure_lines(p: Protocol, f: &TestFailure) -> Vec<String> {
    let mut v = vec![format!(
        "{} server test failed at {}, error: {}",
        p.name(),
        f.step,
        f.error
    )];
    if f.step == "Connect" {
        v.push(format!(
            "Possibly, certificate fingerprint in {} server address is incorrect",
            p.name()
        ));
    } else if f.error.contains("AUTH") && (f.step == "CreateQueue" || f.step == "CreateFile") {
        v.push(
            match p {
                Protocol::Smp => "Server requires authorization to create queues, check password",
                Protocol::Xftp => "Server requires authorization to upload files, check password",
            }
            .to_string(),
        );
    }
    v
}
