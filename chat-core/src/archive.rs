//! Chat archives (the reference's `/db export`, `/_db export`, `/_db import`): every user's
//! databases and the received files in one zip file, made while the chat is stopped, and
//! read back in place of the databases - a backup, or a move to another machine.
//!
//! ```text
//! db/_users.db, db/_chat.db, db/_agent.db, db/_u2_chat.db, ...   the databases (as stored:
//!                                                                encrypted ones stay so)
//! db/<name>-wal                                                  their journals, if any
//! files/<name>                                                   the files folder's files
//! ```
//!
//! The databases' names are their file names after the prefix (`-d`), so an archive goes to
//! any prefix. Our databases are not the reference's (its archives hold its own schema):
//! archives go between our clients only.
//!
//! Reading one loses nothing: every entry is checked (names from a fixed set - no paths -,
//! sizes as declared, at most [`MAX_ENTRY`] each) and the databases are written beside the
//! current ones first; only when all are whole are the current ones moved aside (to
//! `<name>.before-import-<ms>`, never deleted) and the new ones put in their place. Files
//! come in under names that take no existing file's place. The chat then must be started
//! again (`error: chat store changed, please restart chat`), as the reference's.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// An entry's size at most (a database or a file: files are at most 1 GiB here).
pub const MAX_ENTRY: u64 = 64 << 30;
/// Entries at most.
pub const MAX_ENTRIES: usize = 100_000;

/// What an export or import is given (the reference's `ArchiveConfig`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchiveConfig {
    /// The archive's path.
    pub archive_path: String,
    /// Entries stored, not compressed.
    #[serde(default)]
    pub disable_compression: Option<bool>,
    /// (The reference's temporary folder: not needed here.)
    #[serde(default)]
    pub parent_temp_directory: Option<String>,
}

/// A failure of an archive as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Reading or writing a file failed.
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    /// The zip file could not be read or written.
    #[error("archive {0}: {1}")]
    Zip(String, String),
    /// An entry is not what it says it is.
    #[error("archive entry {0}: {1}")]
    Entry(String, String),
}

type Result<T> = std::result::Result<T, ArchiveError>;

fn io(what: &Path) -> impl Fn(std::io::Error) -> ArchiveError + '_ {
    move |e| ArchiveError::Io(what.display().to_string(), e)
}

/// A database's name in the archive: its file name after the prefix's.
fn db_entry(prefix: &Path, db: &Path) -> Option<String> {
    let base = prefix.file_name()?.to_str()?;
    let name = db.file_name()?.to_str()?;
    Some(format!("db/{}", name.strip_prefix(base)?))
}

/// Whether `tail` names one of our databases or journals: `_users.db`, `_chat.db`,
/// `_agent.db`, `_u<N>_chat.db`, `_u<N>_agent.db`, each possibly with `-wal`.
fn known_db(tail: &str) -> bool {
    let tail = tail.strip_suffix("-wal").unwrap_or(tail);
    if tail == "_users.db" || tail == "_chat.db" || tail == "_agent.db" {
        return true;
    }
    let Some(rest) = tail.strip_prefix("_u") else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && digits < 10 && matches!(&rest[digits..], "_chat.db" | "_agent.db")
}

/// A received file's name as it may be kept: one plain component.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name.len() <= 255
        && !name.contains(['/', '\\', '\0'])
        && !name.chars().any(char::is_control)
}

/// Writes the archive `to` (a new file: an existing one is not replaced) of the databases
/// `dbs` (at `prefix`, with their journals) and the files of `files_folder`; the files that
/// could not be read (skipped, as the reference reports them).
pub fn export(
    prefix: &Path,
    dbs: &[PathBuf],
    files_folder: &Path,
    to: &Path,
    compress: bool,
) -> Result<Vec<String>> {
    // The databases' secrets are in it: readable by the user only.
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    let out = open.open(to).map_err(io(to))?;
    let written = write_archive(out, prefix, dbs, files_folder, to, compress);
    if written.is_err() {
        // Ours, made just now: a partial archive is no archive.
        let _ = std::fs::remove_file(to);
    }
    written
}

