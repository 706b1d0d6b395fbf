//! Files the operator names (config, hotkey), read without trusting them to be small files:
//! a FIFO would block the command forever and `/dev/zero` would fill memory. And the files
//! the agent writes (state, metrics), replaced without following anything planted for it.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use thiserror::Error;

/// The most a hotkey file may hold: bittensor writes about 400 bytes.
pub const HOTKEY_LIMIT: u64 = 64 * 1024;
/// The most a config file may hold: the example with every key is under 10 KiB.
pub const CONFIG_LIMIT: u64 = 1024 * 1024;

/// Why a file was not read; the caller names the file and says what to do.
#[derive(Debug, Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("it is {0}, not a regular file")]
    NotRegular(&'static str),
    #[error("it is larger than {} KiB, more than such a file ever holds", .0 / 1024)]
    TooLarge(u64),
}

impl ReadError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io(e) if e.kind() == io::ErrorKind::NotFound)
    }
}

/// For callers whose errors carry an `io::Error`: the kind stays for the I/O failures.
impl From<ReadError> for io::Error {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::Io(e) => e,
            other => io::Error::new(io::ErrorKind::InvalidInput, other),
        }
    }
}

/// The whole of the regular file at `path`, at most `limit` bytes. Opened non-blocking, so
/// a FIFO swapped in after the check still cannot block the read.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    // Before opening: opening some devices already does something.
    regular(&std::fs::metadata(path)?)?;
    let file = OpenOptions::new().read(true).custom_flags(O_NONBLOCK | O_NOCTTY).open(path)?;
    // Again on what was opened: the path may have changed in between.
    regular(&file.metadata()?)?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge(limit));
    }
    Ok(bytes)
}

/// Linux's values (the same on x86_64 and aarch64), so as not to pull in a crate for two numbers.
const O_NONBLOCK: i32 = 0o4000;
const O_NOCTTY: i32 = 0o400;

fn regular(meta: &Metadata) -> Result<(), ReadError> {
    let kind = meta.file_type();
    let what = if kind.is_file() {
        return Ok(());
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "something else"
    };
    Err(ReadError::NotRegular(what))
}

/// Replaces `path` with `bytes` at `mode`: a crash or a full disk leaves the previous file.
/// The temporary file has a random name and is created exclusively, so a symlink planted
/// beside the file is never followed; its mode is set before it takes the file's place.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    private_dir(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    // Explicitly, past the umask: node-exporter reads the metrics as another user.
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(mode))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    File::open(dir)?.sync_all()
}

/// A directory others may write to lets them swap the agent's files for links: refused.
fn private_dir(dir: &Path) -> io::Result<()> {
    let meta = std::fs::metadata(dir)?;
    let mode = meta.mode() & 0o7777;
    let refuse = |problem: String, fix: String| {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "directory {} {problem}, so another user could replace the agent's files there: {fix}",
                dir.display()
            ),
        ))
    };
    if mode & 0o022 != 0 {
        return refuse(
            format!("is writable by group or others (mode {mode:04o})"),
            format!("`chmod go-w {}`, or choose a directory only the agent's user may write", dir.display()),
        );
    }
    if let Some(me) = crate::settings::env::effective_uid() {
        if meta.uid() != me && meta.uid() != 0 {
            return refuse(
                format!("is owned by uid {}, neither this user (uid {me}) nor root", meta.uid()),
                format!("`chown {me} {}`, or choose a directory of the agent's own", dir.display()),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_file_is_read_whole_up_to_the_limit_and_refused_beyond() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![b'x'; 1024]).unwrap();
        assert_eq!(read_bounded(&path, 1024).unwrap().len(), 1024);
        let err = read_bounded(&path, 1023).unwrap_err();
        assert!(matches!(err, ReadError::TooLarge(1023)), "{err}");
    }

    #[test]
    fn devices_fifos_and_directories_are_refused_without_reading() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        for (path, what) in [
            (Path::new("/dev/zero"), "a character device"),
            (fifo.as_path(), "a FIFO (named pipe)"),
            (dir.path(), "a directory"),
        ] {
            let err = read_bounded(path, HOTKEY_LIMIT).unwrap_err();
            assert_eq!(err.to_string(), format!("it is {what}, not a regular file"), "{}", path.display());
        }
        assert!(read_bounded(&dir.path().join("none"), 1).unwrap_err().is_not_found());
    }

    #[test]
    fn the_metrics_write_follows_no_link_and_sets_its_mode() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
        let path = dir.path().join("metrics.prom");
        symlink(&victim, path.with_extension("prom.tmp")).unwrap();
        write_atomic(&path, b"up 1\n", 0o644).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(std::fs::metadata(&victim).unwrap().mode() & 0o7777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "up 1\n");
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o7777, 0o644);
    }
}
