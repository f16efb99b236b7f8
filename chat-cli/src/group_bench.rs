//! `simplex-chat group-bench`: an SMP relay on 127.0.0.1 and, in this one process, a host and
//! N members (each a whole chat: its own databases, agent and connections). The host connects
//! to every member, makes a group and adds them all; the members are introduced to each other
//! until every pair is connected (N*(N-1)/2 member connections besides the host's N). Then the
//! host, and one member, each send messages to the group, timed until every member has them;
//! the process's resident memory and the host's databases are measured before and after.
//! With `--file`, an XFTP relay runs too and the host sends a file of that size to the group:
//! one upload, then every member downloads it at once; the times, what the relay stored and
//! served, and the process's CPU time are printed, each copy compared with the original.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use chat_core::chat::{Chat, ChatConfig, Event, Response};
use chat_core::command::Command;
use chat_core::protocol::{GroupMemberRole, Profile};
use tokio::sync::mpsc;

type BenchResult<T> = Result<T, String>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// What the bench waits for, counted over every chat's events.
#[derive(Default)]
struct Counts {
    contacts: usize,
    invited: usize,
    joined_host: usize,
    /// Member-side connections: joined the host, or connected to another member.
    member_links: usize,
    /// Group messages received, by chat.
    received: HashMap<usize, usize>,
    /// Invitations not yet answered: the chat's index.
    to_join: Vec<usize>,
    /// The host's file is uploaded (its descriptions sent).
    uploaded: bool,
    /// Members that saved the file.
    files_received: usize,
}

/// CPU time of this process (user + system), from /proc (in USER_HZ, 100 a second).
fn cpu_secs() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    // After the command's name (in parentheses, which may hold spaces).
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Bytes of the files under `dir` (one level deep: the relay's chunk folders).
fn tree_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.filter_map(Result::ok) {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => total += e.metadata().map_or(0, |m| m.len()),
                _ => {}
            }
        }
    }
    total
}