fn write_archive(
    out: std::fs::File,
    prefix: &Path,
    dbs: &[PathBuf],
    files_folder: &Path,
    to: &Path,
    compress: bool,
) -> Result<Vec<String>> {
    let zerr =
        |e: zip::result::ZipError| ArchiveError::Zip(to.display().to_string(), e.to_string());
    let method = if compress {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(method)
        .large_file(true);
    let mut zip = zip::ZipWriter::new(out);
    let add = |zip: &mut zip::ZipWriter<std::fs::File>, name: &str, path: &Path| -> Result<()> {
        let mut f = std::fs::File::open(path).map_err(io(path))?;
        zip.start_file(name, options).map_err(zerr)?;
        std::io::copy(&mut f, zip).map_err(io(path))?;
        Ok(())
    };
    for db in dbs {
        let name = db_entry(prefix, db).ok_or_else(|| {
            ArchiveError::Entry(db.display().to_string(), "not a database".into())
        })?;
        add(&mut zip, &name, db)?;
        let mut wal = db.clone().into_os_string();
        wal.push("-wal");
        let wal = PathBuf::from(wal);
        if wal.is_file() {
            add(&mut zip, &format!("{name}-wal"), &wal)?;
        }
    }
    let mut skipped = Vec::new();
    // Not the archive itself, nor a database, when they are in the files folder.
    let same = |a: &Path, b: &Path| matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b);
    let ours = |p: &Path| {
        same(p, to)
            || dbs.iter().any(|d| {
                let name = d.file_name().unwrap_or_default().to_string_lossy();
                let file = p.file_name().unwrap_or_default().to_string_lossy();
                file.starts_with(name.as_ref())
                    && same(p.parent().unwrap_or(p), d.parent().unwrap_or(d))
            })
    };
    if let Ok(list) = std::fs::read_dir(files_folder) {
        let mut names: Vec<(String, PathBuf)> = list
            .flatten()
            // Files only: no links followed, no folders.
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter(|e| !ours(&e.path()))
            .filter_map(|e| Some((e.file_name().to_str()?.to_string(), e.path())))
            .filter(|(n, _)| plain_name(n))
            .collect();
        names.sort();
        for (name, path) in names {
            if let Err(e) = add(&mut zip, &format!("files/{name}"), &path) {
                match e {
                    ArchiveError::Io(..) => skipped.push(format!("{name}: {e}")),
                    e => return Err(e),
                }
            }
        }
    }
    let out = zip.finish().map_err(zerr)?;
    out.sync_all().map_err(io(to))?;
    Ok(skipped)
}

