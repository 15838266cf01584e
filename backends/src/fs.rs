//! File-system helpers shared by the backends and the `vault` crate: ownership and mode checks
//! (like sshd's StrictModes), lock files, the one crash-safe atomic write, and the item-name
//! codec that turns any name into a safe file name.
//!
//! The atomic write: the new bytes go to a temp file `.tmp.PID.RANDOM.NAME` opened
//! `O_CREAT|O_EXCL|O_NOFOLLOW` in the same directory, which is fsynced, renamed over the
//! target, and then the directory is fsynced. A writer killed at any point leaves either the
//! old or the new file, plus at most its temp file, which [`sweep_temps`] removes once the
//! writer's pid is gone.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use rand::RngCore;

use crate::Error;

/// The prefix of [`write_atomic`]'s temp files (a leading dot: [`encode_name`] never makes one).
pub(crate) const TEMP_PREFIX: &str = ".tmp.";
/// Longest encoded name; keeps temp names under the usual 255-byte file name limit.
const MAX_ENCODED: usize = 200;

/// Refuses `path` (with `meta`, its metadata) unless `uid` owns it and its mode has none of the
/// `forbidden` bits; the fix names the `chmod` (e.g. `chmod 600`) that repairs the mode.
pub fn check_owner_mode(
    path: &Path,
    meta: &fs::Metadata,
    uid: u32,
    forbidden: u32,
    chmod: &str,
) -> Result<(), Error> {
    if meta.uid() != uid {
        return Err(Error::UnsafePermissions {
            path: path.into(),
            problem: format!("it is owned by uid {}, not by you (uid {uid})", meta.uid()),
            fix: format!(
                "check who created it; if it is yours, `chown {uid} {}`",
                path.display()
            ),
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & forbidden != 0 {
        return Err(Error::UnsafePermissions {
            path: path.into(),
            problem: format!("its mode {mode:04o} lets other users in"),
            fix: format!("`{chmod} {}`", path.display()),
        });
    }
    Ok(())
}

/// Checks every ancestor of `dir` (after resolving symlinks) as sshd's StrictModes does:
/// each must be owned by root or by `uid`, and one that others can write must be sticky
/// (like `/tmp`), since whoever can rename entries in a parent can swap the vault directory
/// for one of their own (issue 13, point 13).
pub fn check_ancestors(dir: &Path, uid: u32) -> Result<(), Error> {
    let real = fs::canonicalize(dir).map_err(|e| Error::io("resolving", dir, e))?;
    for parent in real.ancestors().skip(1) {
        let meta = fs::metadata(parent).map_err(|e| Error::io("checking", parent, e))?;
        let fix = format!(
            "keep the vault under directories only you and root can change (--vault-dir or VAULT_DIR), or make {} yours (`chown`) and not writable by others (`chmod go-w`)",
            parent.display()
        );
        if meta.uid() != 0 && meta.uid() != uid {
            return Err(Error::UnsafePermissions {
                path: parent.into(),
                problem: format!(
                    "this parent of the vault directory is owned by uid {}, who could move the vault away and plant another",
                    meta.uid()
                ),
                fix,
            });
        }
        let mode = meta.mode() & 0o7777;
        if mode & 0o022 != 0 && mode & 0o1000 == 0 {
            return Err(Error::UnsafePermissions {
                path: parent.into(),
                problem: format!(
                    "this parent of the vault directory has mode {mode:04o}: other users can rename what it holds"
                ),
                fix,
            });
        }
    }
    Ok(())
}

/// Opens (creating, 0600, never through a symlink) a file used only for `flock`.
pub fn open_lock_file(path: &Path) -> std::io::Result<fs::File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
}

/// The mode and owner of a file [`write_atomic`] writes.
#[derive(Debug, Clone, Copy)]
pub enum Perms<'a> {
    /// Mode 0600, owned by this process's user: vault's own files.
    Private,
    /// The mode and owner in `meta`: a file that is replaced in place (the metadata of the
    /// file it replaces).
    Keep(&'a fs::Metadata),
}

/// Replaces `path` with `contents` atomically and durably (see the module's documentation).
/// On failure before the rename, the temp file is removed.
pub fn write_atomic(path: &Path, contents: &[u8], perms: Perms<'_>) -> Result<(), Error> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let file_name = path.file_name().ok_or_else(|| {
        Error::io(
            "writing",
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "no file name"),
        )
    })?;
    let mut rnd = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut rnd);
    let mut temp_name = OsString::from(format!(
        "{TEMP_PREFIX}{}.{}.",
        std::process::id(),
        hex(&rnd)
    ));
    temp_name.push(file_name);
    let temp = dir.join(temp_name);
    let write = || -> Result<(), (&'static str, std::io::Error)> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&temp)
            .map_err(|e| ("writing", e))?;
        if let Perms::Keep(meta) = perms {
            f.set_permissions(fs::Permissions::from_mode(meta.mode() & 0o7777))
                .map_err(|e| ("setting the mode of", e))?;
            let new = f.metadata().map_err(|e| ("writing", e))?;
            if (new.uid(), new.gid()) != (meta.uid(), meta.gid()) {
                std::os::unix::fs::fchown(&f, Some(meta.uid()), Some(meta.gid()))
                    .map_err(|e| ("giving the original owner to", e))?;
            }
        }
        f.write_all(contents).map_err(|e| ("writing", e))?;
        f.sync_all().map_err(|e| ("writing", e))?;
        fs::rename(&temp, path).map_err(|e| ("writing", e))
    };
    if let Err((op, e)) = write() {
        let _ = fs::remove_file(&temp);
        return Err(Error::io(op, path, e));
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("syncing", dir, e))
}

