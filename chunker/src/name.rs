//! File names that came from someone else: sanitized to one safe path component, and written
//! without ever replacing an existing file.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Longest sanitized name, in bytes (the usual file-system component limit).
pub const MAX_NAME_LEN: usize = 255;
/// Used when nothing of the received name survives sanitizing.
pub const FALLBACK_NAME: &str = "file";
/// How many `_N` suffixes are tried before giving up.
pub const MAX_UNIQUE_ATTEMPTS: u32 = 10_000;

/// Reduces a received name to a single safe file-name component: only the last component of
/// any `/` or `\` path survives; control characters are removed; `.`/`..`/empty names become
/// [`FALLBACK_NAME`]; the result is at most [`MAX_NAME_LEN`] bytes, keeping the extension
/// when it is short.
pub fn sanitize_file_name(raw: &str) -> String {
    let last = raw
        .rsplit(['/', '\\'])
        .find(|c| !c.trim().is_empty())
        .unwrap_or("");
    let cleaned: String = last.chars().filter(|c| !c.is_control()).collect();
    let trimmed = cleaned.trim();
    if trimmed.is_empty() || trimmed.chars().all(|c| c == '.') {
        return FALLBACK_NAME.to_string();
    }
    cap_len(trimmed, MAX_NAME_LEN)
}

/// Truncates `name` to at most `max` bytes on a character boundary, keeping an extension of up
/// to 16 bytes.
fn cap_len(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let (stem, ext) = split_ext(name);
    let ext = if ext.len() <= 16 { ext } else { "" };
    let room = max - ext.len();
    let mut end = room.min(stem.len());
    while !stem.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{}", &stem[..end], ext)
}

/// Splits `name` into stem and extension (with its dot); a leading dot is not an extension.
fn split_ext(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if i > 0 => name.split_at(i),
        _ => (name, ""),
    }
}

/// The `n`-th candidate for `name`: `name` itself, then `stem_1.ext`, `stem_2.ext`, ...
pub fn numbered_name(name: &str, n: u32) -> String {
    if n == 0 {
        return name.to_string();
    }
    let (stem, ext) = split_ext(name);
    format!("{stem}_{n}{ext}")
}

/// Moves the finished file `tmp` into `dir` under `name` or the first free `name_N` variant,
/// atomically and without replacing any existing file. Returns the final path.
pub fn persist_no_clobber(tmp: &Path, dir: &Path, name: &str) -> io::Result<PathBuf> {
    for n in 0..MAX_UNIQUE_ATTEMPTS {
        let candidate = dir.join(numbered_name(name, n));
        // A hard link fails with AlreadyExists instead of replacing: the atomic no-clobber rename.
        match fs::hard_link(tmp, &candidate) {
            Ok(()) => {
                fs::remove_file(tmp)?;
                return Ok(candidate);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) if link_unsupported(&e) => {
                if fs::symlink_metadata(&candidate).is_ok() {
                    continue;
                }
                fs::rename(tmp, &candidate)?;
                return Ok(candidate);
            }
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("no free name for {name:?} after {MAX_UNIQUE_ATTEMPTS} attempts"),
    ))
}

/// File systems without hard links (some FUSE and FAT mounts) answer with these.
fn link_unsupported(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Unsupported | io::ErrorKind::PermissionDenied
    ) || e.raw_os_error() == Some(95) // EOPNOTSUPP on Linux
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names() {
        assert_eq!(sanitize_file_name("../x"), "x");
        assert_eq!(sanitize_file_name("/etc/passwd"), "passwd");
        assert_eq!(sanitize_file_name("a/b"), "b");
        assert_eq!(sanitize_file_name("a\\b"), "b");
        assert_eq!(sanitize_file_name("dir/"), "dir");
        assert_eq!(sanitize_file_name("ev\0il\n.txt"), "evil.txt");
        assert_eq!(sanitize_file_name(".."), FALLBACK_NAME);
        assert_eq!(sanitize_file_name("."), FALLBACK_NAME);
        assert_eq!(sanitize_file_name(""), FALLBACK_NAME);
        assert_eq!(sanitize_file_name("/"), FALLBACK_NAME);
        assert_eq!(sanitize_file_name("\u{1b}[31m"), "[31m");
        assert_eq!(sanitize_file_name(".bashrc"), ".bashrc");
        let long = format!("{}.jpeg", "é".repeat(150));
        let s = sanitize_file_name(&long);
        assert!(s.len() <= MAX_NAME_LEN && s.ends_with(".jpeg"), "{s}");
        let s = sanitize_file_name(&"x".repeat(300));
        assert_eq!(s.len(), MAX_NAME_LEN);
    }

    #[test]
    fn numbering() {
        assert_eq!(numbered_name("a.txt", 0), "a.txt");
        assert_eq!(numbered_name("a.txt", 2), "a_2.txt");
        assert_eq!(numbered_name("a", 1), "a_1");
        assert_eq!(numbered_name(".env", 1), ".env_1");
        assert_eq!(numbered_name("a.tar.gz", 1), "a.tar_1.gz");
    }

    #[test]
    fn never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.txt"), b"mine").unwrap();
        let tmp = dir.path().join(".tmp1");
        fs::write(&tmp, b"theirs").unwrap();
        let p = persist_no_clobber(&tmp, dir.path(), "a.txt").unwrap();
        assert_eq!(p, dir.path().join("a_1.txt"));
        assert_eq!(fs::read(dir.path().join("a.txt")).unwrap(), b"mine");
        assert_eq!(fs::read(&p).unwrap(), b"theirs");
        assert!(!tmp.exists());
    }
}
