//! The chunk engine on real files: every stage of the pipeline timed on its own and then the
//! pipelines, in one run; and encryption and decryption as separate processes so that the peak
//! memory of each can be measured.
//!
//! ```text
//! cargo build --release --example chunk_roundtrip
//! B=target/release/examples/chunk_roundtrip
//! $B bench [SIZE_MIB=1024] [DIR]         # stages alone vs pipelines, same source, one run
//! $B source SIZE_MIB FILE                # a file of pseudo-random bytes
//! /usr/bin/time -v $B encrypt FILE CHUNK_DIR    # chunk files + keys.txt (key, nonce, digests)
//! /usr/bin/time -v $B decrypt CHUNK_DIR OUT_DIR # verified file in OUT_DIR
//! ```

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

use chunker::{
    encrypt_file, DecryptOptions, DecryptParams, Decryptor, EncryptOptions, SbKey, SbNonce,
    SecretBoxStream,
};
use simplex_crypto::digest::{Sha256, Sha512};

const PIECE: usize = 4 << 20;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    match (arg(0), arg(1), arg(2)) {
        (Some("bench") | None, size, dir) => bench(size.map(str::parse).transpose()?.unwrap_or(1024), dir),
        (Some("source"), Some(size), Some(file)) => make_source(Path::new(file), size.parse::<u64>()? << 20).map_err(Into::into),
        (Some("encrypt"), Some(file), Some(dir)) => encrypt_to_dir(Path::new(file), Path::new(dir)),
        (Some("decrypt"), Some(dir), Some(out)) => decrypt_from_dir(Path::new(dir), Path::new(out)),
        _ => Err("usage: chunk_roundtrip bench [SIZE_MIB] [DIR] | source SIZE_MIB FILE | encrypt FILE CHUNK_DIR | decrypt CHUNK_DIR OUT_DIR".into()),
    }
}

/// Encrypts `file` into numbered chunk files in `dir`, plus `keys.txt` for `decrypt`.
fn encrypt_to_dir(file: &Path, dir: &Path) -> Res<()> {
    std::fs::create_dir_all(dir)?;
    let key = SbKey::generate();
    let nonce = SbNonce::generate();
    let t = Instant::now();
    let mut enc = encrypt_file(file, &key, &nonce, &EncryptOptions::default())?;
    for chunk in enc.by_ref() {
        let chunk = chunk?;
        File::create(dir.join(chunk.index.to_string()))?.write_all(chunk.data())?;
    }
    let s = enc.finish()?;
    let secs = t.elapsed().as_secs_f64();
    let mut keys = format!(
        "{}\n{}\n{}\n",
        hex(key.as_bytes()),
        hex(&nonce.0),
        hex(&s.digest)
    );
    for (size, d) in s.plan.chunk_sizes().iter().zip(&s.chunk_digests) {
        keys.push_str(&format!("{size} {}\n", hex(d)));
    }
    std::fs::write(dir.join("keys.txt"), keys)?;
    println!(
        "encrypted {} bytes into {} chunks in {secs:.2} s ({:.0} MB/s, chunk files written)",
        s.plan.file_size(),
        s.plan.chunk_count(),
        mbps(s.plan.enc_size(), secs)
    );
    Ok(())
}

