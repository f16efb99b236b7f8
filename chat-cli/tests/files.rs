//! Section 7 of `testdata/chat/cli_transcripts.md`: files over XFTP between two
//! `simplex-chat` processes, with an SMP and an XFTP relay on 127.0.0.1 - sent, received into a
//! directory and into the files folder, byte-identical; a name already taken gets a suffix; the
//! sender cancels after the upload and the recipient is told.

mod common;

use std::collections::BTreeSet;

use common::{alice_and_bob, connect, pseudo_random, relay, xftp_relay, Client};

/// The next `n` lines of `c`, in any order.
fn lines(c: &mut Client, n: usize) -> BTreeSet<String> {
    (0..n).map(|_| c.next()).collect()
}

fn set(items: &[String]) -> BTreeSet<String> {
    items.iter().cloned().collect()
}

/// Relays on 127.0.0.1 and alice and bob connected, with files over the XFTP relay.
struct Connected {
    rt: tokio::runtime::Runtime,
    smp: smp_server::Running,
    xftp: xftp_server::ServerHandle,
    dir: tempfile::TempDir,
    alice: Client,
    bob: Client,
}

fn connected_with_xftp(more: &[&str]) -> Connected {
    let (rt, smp, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (xftp, xftp_address) = xftp_relay(&rt, dir.path());
    let mut args = vec!["--xftp-server", xftp_address.as_str()];
    args.extend_from_slice(more);
    let (mut alice, mut bob) = alice_and_bob(dir.path(), &server, &args);
    connect(&mut alice, &mut bob, "Alice", "Bob");
    Connected {
        rt,
        smp,
        xftp,
        dir,
        alice,
        bob,
    }
}

/// alice and bob with an XFTP relay; bob saves into `folder` (created), with `more` options.
fn with_files_folder(
    dir: &std::path::Path,
    server: &str,
    xftp: &str,
    folder: &std::path::Path,
    more: &[&str],
) -> (Client, Client) {
    std::fs::create_dir_all(folder).expect("folder");
    let folder_arg = folder.to_string_lossy().into_owned();
    let mut alice = Client::start_with(dir, "alice", server, &["--xftp-server", xftp]);
    let mut bob_args = vec!["--xftp-server", xftp, "--files-folder", &folder_arg];
    bob_args.extend_from_slice(more);
    let mut bob = Client::start_with(dir, "bob", server, &bob_args);
    alice.create_profile("alice", "Alice");
    bob.create_profile("bob", "Bob");
    (alice, bob)
}

#[test]
fn files_sent_received_and_cancelled() {
    let (rt, smp, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (xftp, xftp_address) = xftp_relay(&rt, dir.path());
    let folder = dir.path().join("bob-files");
    let (mut alice, mut bob) = with_files_folder(dir.path(), &server, &xftp_address, &folder, &[]);
    connect(&mut alice, &mut bob, "Alice", "Bob");

    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("src");
    let pdf = src.join("test.pdf");
    std::fs::write(&pdf, pseudo_random(272_376, 7)).expect("write");
    let pdf_arg = pdf.to_string_lossy().into_owned();

    // 1. Into a directory given with /fr.
    alice.type_line(&format!("/f @bob {pdf_arg}"));
    alice.expect_item(&format!("/f @bob {pdf_arg}"));
    alice.expect("use /fc 1 to cancel sending");
    bob.expect_item("alice> sends file test.pdf (266.0 KiB / 272376 bytes)");
    bob.expect("use /fr 1 [<dir>/ | <path>] to receive it");
    let recv = dir.path().join("recv");
    let recv_arg = format!("{}/", recv.to_string_lossy());
    bob.type_line(&format!("/fr 1 {recv_arg}"));
    bob.expect(&format!("/fr 1 {recv_arg}"));
    alice.expect("completed uploading file 1 (test.pdf) for bob");
    let saved = format!("{}/test.pdf", recv.to_string_lossy());
    assert_eq!(
        lines(&mut bob, 3),
        set(&[
            format!("saving file 1 from alice to {saved}"),
            "started receiving file 1 (test.pdf) from alice".into(),
            "completed receiving file 1 (test.pdf) from alice".into(),
        ])
    );
    assert_eq!(
        std::fs::read(&saved).expect("saved"),
        std::fs::read(&pdf).expect("source"),
        "byte-identical"
    );
    alice.type_line("/fs 1");
    alice.expect("/fs 1");
    alice.expect("sending file 1 (test.pdf) complete");
    bob.type_line("/fs 1");
    bob.expect("/fs 1");
    bob.expect(&format!(
        "receiving file 1 (test.pdf) complete, path: {saved}"
    ));

    // 2. The same name again, into the files folder after the upload finished: one byte.
    let one = src.join("one.bin");
    std::fs::write(&one, b"x").expect("write");
    std::fs::write(folder.join("one.bin"), b"taken").expect("occupy the name");
    let one_arg = one.to_string_lossy().into_owned();
    alice.type_line(&format!("/f @bob {one_arg}"));
    alice.expect_item(&format!("/f @bob {one_arg}"));
    alice.expect("use /fc 2 to cancel sending");
    bob.expect_item("alice> sends file one.bin (1 bytes / 1 bytes)");
    bob.expect("use /fr 2 [<dir>/ | <path>] to receive it");
    alice.expect("completed uploading file 2 (one.bin) for bob");
    bob.type_line("/fr 2");
    bob.expect("/fr 2");
    assert_eq!(
        lines(&mut bob, 3),
        set(&[
            "saving file 2 from alice to one_1.bin".into(),
            "started receiving file 2 (one.bin) from alice".into(),
            "completed receiving file 2 (one.bin) from alice".into(),
        ])
    );
    assert_eq!(
        std::fs::read(folder.join("one_1.bin")).expect("saved"),
        b"x"
    );
    assert_eq!(
        std::fs::read(folder.join("one.bin")).expect("kept"),
        b"taken",
        "an existing file is never replaced"
    );

    // 3. The sender cancels after the upload: the recipient is told and cannot receive it.
    let big = src.join("big.bin");
    std::fs::write(&big, pseudo_random(1 << 20, 3)).expect("write");
    let big_arg = big.to_string_lossy().into_owned();
    alice.type_line(&format!("/f @bob {big_arg}"));
    alice.expect_item(&format!("/f @bob {big_arg}"));
    alice.expect("use /fc 3 to cancel sending");
    bob.expect_item("alice> sends file big.bin (1.0 MiB / 1048576 bytes)");
    bob.expect("use /fr 3 [<dir>/ | <path>] to receive it");
    alice.expect("completed uploading file 3 (big.bin) for bob");
    alice.type_line("/fc 3");
    alice.expect("/fc 3");
    alice.expect("cancelled sending file 3 (big.bin)");
    bob.expect("alice cancelled sending file 3 (big.bin)");
    bob.type_line(&format!("/fr 3 {recv_arg}"));
    bob.expect(&format!("/fr 3 {recv_arg}"));
    bob.expect("file cancelled: big.bin");
    alice.type_line("/fs 3");
    alice.expect("/fs 3");
    alice.expect("sending file 3 (big.bin) cancelled");
    bob.type_line("/fs 9");
    bob.expect("/fs 9");
    bob.expect("file 9 not found");

    smp.stop();
    rt.block_on(xftp.shutdown());
}

/// `/fr n dir/` of alice's file n: the next `count` lines (in any order) and where it is saved.
fn accept_from_alice(
    c: &mut Client,
    n: u32,
    dir: &std::path::Path,
    count: usize,
) -> (BTreeSet<String>, String) {
    let cmd = format!("/fr {n} {}/", dir.to_string_lossy());
    c.type_line(&cmd);
    c.expect(&cmd);
    let got = lines(c, count);
    let prefix = format!("saving file {n} from alice to ");
    let saved = got
        .iter()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .expect("saving line")
        .to_string();
    (got, saved)
}

/// The XFTP relay stopped while a file is sent: a warning, and the upload completes once the
/// relay is back; stopped while the file is received: a warning, then the download completes,
/// byte-identical; a relay that lost the file: the reference's `error receiving file` line and
/// the error, nothing saved.
#[test]
fn a_relay_down_delays_transfers_and_a_lost_file_fails() {
    let Connected {
        rt,
        smp,
        xftp,
        dir,
        mut alice,
        mut bob,
    } = connected_with_xftp(&[]);
    let addr = xftp.addr;
    let src = dir.path().join("f.bin");
    std::fs::write(&src, pseudo_random(100_000, 3)).expect("write");
    let arg = src.to_string_lossy().into_owned();

    rt.block_on(xftp.shutdown());
    alice.type_line(&format!("/f @bob {arg}"));
    alice.expect_item(&format!("/f @bob {arg}"));
    alice.expect("use /fc 1 to cancel sending");
    let warning = alice.next();
    assert!(
        warning
            .starts_with("warning uploading file 1 (f.bin) for bob, trying again: cannot connect"),
        "{warning}"
    );
    bob.expect_item("alice> sends file f.bin (97.7 KiB / 100000 bytes)");
    bob.expect("use /fr 1 [<dir>/ | <path>] to receive it");
    let xftp = common::restart_xftp_relay(&rt, dir.path(), addr, true);
    alice.expect("completed uploading file 1 (f.bin) for bob");

    rt.block_on(xftp.shutdown());
    let into = dir.path().join("bob-got");
    let (got, saved) = accept_from_alice(&mut bob, 1, &into, 3);
    assert!(
        got.contains("started receiving file 1 (f.bin) from alice"),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|l| l.starts_with("warning receiving file 1 (f.bin) from alice, trying again: ")),
        "{got:?}"
    );
    let xftp = common::restart_xftp_relay(&rt, dir.path(), addr, true);
    bob.expect("completed receiving file 1 (f.bin) from alice");
    assert_eq!(
        std::fs::read(&saved).expect("saved"),
        std::fs::read(&src).expect("source")
    );

    // Uploaded, then the relay loses it: the download fails for good.
    let g = dir.path().join("g.bin");
    std::fs::write(&g, pseudo_random(50_000, 4)).expect("write");
    let g_arg = g.to_string_lossy().into_owned();
    alice.type_line(&format!("/f @bob {g_arg}"));
    alice.expect_item(&format!("/f @bob {g_arg}"));
    alice.expect("use /fc 2 to cancel sending");
    bob.expect_item("alice> sends file g.bin (48.8 KiB / 50000 bytes)");
    bob.expect("use /fr 2 [<dir>/ | <path>] to receive it");
    alice.expect("completed uploading file 2 (g.bin) for bob");
    rt.block_on(xftp.shutdown());
    let xftp = common::restart_xftp_relay(&rt, dir.path(), addr, false);
    let (got, target) = accept_from_alice(&mut bob, 2, &into, 4);
    assert!(
        got.contains("error receiving file 2 (g.bin) from alice"),
        "{got:?}"
    );
    assert!(got.contains("relay error: AUTH"), "{got:?}");
    assert!(!std::path::Path::new(&target).exists(), "nothing saved");
    rt.block_on(xftp.shutdown());
    smp.stop();
}

/// Whether `dir` holds a partial download (`.xftp-<digest>.part`).
fn has_partial(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".part"))
    })
}