/// Reads the archive `from` in place of the databases at `prefix` (see the module) and its
/// files into `files_folder`; the entries that were not taken (unknown ones, files that
/// could not be written), as the reference reports them. Nothing changes when a database
/// entry is bad.
pub fn import(prefix: &Path, files_folder: &Path, from: &Path) -> Result<Vec<String>> {
    let f = std::fs::File::open(from).map_err(io(from))?;
    let zerr =
        |e: zip::result::ZipError| ArchiveError::Zip(from.display().to_string(), e.to_string());
    let mut zip = zip::ZipArchive::new(f).map_err(zerr)?;
    if zip.len() > MAX_ENTRIES {
        return Err(ArchiveError::Zip(
            from.display().to_string(),
            format!("more than {MAX_ENTRIES} entries"),
        ));
    }
    let stamp = crate::store::now_ms();
    let target = |tail: &str| -> PathBuf {
        let mut p = prefix.as_os_str().to_owned();
        p.push(tail);
        PathBuf::from(p)
    };
    let with = |p: &Path, tail: &str| -> PathBuf {
        let mut s = p.as_os_str().to_owned();
        s.push(tail);
        PathBuf::from(s)
    };
    // The databases first, each to `<name>.importing`.
    let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();
    let mut skipped = Vec::new();
    let mut files = Vec::new();
    let fail = |staged: &[(PathBuf, PathBuf)], e: ArchiveError| {
        for (tmp, _) in staged {
            let _ = std::fs::remove_file(tmp);
        }
        e
    };
    for i in 0..zip.len() {
        let mut entry = match zip.by_index(i) {
            Ok(e) => e,
            Err(e) => return Err(fail(&staged, zerr(e))),
        };
        let name = entry.name().to_string();
        if entry.is_dir() {
            continue;
        }
        if let Some(tail) = name.strip_prefix("db/") {
            if !known_db(tail) {
                skipped.push(format!("{name}: not a database of ours, skipped"));
                continue;
            }
            let dest = target(tail);
            let tmp = with(&dest, ".importing");
            if let Err(e) = copy_entry(&mut entry, &name, &tmp) {
                let _ = std::fs::remove_file(&tmp);
                return Err(fail(&staged, e));
            }
            staged.push((tmp, dest));
        } else if let Some(file) = name.strip_prefix("files/").filter(|n| plain_name(n)) {
            files.push((i, file.to_string()));
        } else {
            skipped.push(format!("{name}: unknown entry, skipped"));
        }
    }
    // A chat's databases: the users' list or (made before there were several users) the
    // first user's.
    let has = |tail: &str| staged.iter().any(|(_, d)| *d == target(tail));
    if !has("_users.db") && !has("_chat.db") {
        return Err(fail(
            &staged,
            ArchiveError::Zip(from.display().to_string(), "no chat database in it".into()),
        ));
    }
    // Whole: the current databases (with their journals) aside, the new ones in place.
    let mut current: Vec<PathBuf> = Vec::new();
    for (_, dest) in &staged {
        for journal in ["", "-wal", "-shm", "-journal"] {
            let p = with(dest, journal);
            if !current.contains(&p) {
                current.push(p);
            }
        }
    }
    // A failure halfway puts back what was moved (the current databases stay in use).
    let mut moved: Vec<(PathBuf, PathBuf)> = Vec::new();
    let undo = |moved: &[(PathBuf, PathBuf)], placed: &[PathBuf]| {
        for p in placed {
            let _ = std::fs::remove_file(p);
        }
        for (from, aside) in moved.iter().rev() {
            let _ = std::fs::rename(aside, from);
        }
    };
    for p in &current {
        if std::fs::symlink_metadata(p).is_ok() {
            let aside = with(p, &format!(".before-import-{stamp}"));
            if let Err(e) = std::fs::rename(p, &aside) {
                undo(&moved, &[]);
                return Err(fail(&staged, io(p)(e)));
            }
            moved.push((p.clone(), aside));
        }
    }
    let mut placed = Vec::new();
    for (tmp, dest) in &staged {
        if let Err(e) = std::fs::rename(tmp, dest) {
            undo(&moved, &placed);
            return Err(fail(&staged, io(dest)(e)));
        }
        placed.push(dest.clone());
    }
    // Then the files, each under a name no file has.
    if !files.is_empty() {
        std::fs::create_dir_all(files_folder).map_err(io(files_folder))?;
    }
    for (n, (i, name)) in files.into_iter().enumerate() {
        let tmp = files_folder.join(format!(".import-{stamp}-{n}.tmp"));
        let done = match zip.by_index(i) {
            Ok(mut entry) => copy_entry(&mut entry, &name, &tmp)
                .and_then(|()| {
                    let clean = chunker::name::sanitize_file_name(&name);
                    chunker::name::persist_no_clobber(&tmp, files_folder, &clean)
                        .map_err(io(files_folder))
                })
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = done {
            let _ = std::fs::remove_file(&tmp);
            skipped.push(format!("files/{name}: {e}"));
        }
    }
    Ok(skipped)
}

/// Copies one entry to a new file `dest`: at most its declared size (and [`MAX_ENTRY`]),
/// exactly that, synced.
fn copy_entry(
    entry: &mut zip::read::ZipFile<'_, std::fs::File>,
    name: &str,
    dest: &Path,
) -> Result<()> {
    let size = entry.size();
    if size > MAX_ENTRY {
        return Err(ArchiveError::Entry(
            name.into(),
            format!("{size} bytes: more than {MAX_ENTRY}"),
        ));
    }
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dest)
        .map_err(io(dest))?;
    let copied = std::io::copy(&mut entry.by_ref().take(size + 1), &mut out).map_err(io(dest))?;
    if copied != size {
        return Err(ArchiveError::Entry(
            name.into(),
            format!("{copied} bytes where {size} were declared"),
        ));
    }
    out.flush().map_err(io(dest))?;
    out.sync_all().map_err(io(dest))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_our_databases_and_plain_file_names_are_taken() {
        for ok in [
            "_users.db",
            "_chat.db",
            "_agent.db-wal",
            "_u2_chat.db",
            "_u17_agent.db",
        ] {
            assert!(known_db(ok), "{ok}");
        }
        for bad in [
            "users.db",
            "_u_chat.db",
            "_ux_chat.db",
            "../_chat.db",
            "_chat.db.x",
            "_u2_chat.db-shm",
        ] {
            assert!(!known_db(bad), "{bad}");
        }
        for bad in ["", ".", "..", "a/b", "a\\b", "x\0", "\u{7}bell"] {
            assert!(!plain_name(bad), "{bad:?}");
        }
        assert!(plain_name("photo 1.jpg"));
        assert_eq!(
            db_entry(
                Path::new("/tmp/x/alice"),
                Path::new("/tmp/x/alice_u2_chat.db")
            ),
            Some("db/_u2_chat.db".into())
        );
    }

    /// An archive's databases replace the current ones (moved aside, not deleted); its files
    /// come in beside existing ones; bad entries change nothing.
    #[test]
    fn an_archive_round_trips_and_a_bad_one_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("alice");
        let files = dir.path().join("files");
        std::fs::create_dir_all(&files).unwrap();
        let db = |tail: &str| dir.path().join(format!("alice{tail}"));
        std::fs::write(db("_users.db"), b"users v1").unwrap();
        std::fs::write(db("_chat.db"), b"chat v1").unwrap();
        std::fs::write(db("_chat.db-wal"), b"wal v1").unwrap();
        std::fs::write(files.join("a.txt"), b"file a").unwrap();
        let archive = dir.path().join("backup.zip");
        let skipped = export(
            &prefix,
            &[db("_users.db"), db("_chat.db")],
            &files,
            &archive,
            true,
        )
        .unwrap();
        assert!(skipped.is_empty());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&archive).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "the user's only");
        }
        // Not over an existing archive.
        assert!(export(&prefix, &[db("_chat.db")], &files, &archive, true).is_err());

        std::fs::write(db("_chat.db"), b"chat v2").unwrap();
        std::fs::remove_file(db("_chat.db-wal")).unwrap();
        let skipped = import(&prefix, &files, &archive).unwrap();
        assert!(skipped.is_empty(), "{skipped:?}");
        assert_eq!(std::fs::read(db("_chat.db")).unwrap(), b"chat v1");
        assert_eq!(std::fs::read(db("_chat.db-wal")).unwrap(), b"wal v1");
        let aside: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".before-import-"))
            .collect();
        assert!(
            aside
                .iter()
                .any(|n| n.starts_with("alice_chat.db.before-import-")),
            "{aside:?}"
        );
        // The file came in beside the one of the same name.
        assert_eq!(std::fs::read_dir(&files).unwrap().count(), 2);

        // Hostile entries: a path, a database name of another kind, a size that lies.
        let bad = dir.path().join("bad.zip");
        {
            let mut z = zip::ZipWriter::new(std::fs::File::create(&bad).unwrap());
            let o = zip::write::SimpleFileOptions::default();
            z.start_file("db/../../etc/passwd", o).unwrap();
            z.write_all(b"x").unwrap();
            z.start_file("files/../escape", o).unwrap();
            z.write_all(b"x").unwrap();
            z.start_file("db/_chat.db", o).unwrap();
            z.write_all(b"chat v3").unwrap();
            z.finish().unwrap();
        }
        let skipped = import(&prefix, &files, &bad).unwrap();
        assert_eq!(skipped.len(), 2, "{skipped:?}");
        assert!(!dir.path().join("escape").exists());
        assert_eq!(std::fs::read(db("_chat.db")).unwrap(), b"chat v3");
        // Not an archive: nothing changes.
        std::fs::write(&bad, b"not a zip").unwrap();
        assert!(import(&prefix, &files, &bad).is_err());
        assert_eq!(std::fs::read(db("_chat.db")).unwrap(), b"chat v3");
    }
}