/// Decrypts the chunk files written by `encrypt` into `out`.
fn decrypt_from_dir(dir: &Path, out: &Path) -> Res<()> {
    std::fs::create_dir_all(out)?;
    let keys = std::fs::read_to_string(dir.join("keys.txt"))?;
    let mut lines = keys.lines();
    let mut next = || lines.next().ok_or("keys.txt is truncated");
    let key = SbKey::from_bytes(unhex(next()?)?.try_into().map_err(|_| "bad key")?);
    let nonce = SbNonce(unhex(next()?)?.try_into().map_err(|_| "bad nonce")?);
    let digest: [u8; 64] = unhex(next()?)?.try_into().map_err(|_| "bad digest")?;
    let (mut sizes, mut digests) = (Vec::new(), Vec::new());
    for line in lines {
        let (size, d) = line.split_once(' ').ok_or("bad chunk line")?;
        sizes.push(size.parse::<u32>()?);
        digests.push(unhex(d)?.try_into().map_err(|_| "bad chunk digest")?);
    }
    let params = DecryptParams {
        key,
        nonce,
        chunk_sizes: sizes.clone(),
        digest,
        chunk_digests: Some(digests),
    };
    let t = Instant::now();
    let mut dec = Decryptor::new(params, DecryptOptions::new(out))?;
    for (i, &size) in sizes.iter().enumerate() {
        let mut data = dec.recycled_buffer().unwrap_or_default();
        data.resize(size as usize, 0);
        File::open(dir.join(i.to_string()))?.read_exact(&mut data)?;
        dec.push(data)?;
    }
    let done = dec.finish()?;
    let secs = t.elapsed().as_secs_f64();
    let total: u64 = sizes.iter().map(|&s| u64::from(s)).sum();
    println!(
        "decrypted {} bytes to {} in {secs:.2} s ({:.0} MB/s, chunk reads and fsync included)",
        done.size,
        done.path.display(),
        mbps(total, secs)
    );
    Ok(())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Res<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| Ok(u8::from_str_radix(s.get(i..i + 2).ok_or("odd hex")?, 16)?))
        .collect()
}

/// Times each stage alone, then the pipelines, over one generated source file.
fn bench(mib: u64, base: Option<&str>) -> Res<()> {
    let tmp = tempdir(base)?;
    let dir = tmp.path();
    let src = dir.join("source.bin");
    let size = mib << 20;
    make_source(&src, size)?;
    println!("source: {} MiB in {}", mib, dir.display());

    // Each stage alone, over the same bytes, in 4 MiB pieces.
    let mut buf = vec![0u8; PIECE];
    let read = stage(size, || {
        let f = File::open(&src)?;
        for_each_piece(&f, size, &mut buf, |_| {})
    })?;
    let key = SbKey::generate();
    let nonce = SbNonce::generate();
    let encrypt = stage(size, || {
        let f = File::open(&src)?;
        let mut s = SecretBoxStream::new(&key, &nonce);
        for_each_piece(&f, size, &mut buf, |p| s.encrypt_in_place(p))
    })?;
    let sha256 = stage(size, || {
        let f = File::open(&src)?;
        let mut h = Sha256::new();
        for_each_piece(&f, size, &mut buf, |p| h.update(p))?;
        std::hint::black_box(h.finish());
        Ok(())
    })?;
    let sha512 = stage(size, || {
        let f = File::open(&src)?;
        let mut h = Sha512::new();
        for_each_piece(&f, size, &mut buf, |p| h.update(p))?;
        std::hint::black_box(h.finish());
        Ok(())
    })?;
    // Writing a file of that size from a hot buffer: the floor of any receiver's output.
    let write = stage(size, || {
        let f = File::open(&src)?;
        let mut out = File::create(dir.join("copy.bin"))?;
        for_each_piece(&f, size, &mut buf, |_| {})?;
        let piece = vec![7u8; PIECE];
        let mut left = size;
        while left > 0 {
            let n = left.min(PIECE as u64) as usize;
            out.write_all(&piece[..n])?;
            left -= n as u64;
        }
        Ok(())
    })?;
    std::fs::remove_file(dir.join("copy.bin"))?;
    drop(buf);

    // The pipelined encryptor alone: chunks are dropped as they come.
    let t = Instant::now();
    let mut enc = encrypt_file(&src, &key, &nonce, &EncryptOptions::default())?;
    for chunk in enc.by_ref() {
        std::hint::black_box(chunk?.data().len());
    }
    let summary = enc.finish()?;
    let enc_size = summary.plan.enc_size();
    let pipeline = mbps(enc_size, t.elapsed().as_secs_f64());

    // Again, writing each chunk to its own file as a relay would store it.
    let chunks_dir = dir.join("chunks");
    std::fs::create_dir_all(&chunks_dir)?;
    let t = Instant::now();
    let mut enc = encrypt_file(&src, &key, &nonce, &EncryptOptions::default())?;
    for chunk in enc.by_ref() {
        let chunk = chunk?;
        File::create(chunks_dir.join(chunk.index.to_string()))?.write_all(chunk.data())?;
    }
    let again = enc.finish()?;
    let pipeline_total = t.elapsed();
    if again != summary {
        return Err("two encryptions of the same file differ".into());
    }

    // The pipelined decryptor, reading chunk files back one at a time.
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&out_dir)?;
    let params = DecryptParams {
        key: key.clone(),
        nonce,
        chunk_sizes: summary.plan.chunk_sizes().to_vec(),
        digest: summary.digest,
        chunk_digests: Some(summary.chunk_digests.clone()),
    };
    let t = Instant::now();
    let mut dec = Decryptor::new(params, DecryptOptions::new(&out_dir))?;
    let mut read_time = std::time::Duration::ZERO;
    for i in 0..summary.plan.chunk_count() {
        let r = Instant::now();
        let mut data = dec.recycled_buffer().unwrap_or_default();
        data.resize(summary.plan.chunk_sizes()[i] as usize, 0);
        File::open(chunks_dir.join(i.to_string()))?.read_exact(&mut data)?;
        read_time += r.elapsed();
        dec.push(data)?;
    }
    let f = Instant::now();
    let done = dec.finish()?;
    let finish = f.elapsed();
    let dec_total = t.elapsed();
    let decrypt = mbps(enc_size, (dec_total - read_time).as_secs_f64());

    let same = digest_file(&src)? == digest_file(&done.path)?;
    let slowest = read.min(encrypt).min(sha256).min(sha512);
    let slowest_dec = slowest.min(write);
    println!("stage alone, MB/s: read {read:.0}  encrypt+MAC {encrypt:.0}  SHA-256 {sha256:.0}  SHA-512 {sha512:.0}  write new file {write:.0}");
    println!(
        "pipelined encryptor: {pipeline:.0} MB/s = {:.0}% of the slowest stage ({slowest:.0} MB/s); writing chunk files too: {:.2} s",
        100.0 * pipeline / slowest,
        pipeline_total.as_secs_f64()
    );
    println!(
        "pipelined decryptor: {decrypt:.0} MB/s = {:.0}% of its slowest stage ({slowest_dec:.0} MB/s) (chunk reads excluded); with reads {:.2} s, of which final fsync + rename {:.2} s",
        100.0 * decrypt / slowest_dec,
        dec_total.as_secs_f64(),
        finish.as_secs_f64()
    );
    println!(
        "chunks: {}  encrypted size: {} bytes  output identical: {same}",
        summary.plan.chunk_count(),
        enc_size
    );
    if !same {
        return Err("decrypted file differs from the source".into());
    }
    Ok(())
}

