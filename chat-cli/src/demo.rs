//! `simplex-chat demo`: zero-config - an SMP and an XFTP relay on 127.0.0.1 in a temporary
//! folder, two users (alice and bob) connected by a one-time invitation, text messages and a
//! file from alice to bob, the same file sent and received with the plain XFTP pipeline for
//! comparison, the figures printed.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_core::chat::{Chat, ChatConfig, Event, Response};
use chat_core::command::Command;
use chat_core::protocol::Profile;
use tokio::sync::mpsc::Receiver;

type DemoResult<T> = Result<T, String>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

async fn wait_for<T>(
    events: &mut Receiver<Event>,
    what: &str,
    mut pick: impl FnMut(Event) -> Option<T>,
) -> DemoResult<T> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, events.recv()).await {
            Ok(Some(Event::Error(e))) => return Err(format!("while waiting for {what}: {e}")),
            Ok(Some(Event::FileFailed(t))) => {
                return Err(format!(
                    "while waiting for {what}: file {}: {}",
                    t.name, t.error
                ))
            }
            Ok(Some(e)) => {
                if let Some(t) = pick(e) {
                    return Ok(t);
                }
            }
            Ok(None) => return Err(format!("the chat stopped before {what}")),
            Err(_) => return Err(format!("no {what} in 10 minutes")),
        }
    }
}

pub(crate) fn generate(path: &Path, size: u64) -> DemoResult<()> {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).map_err(err)?);
    let mut seed = [0u8; 8];
    simplex_crypto::random_bytes(&mut seed);
    let mut x = u64::from_le_bytes(seed) | 1;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for w in buf.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(buf.len() as u64) as usize;
        f.write_all(&buf[..n]).map_err(err)?;
        left -= n as u64;
    }
    // On disk before anything is timed: writing it back must not slow what is measured.
    f.into_inner()
        .map_err(|e| err(e.into_error()))?
        .sync_all()
        .map_err(err)
}

/// Puts a received copy on disk (outside the timing, so that the next measurement does not
/// pay for this one's write-back) after checking it, then removes it (a 1 GiB run would
/// otherwise hold four copies).
fn settle_copy(src: &Path, copy: &Path, what: &str) -> DemoResult<()> {
    if !same_content(src, copy)? {
        return Err(format!("{what} differs from the sent file"));
    }
    std::fs::File::open(copy)
        .and_then(|f| f.sync_all())
        .map_err(err)?;
    std::fs::remove_file(copy).map_err(err)
}

pub(crate) fn same_content(a: &Path, b: &Path) -> DemoResult<bool> {
    use std::io::Read;
    let (mut fa, mut fb) = (
        std::fs::File::open(a).map_err(err)?,
        std::fs::File::open(b).map_err(err)?,
    );
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let na = fa.read(&mut ba).map_err(err)?;
        let mut nb = 0;
        while nb < na {
            let n = fb.read(&mut bb[nb..na]).map_err(err)?;
            if n == 0 {
                return Ok(false);
            }
            nb += n;
        }
        if na == 0 {
            return Ok(fb.read(&mut bb[..1]).map_err(err)? == 0);
        }
        if ba[..na] != bb[..na] {
            return Ok(false);
        }
    }
}

fn mb_per_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64().max(1e-9)
}

/// An SMP relay on 127.0.0.1 with a new identity, and its address.
pub async fn start_smp() -> DemoResult<(smp_server::Running, String)> {
    let (identity, _) =
        transport::Identity::generate(transport::SignAlgorithm::Ed25519, "localhost")
            .map_err(err)?;
    let kh = identity.key_hash().map_err(err)?;
    let smp = smp_server::start(
        "127.0.0.1:0".parse().map_err(err)?,
        &identity,
        smp_server::RelayConfig::default(),
    )
    .await
    .map_err(err)?;
    let address = format!(
        "smp://{}@127.0.0.1:{}",
        simplex_codec::base64url::encode(&kh),
        smp.addr.port()
    );
    Ok((smp, address))
}

