//! Section 7 of `testdata/chat/cli_transcripts.md`: files over XFTP between two
//! `simplex-chat` processes, with an SMP and an XFTP relay on 127.0.0.1 - sent, received into a
//! directory and into the files folder, byte-identical; a name already taken gets a suffix; the
//! sender cancels after the upload and the recipient is told.

mod common;

use std::collections::BTreeSet;

use common::{connect, relay, xftp_relay, Client};

fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The next `n` lines of `c`, in any order.
fn lines(c: &mut Client, n: usize) -> BTreeSet<String> {
    (0..n).map(|_| c.next()).collect()
}

fn set(items: &[String]) -> BTreeSet<String> {
    items.iter().cloned().collect()
}

#[test]
fn files_sent_received_and_cancelled() {
    let (rt, smp, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (xftp, xftp_address) = xftp_relay(&rt, dir.path());
    let folder = dir.path().join("bob-files");
    std::fs::create_dir_all(&folder).expect("folder");
    let folder_arg = folder.to_string_lossy().into_owned();
    let mut alice = Client::start_with(
        dir.path(),
        "alice",
        &server,
        &["--xftp-server", &xftp_address],
    );
    let mut bob = Client::start_with(
        dir.path(),
        "bob",
        &server,
        &[
            "--xftp-server",
            &xftp_address,
            "--files-folder",
            &folder_arg,
        ],
    );
    alice.create_profile("alice", "Alice");
    bob.create_profile("bob", "Bob");
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
