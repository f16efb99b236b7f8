//! Changing the databases' key (`/db encrypt`, `/db key`, `/db decrypt`, `/_db encryption`)
//! and testing one (`/db test key`), on the files themselves while the chat is stopped.
//!
//! Every database is exported with SQLCipher's `sqlcipher_export` into a new file beside it
//! (mode 0600), each export is opened again with the new key, and only when all of them read
//! back are they synced and renamed over the old files (whose `-wal` and `-shm` go with
//! them: the export holds what the write-ahead log held). A wrong current key, a full disk or
//! anything else before the renames leaves the databases as they were, the partial exports
//! removed. The renames themselves are one `rename` per file, in a row.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::chat::ChatError;

/// What SQLite says of a wrong key (or of a file that is no database), as the reference
/// prints it.
pub const NOT_A_DATABASE: &str = "wrong passphrase or invalid database file";

/// The first bytes of an SQLite database that is not encrypted.
const PLAIN_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Whether the database at `path` is encrypted (its header is not SQLite's); an empty or
/// missing file is not.
pub fn is_encrypted(path: &Path) -> std::io::Result<bool> {
    use std::io::Read;
    let mut header = [0u8; 16];
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let mut n = 0;
    while n < header.len() {
        match f.read(&mut header[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n == header.len() && &header != PLAIN_HEADER)
}

/// Opens the database at `path` (which must exist) with `key` (empty: none) and reads it.
fn open_with(path: &Path, key: &str) -> Result<Connection, String> {
    let db = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| e.to_string())?;
    // A wrong key is answered here: SQLCipher's own report of it does not go to the terminal.
    let _ = db.query_row("PRAGMA cipher_log_level = NONE", [], |_| Ok(()));
    if !key.is_empty() {
        db.pragma_update(None, "key", key)
            .map_err(|e| e.to_string())?;
    }
    db.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(|e| match e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::NotADatabase => {
            NOT_A_DATABASE.to_string()
        }
        e => e.to_string(),
    })?;
    Ok(db)
}

/// `/db test key`: every database opens with `key`.
pub fn test_key(files: &[PathBuf], key: &str) -> Result<(), ChatError> {
    for f in files {
        open_with(f, key).map_err(ChatError::DbOpen)?;
    }
    Ok(())
}

/// The export's name beside `path`.
fn export_path(path: &Path) -> PathBuf {
    with_suffix(path, ".export")
}

/// `path` with `suffix` appended to its name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// Exports `path` (readable with `current`) to its export file, encrypted with `new`.
fn export(path: &Path, current: &str, new: &str) -> Result<(), ChatError> {
    use std::os::unix::fs::OpenOptionsExt;
    let db = open_with(path, current).map_err(ChatError::DbExport)?;
    let out = export_path(path);
    let _ = std::fs::remove_file(&out);
    // The export holds the keys of the chat: only the user reads it, from its first byte.
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&out)
        .map_err(|e| ChatError::DbExport(format!("{}: {e}", out.display())))?;
    let run = || -> rusqlite::Result<()> {
        db.execute(
            "ATTACH DATABASE ?1 AS export KEY ?2",
            rusqlite::params![out.to_string_lossy(), new],
        )?;
        db.query_row("SELECT sqlcipher_export('export')", [], |_| Ok(()))?;
        db.execute("DETACH DATABASE export", [])?;
        Ok(())
    };
    run().map_err(|e| ChatError::DbExport(e.to_string()))?;
    drop(db);
    // Read back with the new key before anything is replaced.
    drop(open_with(&out, new).map_err(ChatError::DbOpen)?);
    std::fs::File::open(&out)
        .and_then(|f| f.sync_all())
        .map_err(|e| ChatError::DbExport(format!("{}: {e}", out.display())))
}

/// Gives every database in `files` the key `new` (empty: none); they are read with `current`
/// (empty: none). The chat must be stopped, and restarted after.
pub fn change_key(files: &[PathBuf], current: &str, new: &str) -> Result<(), ChatError> {
    let first = files
        .first()
        .ok_or_else(|| ChatError::DbExport("no database".into()))?;
    let encrypted = is_encrypted(first)
        .map_err(|e| ChatError::DbExport(format!("{}: {e}", first.display())))?;
    if current.is_empty() && encrypted {
        return Err(ChatError::DbEncrypted);
    }
    if !current.is_empty() && !encrypted {
        return Err(ChatError::DbPlaintext);
    }
    let outcome = files.iter().try_for_each(|f| export(f, current, new));
    if let Err(e) = outcome {
        for f in files {
            let out = export_path(f);
            for tail in ["", "-wal", "-shm", "-journal"] {
                let _ = std::fs::remove_file(with_suffix(&out, tail));
            }
        }
        return Err(e);
    }
    for f in files {
        std::fs::rename(export_path(f), f)
            .map_err(|e| ChatError::DbExport(format!("{}: {e}", f.display())))?;
        // The old log belongs to the old file: it must not be applied to the new one.
        for tail in ["-wal", "-shm"] {
            match std::fs::remove_file(with_suffix(f, tail)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(ChatError::DbExport(format!("{}{tail}: {e}", f.display())))
                }
                _ => {}
            }
        }
    }
    if let Some(dir) = first.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| ChatError::DbExport(format!("{}: {e}", dir.display())))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database (WAL, as the chat's) with one row, some of it still in the log.
    fn make(path: &Path) -> Connection {
        let db = agent::store::open_connection(path, None).unwrap();
        db.execute_batch("CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('kept');")
            .unwrap();
        db
    }

    fn read(path: &Path, key: &str) -> String {
        open_with(path, key)
            .unwrap()
            .query_row("SELECT x FROM t", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn keys_change_and_wrong_keys_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a_chat.db");
        let b = dir.path().join("b_chat.db");
        // Held open, as the stopped chat holds its own: the log is not checkpointed.
        let _held = (make(&a), make(&b));
        let files = vec![a.clone(), b.clone()];
        assert!(!is_encrypted(&a).unwrap());
        assert!(matches!(
            change_key(&files, "k", "n"),
            Err(ChatError::DbPlaintext)
        ));
        change_key(&files, "", "first").unwrap();
        assert!(is_encrypted(&a).unwrap() && is_encrypted(&b).unwrap());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&a).unwrap().permissions().mode() & 0o777,
            0o600
        );
        test_key(&files, "first").unwrap();
        assert!(matches!(
            test_key(&files, "other"),
            Err(ChatError::DbOpen(m)) if m == NOT_A_DATABASE
        ));
        assert!(matches!(
            change_key(&files, "", "x"),
            Err(ChatError::DbEncrypted)
        ));
        // A wrong current key: nothing changed, no export left.
        assert!(matches!(
            change_key(&files, "wrong", "x"),
            Err(ChatError::DbExport(m)) if m == NOT_A_DATABASE
        ));
        test_key(&files, "first").unwrap();
        assert!(!export_path(&a).exists());
        change_key(&files, "first", "second").unwrap();
        test_key(&files, "second").unwrap();
        assert_eq!(read(&a, "second"), "kept");
        change_key(&files, "second", "").unwrap();
        assert!(!is_encrypted(&a).unwrap());
        assert_eq!(read(&b, ""), "kept");
    }
}