#[test]
fn transfers_survive_sigkill_of_sender_and_recipient() {
    let (rt, smp, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (xftp, xftp_address) = xftp_relay(&rt, dir.path());
    let recv = dir.path().join("recv");
    std::fs::create_dir_all(&recv).expect("recv");
    let alice_args = ["--xftp-server", xftp_address.as_str()];
    let bob_args = ["--xftp-server", xftp_address.as_str()];
    let mut alice = Client::start_with(dir.path(), "alice", &server, &alice_args);
    let mut bob = Client::start_with(dir.path(), "bob", &server, &bob_args);
    alice.create_profile("alice", "Alice");
    bob.create_profile("bob", "Bob");
    connect(&mut alice, &mut bob, "Alice", "Bob");

    let src = dir.path().join("big.bin");
    let content = pseudo_random(48 << 20, 11);
    std::fs::write(&src, &content).expect("write");
    let src_arg = src.to_string_lossy().into_owned();

    // The sender dies during the upload (its resumable state is on disk) and starts again.
    alice.type_line(&format!("/f @bob {src_arg}"));
    alice.expect_item(&format!("/f @bob {src_arg}"));
    alice.expect("use /fc 1 to cancel sending");
    bob.expect_item("alice> sends file big.bin (48.0 MiB / 50331648 bytes)");
    bob.expect("use /fr 1 [<dir>/ | <path>] to receive it");
    let state = dir.path().join("alice_xftp").join("1.snd");
    let in_progress = state.exists();
    alice.kill();
    let mut alice = Client::start_with(dir.path(), "alice", &server, &alice_args);
    alice.expect("Current user: alice (Alice)");
    alice.expect("1 contacts connected (use /cs for the list)");
    alice.expect("completed uploading file 1 (big.bin) for bob");
    assert!(
        !state.exists(),
        "the upload state goes once the upload is done"
    );

    // The recipient dies during the download (the partial file stays) and starts again.
    let recv_arg = format!("{}/", recv.to_string_lossy());
    bob.type_line(&format!("/fr 1 {recv_arg}"));
    bob.expect(&format!("/fr 1 {recv_arg}"));
    let started = lines(&mut bob, 2);
    assert!(started.contains("started receiving file 1 (big.bin) from alice"));
    // Wait until some of it is on disk, then kill.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !has_partial(&recv) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    bob.kill();
    let partial_at_kill = has_partial(&recv);
    let mut bob = Client::start_with(dir.path(), "bob", &server, &bob_args);
    bob.expect("Current user: bob (Bob)");
    bob.expect("1 contacts connected (use /cs for the list)");
    bob.expect("started receiving file 1 (big.bin) from alice");
    bob.expect("completed receiving file 1 (big.bin) from alice");
    let saved = recv.join("big.bin");
    assert!(
        std::fs::read(&saved).expect("saved") == content,
        "byte-identical after the restarts"
    );
    assert!(!has_partial(&recv), "no partial file left");
    // Not started over: the relay holds the file's chunks, plus at most the few that were in
    // flight at the kill (uploaded again after the restart) - not a second copy.
    let relay_files = walk_count(&dir.path().join("xftp-files"));
    let chunks = chunker::plan::prepare_chunk_sizes(content.len() as u64 + 1024).len();
    let in_flight = xftp_client::agent::SendOptions::default().parallel;
    eprintln!("chunk files on the relay: {relay_files} for {chunks} chunks");
    assert!(
        relay_files <= chunks + in_flight,
        "{relay_files} chunk files for {chunks} chunks: the upload started over"
    );
    assert!(in_progress, "the kill came during the upload");
    assert!(partial_at_kill, "the kill came during the download");
    alice.stop();
    smp.stop();
    rt.block_on(xftp.shutdown());
}

fn walk_count(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| {
                let p = e.path();
                if p.is_dir() {
                    walk_count(&p)
                } else {
                    1
                }
            })
            .sum()
    })
}

