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

/// Reduces a name to a single safe file-name component: only the last component of any `/`
/// or `\` path survives; control characters are removed; `.`/`..`/empty names become
/// [`FALLBACK_NAME`]; the result is at most [`MAX_NAME_LEN`] bytes, keeping the extension
/// when it is short. For names this side chose; received names need [`sanitize_file_name`].
pub fn sanitize_component(raw: &str) -> String {
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

/// Reduces a name someone else chose to a safe, visible file name: [`sanitize_component`],
/// and also without Unicode format characters (bidirectional overrides and isolates, zero-width
/// characters: a name must read as what it is) and without leading dots (no hidden files,
/// no `.bashrc`).
pub fn sanitize_file_name(raw: &str) -> String {
    let visible: String = raw.chars().filter(|&c| !is_format_char(c)).collect();
    let component = sanitize_component(&visible);
    let undotted = component.trim_start_matches(|c: char| c == '.' || c.is_whitespace());
    if undotted.is_empty() {
        return FALLBACK_NAME.to_string();
    }
    undotted.to_string()
}

/// Unicode general category Cf (format characters), as of Unicode 15.
fn is_format_char(c: char) -> bool {
    matches!(
        u32::from(c),
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
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
        assert_eq!(sanitize_file_name(".bashrc"), "bashrc");
        assert_eq!(sanitize_file_name("...ssh"), "ssh");
        assert_eq!(sanitize_file_name(". .x"), "x");
        assert_eq!(sanitize_component(".bashrc"), ".bashrc");
        // Right-to-left override: "photo\u{202E}gpj.exe" would display as "photoexe.jpg".
        assert_eq!(sanitize_file_name("photo\u{202E}gpj.exe"), "photogpj.exe");
        assert_eq!(
            sanitize_file_name("a\u{200B}b\u{2066}c\u{2069}\u{FEFF}.txt"),
            "abc.txt"
        );
        assert_eq!(sanitize_file_name("\u{202E}\u{200F}"), FALLBACK_NAME);
        assert_eq!(sanitize_file_name("résumé 名前.pdf"), "résumé 名前.pdf");
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