/// Runs the demo: `messages` texts and a file of `size` bytes.
/// An XFTP relay on 127.0.0.1 with a new identity, its files under `dir`; its address.
pub async fn start_xftp(
    dir: &Path,
) -> DemoResult<(
    xftp_server::ServerHandle,
    xftp_proto::address::ServerAddress,
)> {
    let cfg = dir.join("xftp-cfg");
    let files = dir.join("xftp-files");
    std::fs::create_dir_all(&cfg).map_err(err)?;
    std::fs::create_dir_all(&files).map_err(err)?;
    let (xid, ca_key) =
        transport::Identity::generate(transport::SignAlgorithm::Ed25519, "127.0.0.1")
            .map_err(err)?;
    xid.write_new(&ca_key, &cfg).map_err(err)?;
    let ini = xftp_server::config::default_ini(&files, "100gb", "127.0.0.1", false, None);
    std::fs::write(cfg.join(xftp_server::config::CONFIG_FILE), ini).map_err(err)?;
    let xftp = xftp_server::start(
        &cfg,
        &dir.join("xftp-log"),
        Arc::new(xftp_server::relay::SystemClock),
        Some("127.0.0.1:0".parse().map_err(err)?),
    )
    .await
    .map_err(err)?;
    let address = xftp.address.parse().map_err(err)?;
    Ok((xftp, address))
}

/// `xftp send` + `xftp recv` of `src` through the relay at `xftp_address`, into `plain_dir`:
/// the time both took.
async fn plain_transfer(
    src: &Path,
    xftp_address: &xftp_proto::address::ServerAddress,
    plain_dir: &Path,
) -> DemoResult<Duration> {
    let pool = Arc::new(xftp_client::agent::Pool::default());
    let t0 = Instant::now();
    let sent = xftp_client::agent::send_file(
        pool.clone(),
        src,
        std::slice::from_ref(xftp_address),
        &xftp_client::agent::SendOptions::default(),
        |_| {},
    )
    .await
    .map_err(err)?;
    // As `xftp recv` gets it: the description's text, read back and validated.
    let desc = xftp_proto::description::ValidFileDescription::from_yaml(
        &sent
            .recipients
            .first()
            .ok_or("no recipient description")?
            .to_yaml(),
    )
    .map_err(err)?;
    std::fs::create_dir_all(plain_dir).map_err(err)?;
    let got = xftp_client::agent::receive_file(
        pool,
        &desc,
        plain_dir,
        &xftp_client::agent::RecvOptions::default(),
        |_| {},
    )
    .await
    .map_err(err)?;
    let plain_time = t0.elapsed();
    settle_copy(src, &got.path, "the plain XFTP copy")?;
    Ok(plain_time)
}