/// Files of 70 KB and 100 MB, accepted without /fr (`--auto-accept-files`), saved into the
/// files folder byte-identical; a file over the limit waits for /fr.
#[test]
fn sizes_and_auto_accept() {
    let (rt, smp, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (xftp, xftp_address) = xftp_relay(&rt, dir.path());
    let folder = dir.path().join("bob-files");
    let (mut alice, mut bob) = with_files_folder(
        dir.path(),
        &server,
        &xftp_address,
        &folder,
        &["--auto-accept-files", "100000000"],
    );
    connect(&mut alice, &mut bob, "Alice", "Bob");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("src");
    for (n, (name, size, shown)) in [
        ("small.bin", 70_000usize, "68.4 KiB / 70000 bytes"),
        ("large.bin", 100_000_000, "95.4 MiB / 100000000 bytes"),
    ]
    .into_iter()
    .enumerate()
    {
        let id = n + 1;
        let path = src.join(name);
        let content = pseudo_random(size, id as u64);
        std::fs::write(&path, &content).expect("write");
        let arg = path.to_string_lossy().into_owned();
        alice.type_line(&format!("/f @bob {arg}"));
        alice.expect_item(&format!("/f @bob {arg}"));
        alice.expect(&format!("use /fc {id} to cancel sending"));
        bob.expect_item(&format!("alice> sends file {name} ({shown})"));
        bob.expect(&format!("use /fr {id} [<dir>/ | <path>] to receive it"));
        assert_eq!(
            lines(&mut bob, 3),
            set(&[
                format!("saving file {id} from alice to {name}"),
                format!("started receiving file {id} ({name}) from alice"),
                format!("completed receiving file {id} ({name}) from alice"),
            ])
        );
        alice.expect(&format!("completed uploading file {id} ({name}) for bob"));
        assert!(
            std::fs::read(folder.join(name)).expect("saved") == content,
            "{name}: byte-identical"
        );
    }
    // One byte over the limit: offered, not accepted.
    let over = src.join("over.bin");
    std::fs::write(&over, pseudo_random(100_000_001, 9)).expect("write");
    let arg = over.to_string_lossy().into_owned();
    alice.type_line(&format!("/f @bob {arg}"));
    alice.expect_item(&format!("/f @bob {arg}"));
    alice.expect("use /fc 3 to cancel sending");
    bob.expect_item("alice> sends file over.bin (95.4 MiB / 100000001 bytes)");
    bob.expect("use /fr 3 [<dir>/ | <path>] to receive it");
    alice.expect("completed uploading file 3 (over.bin) for bob");
    bob.type_line("/fs 3");
    bob.expect("/fs 3");
    bob.expect("receiving file 3 (over.bin) not accepted yet, use /fr 3 to receive file");
    smp.stop();
    rt.block_on(xftp.shutdown());
}

/// A file with text and a quote sent through the API (`/_send @N json`), as the reference's
/// `testDeleteMemberWithMessages` shows one: the text, `/f @bob path`, how to cancel it; bob
/// gets the quote and the file, byte-identical. Both reach the relays as relays on the web port
/// (`--smp-web-port`: ALPN `http/1.1`, the addresses' own ports).
#[test]
fn a_file_with_text_and_a_quote_through_the_api() {
    let Connected {
        rt,
        smp,
        xftp,
        dir,
        mut alice,
        mut bob,
    } = connected_with_xftp(&["--smp-web-port"]);
    bob.type_line("@alice send me the report");
    bob.expect_item("@alice send me the report");
    alice.expect_item("bob> send me the report");
    let page = alice.page("@2", 1);
    let quoted = page["chatItems"][0]["meta"]["itemId"]
        .as_i64()
        .expect("item id");
    let src = dir.path().join("report.bin");
    let bytes = pseudo_random(70_000, 9);
    std::fs::write(&src, &bytes).expect("write");
    let path = src.to_string_lossy().into_owned();
    let cmd = format!(
        r#"/_send @2 json [{{"fileSource": {{"filePath": "{path}"}}, "quotedItemId": {quoted}, "msgContent": {{"type": "text", "text": "here it is"}}}}]"#
    );
    alice.type_line(&cmd);
    alice.expect(&cmd);
    alice.expect_item("@bob > send me the report");
    alice.expect("      here it is");
    alice.expect_item(&format!("/f @bob {path}"));
    alice.expect("use /fc 1 to cancel sending");
    // Quoting bob's message: `>` on both sides, as the reference's (`>>`: one's own).
    bob.expect_item("alice> > send me the report");
    bob.expect("      here it is");
    bob.expect_item("alice> sends file report.bin (68.4 KiB / 70000 bytes)");
    bob.expect("use /fr 1 [<dir>/ | <path>] to receive it");
    alice.expect("completed uploading file 1 (report.bin) for bob");
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).expect("out");
    common::groups::receive(&mut bob, 1, "report.bin", "alice", &out, "report.bin");
    assert_eq!(std::fs::read(out.join("report.bin")).expect("bob's"), bytes);
    // Received, it is sent on as a new file (`/ff`, the reference's `ForwardFile`).
    let saved = out.join("report.bin").to_string_lossy().into_owned();
    bob.type_line("/ff @alice 1");
    bob.expect("/ff @alice 1");
    bob.expect_item(&format!("/f @alice {saved}"));
    bob.expect("use /fc 2 to cancel sending");
    alice.expect_item("bob> sends file report.bin (68.4 KiB / 70000 bytes)");
    alice.expect("use /fr 2 [<dir>/ | <path>] to receive it");
    bob.expect("completed uploading file 2 (report.bin) for alice");
    let back = dir.path().join("back");
    std::fs::create_dir_all(&back).expect("back");
    common::groups::receive(&mut alice, 2, "report.bin", "bob", &back, "report.bin");
    assert_eq!(
        std::fs::read(back.join("report.bin")).expect("alice's"),
        bytes
    );
    // A file not received cannot be.
    alice.type_line("/ff @bob 7");
    alice.expect("/ff @bob 7");
    alice.expect("file 7 not found");
    smp.stop();
    rt.block_on(xftp.shutdown());
}