/// Resident memory of this process (kB), from /proc.
fn rss_kb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Bytes of a chat's databases (`<prefix>_chat.db*`, `<prefix>_agent.db*`).
fn db_bytes(dir: &Path, name: &str) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(&format!("{name}_"))
                })
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Runs the bench with `members` members and `messages` messages from each sender, then (a
/// size given) a file of `file_bytes` from the host to the group.
pub async fn run(members: usize, messages: usize, file_bytes: Option<u64>) -> BenchResult<()> {
    if !(2..=200).contains(&members) || !(1..=10_000).contains(&messages) {
        return Err("--members 2 to 200, --messages 1 to 10,000".into());
    }
    let work = tempfile::tempdir().map_err(err)?;
    let dir = work.path();
    let (smp, smp_address) = crate::demo::start_smp().await?;
    println!("Started an SMP relay: {smp_address}");
    let xftp = match file_bytes {
        Some(_) => {
            let (handle, address) = crate::demo::start_xftp(dir).await?;
            println!("Started an XFTP relay: {}", handle.address);
            Some((handle, address))
        }
        None => None,
    };

    // Chat 0 is the host, 1..=members the members.
    let names: Vec<String> = (0..=members)
        .map(|i| {
            if i == 0 {
                "host".into()
            } else {
                format!("m{i}")
            }
        })
        .collect();
    let (tx, mut rx) = mpsc::channel::<(usize, Event)>(65_536);
    let mut chats = Vec::with_capacity(members + 1);
    for (i, name) in names.iter().enumerate() {
        let config = ChatConfig {
            db_prefix: dir.join(name),
            db_key: None,
            smp_server: smp_address.parse().map_err(err)?,
            connect: smp_client::ConnectOptions::default(),
            xftp_servers: xftp.iter().map(|(_, a)| a.clone()).collect(),
            files_folder: dir.join(format!("{name}-files")),
            max_file_size: chunker::plan::DEFAULT_MAX_FILE_SIZE,
            auto_accept_size: 0,
            event_queue: chat_core::chat::DEFAULT_EVENT_QUEUE,
            chat_relay: false,
            relay_address_server: None,
            relay_max_channels: chat_core::channels::DEFAULT_MAX_CHANNELS,
        };
        let profile = Profile {
            display_name: name.clone(),
            full_name: String::new(),
            ..Profile::default()
        };
        let (chat, mut events) = Chat::open(&config, Some(profile)).await.map_err(err)?;
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(e) = events.recv().await {
                if tx.send((i, e)).await.is_err() {
                    return;
                }
            }
        });
        chats.push(chat);
    }
    let host = chats[0].clone();
    let mut counts = Counts::default();
    // Folds events into the counts until `done` holds (10 minutes at most).
    async fn until(
        rx: &mut mpsc::Receiver<(usize, Event)>,
        counts: &mut Counts,
        what: &str,
        done: impl Fn(&Counts) -> bool,
    ) -> BenchResult<()> {
        let deadline = Instant::now() + Duration::from_secs(600);
        let mut report = Instant::now() + Duration::from_secs(10);
        while !done(counts) {
            if Instant::now() >= report {
                // Progress on long runs.
                eprintln!(
                    "waiting for {what}: {} joined, {} member connections, {} messages",
                    counts.joined_host,
                    counts.member_links,
                    counts.received.values().sum::<usize>()
                );
                report = Instant::now() + Duration::from_secs(10);
            }
            let left = deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_secs(10));
            let Ok(next) = tokio::time::timeout(left, rx.recv()).await else {
                if Instant::now() >= deadline {
                    return Err(format!("no {what} in 10 minutes"));
                }
                continue;
            };
            let (i, e) = next.ok_or("the chats stopped")?;
            match e {
                Event::ContactConnected(_) => counts.contacts += 1,
                Event::GroupInvited { .. } => {
                    counts.invited += 1;
                    counts.to_join.push(i);
                }
                Event::MemberJoined(..) => counts.joined_host += 1,
                Event::UserJoinedGroup(..) | Event::MemberConnected(..) => counts.member_links += 1,
                Event::GroupReceived(..) => *counts.received.entry(i).or_default() += 1,
                Event::FileUploaded(..) => counts.uploaded = true,
                Event::FileReceived(..) => counts.files_received += 1,
                Event::Error(e) => return Err(format!("chat {i}: {e}")),
                Event::FileFailed(t) => {
                    return Err(format!("chat {i}: file {}: {}", t.name, t.error))
                }
                _ => {}
            }
        }
        Ok(())
    }

    // The host's contacts.
    let t0 = Instant::now();
    for (i, chat) in chats.iter().enumerate().skip(1) {
        let Response::Invitation { link, .. } =
            host.execute(Command::CreateInvitation).await.map_err(err)?
        else {
            return Err("no invitation".into());
        };
        chat.execute(Command::Connect(link))
            .await
            .map_err(|e| format!("m{i}: {e}"))?;
    }
    until(&mut rx, &mut counts, "contacts", |c| {
        c.contacts >= 2 * members
    })
    .await?;
    let contacts_time = t0.elapsed();
    let rss_before = rss_kb();
    let host_db_before = db_bytes(dir, "host");

    // The group: everyone added, everyone joins; every pair connects.
    let t0 = Instant::now();
    host.execute(Command::NewGroup {
        name: "bench".into(),
        full_name: String::new(),
        incognito: false,
    })
    .await
    .map_err(err)?;
    for name in names.iter().skip(1) {
        host.execute(Command::AddMember {
            group: "bench".into(),
            contact: name.clone(),
            role: GroupMemberRole::Member,
        })
        .await
        .map_err(err)?;
    }
    let mut joined = 0;
    while joined < members {
        until(&mut rx, &mut counts, "invitations", |c| {
            !c.to_join.is_empty()
        })
        .await?;
        for i in std::mem::take(&mut counts.to_join) {
            chats[i]
                .execute(Command::JoinGroup("bench".into()))
                .await
                .map_err(|e| format!("m{i}: {e}"))?;
            joined += 1;
        }
    }
    let links = members * members;
    until(&mut rx, &mut counts, "the member connections", |c| {
        c.joined_host >= members && c.member_links >= links
    })
    .await?;
    let mesh_time = t0.elapsed();
    let rss_after = rss_kb();
    let host_db_after = db_bytes(dir, "host");
    println!(
        "{members} contacts in {:.1} s; group of {} with every pair connected ({} connections) in {:.1} s",
        contacts_time.as_secs_f64(),
        members + 1,
        members + members * (members - 1) / 2,
        mesh_time.as_secs_f64()
    );

    // Fan-out: the host's messages, then one member's.
    for (sender, others) in [(0usize, members), (1usize, members)] {
        counts.received.clear();
        let t0 = Instant::now();
        for k in 0..messages {
            chats[sender]
                .execute(Command::SendGroup {
                    group: "bench".into(),
                    text: format!("message {k} from {}", names[sender]),
                })
                .await
                .map_err(err)?;
        }
        let sent = t0.elapsed();
        until(&mut rx, &mut counts, "the messages", |c| {
            c.received.values().sum::<usize>() >= others * messages
        })
        .await?;
        let all = t0.elapsed();
        println!(
            "{messages} messages from {} to {others} members: sent in {:.2} s ({:.1} ms each), all received in {:.2} s ({:.0} deliveries/s)",
            names[sender],
            sent.as_secs_f64(),
            sent.as_secs_f64() * 1e3 / messages as f64,
            all.as_secs_f64(),
            (others * messages) as f64 / all.as_secs_f64().max(1e-9)
        );
    }
    if let (Some(a), Some(b)) = (rss_before, rss_after) {
        let conns = members * (members - 1); // both ends of each member-member connection
        let per = (b.saturating_sub(a) * 1024) as f64 / (conns + 2 * members) as f64;
        println!(
            "resident memory of the process: {:.1} MiB before the group, {:.1} MiB after ({:.1} KiB per connection end, {} ends)",
            a as f64 / 1024.0,
            b as f64 / 1024.0,
            per / 1024.0,
            conns + 2 * members
        );
    }
    println!(
        "the host's databases: {:.1} KiB more for {members} members ({:.1} KiB per member)",
        host_db_after.saturating_sub(host_db_before) as f64 / 1024.0,
        host_db_after.saturating_sub(host_db_before) as f64 / 1024.0 / members as f64
    );
    if let (Some(size), true) = (file_bytes, xftp.is_some()) {
        let source = dir.join("group-file.bin");
        crate::demo::generate(&source, size)?;
        let cpu0 = cpu_secs();
        let t0 = Instant::now();
        host.execute(Command::SendGroupFile {
            group: "bench".into(),
            path: source.to_string_lossy().into_owned(),
            image: false,
        })
        .await
        .map_err(err)?;
        until(&mut rx, &mut counts, "the upload", |c| c.uploaded).await?;
        let upload = t0.elapsed();
        let stored = tree_bytes(&dir.join("xftp-files"));
        let cpu1 = cpu_secs();
        let t1 = Instant::now();
        for (i, chat) in chats.iter().enumerate().skip(1) {
            std::fs::create_dir_all(dir.join(format!("{}-files", names[i]))).map_err(err)?;
            chat.execute(Command::ReceiveFile {
                file_id: 1,
                path: None,
            })
            .await
            .map_err(|e| format!("m{i}: {e}"))?;
        }
        until(&mut rx, &mut counts, "the downloads", |c| {
            c.files_received >= members
        })
        .await?;
        let download = t1.elapsed();
        let cpu2 = cpu_secs();
        for name in names.iter().skip(1) {
            let copy = dir.join(format!("{name}-files")).join("group-file.bin");
            if !crate::demo::same_content(&source, &copy)? {
                return Err(format!("{name}'s copy differs from the file sent"));
            }
        }
        let mb = size as f64 / 1e6;
        println!(
            "a {} file to {members} members: uploaded once in {:.2} s ({:.0} MB/s), the relay stored {:.1} MB; {members} downloads at once in {:.2} s ({:.0} MB/s served); all {members} copies identical",
            chat_core::files::size_text(size),
            upload.as_secs_f64(),
            mb / upload.as_secs_f64().max(1e-9),
            stored as f64 / 1e6,
            download.as_secs_f64(),
            mb * members as f64 / download.as_secs_f64().max(1e-9),
        );
        if let (Some(a), Some(b), Some(c)) = (cpu0, cpu1, cpu2) {
            println!(
                "CPU of the process (relays and all clients): {:.2} s for the upload, {:.2} s for the downloads",
                b - a,
                c - b
            );
        }
    }
    for chat in &chats {
        chat.close().await;
    }
    if let Some((handle, _)) = xftp {
        handle.shutdown().await;
    }
    smp.stop();
    Ok(())
}