/// Removes from `dir` the temp files of [`write_atomic`] left by writers that were killed
/// (their pid is gone). Best effort.
pub(crate) fn sweep_temps(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(TEMP_PREFIX)) else {
            continue;
        };
        let pid = rest.split('.').next().and_then(|p| p.parse::<i32>().ok());
        let alive = pid
            .and_then(rustix::process::Pid::from_raw)
            .is_some_and(|pid| match rustix::process::test_kill_process(pid) {
                Ok(()) => true,
                Err(e) => e != rustix::io::Errno::SRCH,
            });
        if !alive {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Lower-case hex of `bytes` (for names and digests, never for secrets: the string is not
/// zeroized).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Maps an item name to a file name: `[A-Za-z0-9_-]` and non-leading `.` stay, every other
/// byte becomes `%XX`. Injective, so two names never share a file.
pub fn encode_name(name: &str) -> Result<String, Error> {
    if name.is_empty() {
        return Err(Error::InvalidName(name.into(), "it is empty"));
    }
    let mut out = String::with_capacity(name.len());
    for (i, b) in name.bytes().enumerate() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' => out.push(b as char),
            b'.' if i > 0 => out.push('.'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    if out.len() > MAX_ENCODED {
        return Err(Error::InvalidName(name.into(), "it is too long"));
    }
    Ok(out)
}

/// The inverse of [`encode_name`]; `None` for a file name it could not have produced.
pub fn decode_name(encoded: &str) -> Option<String> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let name = String::from_utf8(out).ok()?;
    (encode_name(&name).ok()? == encoded).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn names_encode_injectively() {
        for n in ["a", ".hidden", "a.b", "a%b", "x/y", "ü", "key.prod"] {
            let e = encode_name(n).unwrap();
            assert!(!e.starts_with('.'), "{e}");
            assert_eq!(decode_name(&e).as_deref(), Some(n));
        }
        assert_eq!(decode_name("%2e"), None);
        assert_eq!(decode_name("%zz"), None);
        assert!(encode_name("").is_err());
    }

    #[test]
    fn atomic_writes_are_private_or_keep_the_replaced_mode_and_leave_no_temp() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f");
        write_atomic(&path, b"one", Perms::Private).unwrap();
        assert_eq!(
            (fs::read(&path).unwrap(), mode(&path)),
            (b"one".to_vec(), 0o600)
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let meta = fs::metadata(&path).unwrap();
        write_atomic(&path, b"two", Perms::Keep(&meta)).unwrap();
        assert_eq!(
            (fs::read(&path).unwrap(), mode(&path)),
            (b"two".to_vec(), 0o640)
        );
        let names: Vec<_> = fs::read_dir(tmp.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn a_failed_atomic_write_keeps_the_old_file_and_removes_its_temp() {
        let tmp = tempfile::tempdir().unwrap();
        // A directory in the target's place: the rename fails after the temp was written.
        let path = tmp.path().join("d");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("inside"), b"x").unwrap();
        let e = write_atomic(&path, b"new", Perms::Private).unwrap_err();
        assert!(matches!(e, Error::Io { op: "writing", .. }), "{e}");
        let names: Vec<_> = fs::read_dir(tmp.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(path.join("inside").exists());
    }
}