/// The sender cancels during the upload: the recipient is told, and the chunks already on the
/// relay are deleted (the upload state recorded them); the recipient cannot receive it.
#[test]
fn cancel_during_upload_deletes_the_uploaded_chunks() {
    let Connected {
        rt,
        smp,
        xftp,
        dir,
        mut alice,
        mut bob,
    } = connected_with_xftp(&[]);
    let src = dir.path().join("big.bin");
    std::fs::write(&src, pseudo_random(100 << 20, 5)).expect("write");
    let arg = src.to_string_lossy().into_owned();
    alice.type_line(&format!("/f @bob {arg}"));
    alice.expect_item(&format!("/f @bob {arg}"));
    alice.expect("use /fc 1 to cancel sending");
    // Cancel once more chunks are recorded as uploaded than can be in flight: if they were not
    // deleted, more would be left than in-flight uploads can explain.
    let relay_files = dir.path().join("xftp-files");
    let state = dir.path().join("alice_xftp").join("1.snd");
    let in_flight = xftp_client::agent::SendOptions::default().parallel;
    let recorded = || {
        std::fs::read_to_string(&state).map_or(0, |t| {
            t.lines().filter(|l| l.starts_with("replica ")).count()
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while recorded() <= in_flight && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let in_progress = state.exists() && recorded() > in_flight;
    alice.type_line("/fc 1");
    alice.expect("/fc 1");
    alice.expect("cancelled sending file 1 (big.bin)");
    bob.expect_item("alice> sends file big.bin (100.0 MiB / 104857600 bytes)");
    bob.expect("use /fr 1 [<dir>/ | <path>] to receive it");
    bob.expect("alice cancelled sending file 1 (big.bin)");
    // Chunks whose upload was under way at the cancel are not recorded yet: they expire.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while (walk_count(&relay_files) > in_flight || state.exists())
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let left = walk_count(&relay_files);
    eprintln!("chunk files left on the relay after the cancel: {left}");
    assert!(left <= in_flight, "{left} chunk files left on the relay");
    assert!(in_progress, "the cancel came during the upload");
    assert!(!state.exists(), "the upload state goes");
    bob.type_line("/fr 1");
    bob.expect("/fr 1");
    bob.expect("file cancelled: big.bin");
    smp.stop();
    rt.block_on(xftp.shutdown());
}

/// 1 GiB from alice to bob through the chat, received byte-identical (compared by SHA-256 as
/// it is written and read back: the test itself holds no more than a buffer of it).
#[test]
fn a_1_gib_file() {
    use std::io::{Read, Write};
    let Connected {
        rt,
        smp,
        xftp,
        dir,
        mut alice,
        mut bob,
    } = connected_with_xftp(&[]);
    let src = dir.path().join("gib.bin");
    let mut sent_hash = simplex_crypto::digest::Sha256::new();
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&src).expect("create"));
        for i in 0..1024u64 {
            let block = pseudo_random(1 << 20, i + 1);
            sent_hash.update(&block);
            f.write_all(&block).expect("write");
        }
        f.flush().expect("flush");
    }
    let arg = src.to_string_lossy().into_owned();
    alice.type_line(&format!("/f @bob {arg}"));
    alice.expect_item(&format!("/f @bob {arg}"));
    alice.expect("use /fc 1 to cancel sending");
    bob.expect_item("alice> sends file gib.bin (1.0 GiB / 1073741824 bytes)");
    bob.expect("use /fr 1 [<dir>/ | <path>] to receive it");
    let recv = dir.path().join("recv");
    std::fs::create_dir_all(&recv).expect("recv");
    let recv_arg = format!("{}/", recv.to_string_lossy());
    bob.type_line(&format!("/fr 1 {recv_arg}"));
    bob.expect(&format!("/fr 1 {recv_arg}"));
    let saved = recv.join("gib.bin");
    // A gibibyte in a debug build beside the other tests: the completion may come minutes
    // after the start (the speed is measured in release builds, not here).
    let mut got: BTreeSet<String> = (0..3)
        .map(|_| bob.next_within(std::time::Duration::from_secs(600)))
        .collect();
    assert!(got.remove(&format!(
        "saving file 1 from alice to {}",
        saved.to_string_lossy()
    )));
    assert!(got.remove("started receiving file 1 (gib.bin) from alice"));
    assert!(got.remove("completed receiving file 1 (gib.bin) from alice"));
    alice.expect("completed uploading file 1 (gib.bin) for bob");
    let mut got_hash = simplex_crypto::digest::Sha256::new();
    let mut f = std::fs::File::open(&saved).expect("saved");
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        total += n as u64;
        got_hash.update(&buf[..n]);
    }
    assert_eq!(total, 1 << 30);
    assert!(got_hash.finish() == sent_hash.finish(), "byte-identical");
    smp.stop();
    rt.block_on(xftp.shutdown());
}