fn mbps(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / 1e6 / secs
}

fn stage(size: u64, mut f: impl FnMut() -> std::io::Result<()>) -> Res<f64> {
    let t = Instant::now();
    f()?;
    Ok(mbps(size, t.elapsed().as_secs_f64()))
}

fn for_each_piece(
    f: &File,
    size: u64,
    buf: &mut [u8],
    mut g: impl FnMut(&mut [u8]),
) -> std::io::Result<()> {
    let mut at = 0u64;
    while at < size {
        let n = (size - at).min(buf.len() as u64) as usize;
        f.read_exact_at(&mut buf[..n], at)?;
        g(&mut buf[..n]);
        at += n as u64;
    }
    Ok(())
}

fn make_source(path: &Path, size: u64) -> std::io::Result<()> {
    let mut f = File::create(path)?;
    let mut piece = vec![0u8; PIECE];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut left = size;
    while left > 0 {
        for w in piece.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(PIECE as u64) as usize;
        f.write_all(&piece[..n])?;
        left -= n as u64;
    }
    f.sync_all()
}

fn digest_file(path: &Path) -> std::io::Result<[u8; 32]> {
    let f = File::open(path)?;
    let size = f.metadata()?.len();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; PIECE];
    for_each_piece(&f, size, &mut buf, |p| h.update(p))?;
    Ok(h.finish())
}

fn tempdir(base: Option<&str>) -> std::io::Result<tempfile::TempDir> {
    match base {
        Some(b) => tempfile::tempdir_in(b),
        None => tempfile::tempdir(),
    }
}