pub async fn run(size: u64, messages: usize) -> DemoResult<()> {
    let work = tempfile::tempdir().map_err(err)?;
    let dir = work.path();

    // Relays.
    let (smp, smp_address) = start_smp().await?;
    let (xftp, xftp_address) = start_xftp(dir).await?;
    println!("Started an SMP relay: {smp_address}");
    println!("Started an XFTP relay: {}", xftp.address);

    // Two users.
    let user = |name: &str, full: &str| Profile {
        display_name: name.into(),
        full_name: full.into(),
        ..Profile::default()
    };
    let config = |name: &str| -> DemoResult<ChatConfig> {
        let folder = dir.join(format!("{name}-files"));
        std::fs::create_dir_all(&folder).map_err(err)?;
        Ok(ChatConfig {
            db_prefix: dir.join(name),
            db_key: Some(format!("demo key of {name}")),
            smp_server: smp_address.parse().map_err(err)?,
            connect: smp_client::ConnectOptions::default(),
            xftp_servers: vec![xftp_address.clone()],
            files_folder: folder,
            max_file_size: chunker::plan::DEFAULT_MAX_FILE_SIZE,
            auto_accept_size: 0,
            event_queue: chat_core::chat::DEFAULT_EVENT_QUEUE,
            chat_relay: false,
            relay_address_server: None,
            relay_max_channels: chat_core::channels::DEFAULT_MAX_CHANNELS,
        })
    };
    let (alice, mut ae) = Chat::open(&config("alice")?, Some(user("alice", "Alice")))
        .await
        .map_err(err)?;
    let (bob, mut be) = Chat::open(&config("bob")?, Some(user("bob", "Bob")))
        .await
        .map_err(err)?;

    let t0 = Instant::now();
    let Response::Invitation { link, .. } = alice
        .execute(Command::CreateInvitation)
        .await
        .map_err(err)?
    else {
        return Err("no invitation".into());
    };
    bob.execute(Command::Connect(link)).await.map_err(err)?;
    wait_for(&mut ae, "alice's contact", |e| {
        matches!(e, Event::ContactConnected(_)).then_some(())
    })
    .await?;
    wait_for(&mut be, "bob's contact", |e| {
        matches!(e, Event::ContactConnected(_)).then_some(())
    })
    .await?;
    println!(
        "alice and bob connected by a one-time invitation in {:.0} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );

    // Messages.
    let t0 = Instant::now();
    let sender = {
        let alice = alice.clone();
        tokio::spawn(async move {
            for i in 0..messages {
                alice
                    .execute(Command::SendText {
                        to: "bob".into(),
                        text: format!("message {i}"),
                    })
                    .await
                    .map_err(err)?;
            }
            Ok::<(), String>(())
        })
    };
    let mut got = 0;
    while got < messages {
        wait_for(&mut be, "a message", |e| {
            matches!(e, Event::Received(..)).then_some(())
        })
        .await?;
        got += 1;
    }
    sender.await.map_err(err)??;
    let d = t0.elapsed();
    println!(
        "{messages} text messages alice -> bob, each stored by both, in {:.2} s ({:.0} messages/s)",
        d.as_secs_f64(),
        messages as f64 / d.as_secs_f64().max(1e-9)
    );

    // A file in the chat.
    let src = dir.join("demo-file.bin");
    generate(&src, size)?;
    // The plain pipeline before and after the chat, the chat against their mean: the first
    // transfer of a run is measurably slower here (a cold relay store, the new file's pages),
    // which would otherwise count against whichever goes first.
    let plain_before = plain_transfer(&src, &xftp_address, &dir.join("plain-1")).await?;
    let t0 = Instant::now();
    alice
        .execute(Command::SendFile {
            to: "bob".into(),
            path: src.to_string_lossy().into_owned(),
        })
        .await
        .map_err(err)?;
    let file_id = wait_for(&mut be, "the file offer", |e| match e {
        Event::FileOffered { file_id, .. } => Some(file_id),
        _ => None,
    })
    .await?;
    bob.execute(Command::ReceiveFile {
        file_id,
        path: None,
    })
    .await
    .map_err(err)?;
    wait_for(&mut be, "the file", |e| {
        matches!(e, Event::FileReceived(..)).then_some(())
    })
    .await?;
    let chat_time = t0.elapsed();
    settle_copy(
        &src,
        &dir.join("bob-files").join("demo-file.bin"),
        "the file received in the chat",
    )?;
    println!(
        "{} file alice -> bob in the chat (/f, /fr): {:.2} s, {:.0} MB/s, byte-identical",
        chat_core::files::size_text(size),
        chat_time.as_secs_f64(),
        mb_per_s(size, chat_time)
    );

    let plain_after = plain_transfer(&src, &xftp_address, &dir.join("plain-2")).await?;
    let plain_time = (plain_before + plain_after) / 2;
    println!(
        "the same file with xftp send + recv, before and after: {:.2} s and {:.2} s, {:.0} MB/s; \
         the chat took {:.2}x their mean",
        plain_before.as_secs_f64(),
        plain_after.as_secs_f64(),
        mb_per_s(size, plain_time),
        chat_time.as_secs_f64() / plain_time.as_secs_f64().max(1e-9)
    );
    smp.stop();
    xftp.shutdown().await;
    println!("Demo complete: messages and a file went end-to-end encrypted through the relays.");
    Ok(())
}
