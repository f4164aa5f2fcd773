//! The image directory: verified avatar images kept on disk across
//! restarts, on a disk that other processes and other users may share.
//!
//! The directory is treated as hostile. A file is only ever opened without
//! following links and without blocking, only regular files are read, and
//! never more than the size limit plus one byte; what is read is verified
//! against its name (the SHA-1) before it is served. Writes go to a temp
//! file with an unpredictable name created exclusively, are synced and then
//! renamed into place, so a planted path can neither redirect nor clobber a
//! write. A byte budget is kept by least-recently-used eviction on file
//! modification times (a read touches the file), which every process sharing
//! the directory sees; temp files of other writers are never evicted.
//!
//! Every method does blocking I/O: callers run them off the event loop. The
//! type is `Sync` and its methods take `&self`, so several threads may use
//! one directory at once.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use crate::ids::{is_sha1_hex, normalize_id};
use crate::images::verify;

/// Default disk budget: 64 MiB of image files.
pub const DEFAULT_DISK_BUDGET: u64 = 64 * 1024 * 1024;

/// A temp file older than this is the leftover of a writer that died.
const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);
/// Rescan the directory at least this often (in writes), so files written
/// by other processes count against the budget too.
const RESCAN_EVERY_WRITES: u32 = 64;
/// Eviction goes down to this fraction of the budget below it (1/8), so
/// the next writes do not rescan at once.
const EVICTION_HEADROOM_DIVISOR: u64 = 8;
/// Attempts at an unused temp name before giving up.
const TEMP_NAME_ATTEMPTS: u32 = 8;

/// Why a path cannot be the image directory.
#[derive(Debug)]
pub enum DirectoryError {
    /// The path (last component) is a symbolic link.
    IsALink { path: PathBuf },
    /// The path exists but is not a directory.
    NotADirectory { path: PathBuf },
    /// Others may create files in it: group/world-writable, no sticky bit.
    WritableByOthers { path: PathBuf, mode: u32 },
    /// Owned by a user other than this process's or root.
    ForeignOwner {
        path: PathBuf,
        owner: u32,
        user: u32,
    },
    /// It could not be created or inspected.
    Io { path: PathBuf, error: io::Error },
}

impl fmt::Display for DirectoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::IsALink { path } => write!(
                f,
                "{} is a symbolic link; give the directory it points to instead, \
                 so the store cannot be redirected by changing the link",
                path.display()
            ),
            Self::NotADirectory { path } => {
                write!(f, "{} exists and is not a directory", path.display())
            }
            Self::WritableByOthers { path, mode } => write!(
                f,
                "{} (mode {:o}) is writable by other users without the sticky bit, \
                 so they could plant or replace files in it; fix it with `chmod go-w {}`",
                path.display(),
                mode & 0o7777,
                path.display()
            ),
            Self::ForeignOwner { path, owner, user } => write!(
                f,
                "{} is owned by uid {owner}, not by this process's user (uid {user}) \
                 or root, so its owner could plant or replace files in it; \
                 use a directory of your own or `chown {user} {}`",
                path.display(),
                path.display()
            ),
            Self::Io { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for DirectoryError {}

/// Something in the directory that was not served, for the log.
#[derive(Debug)]
pub enum Refusal {
    /// The file is a symbolic link: never followed.
    Link { path: PathBuf },
    /// Not a regular file (FIFO, device, socket, directory): never opened
    /// for reading.
    NotRegular { path: PathBuf, kind: &'static str },
    /// Larger than the limit: removed without being read.
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    /// Its bytes do not hash to its name: removed.
    Corrupt { path: PathBuf },
    /// The disk failed.
    Io { path: PathBuf, error: io::Error },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Link { path } => write!(
                f,
                "image file {} is a symbolic link: not followed, not served",
                path.display()
            ),
            Self::NotRegular { path, kind } => write!(
                f,
                "image file {} is a {kind}, not a regular file: not opened, not served",
                path.display()
            ),
            Self::TooLarge { path, size, limit } => write!(
                f,
                "image file {} has {size} bytes, over the limit of {limit}: removed unread",
                path.display()
            ),
            Self::Corrupt { path } => write!(
                f,
                "image file {} does not hash to its name: removed",
                path.display()
            ),
            Self::Io { path, error } => write!(f, "image file {}: {error}", path.display()),
        }
    }
}

/// The result of looking an image up on disk.
#[derive(Debug)]
pub enum Lookup {
    /// Verified bytes.
    Hit(Vec<u8>),
    /// No file for this id (or no directory set).
    Missing,
    /// A file was there but not served.
    Refused(Refusal),
}

/// Counters of the directory's work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirectoryStats {
    pub disk_hits: u64,
    pub files_written: u64,
    pub files_refused: u64,
    pub corrupt_files_removed: u64,
    pub disk_evictions: u64,
    pub stale_temp_files_removed: u64,
    pub disk_errors: u64,
}

#[derive(Default)]
struct Accounting {
    /// Bytes in the directory as of the last scan plus our writes since.
    used: Option<u64>,
    writes_since_scan: u32,
    stats: DirectoryStats,
}

/// A directory of verified images, shared with other processes.
pub struct ImageDirectory {
    path: Mutex<Option<Arc<PathBuf>>>,
    /// Bytes of files kept at most; `u64::MAX` for no budget.
    budget: AtomicU64,
    accounting: Mutex<Accounting>,
    /// Held while scanning, so one thread of this process evicts at a time.
    eviction: Mutex<()>,
}

impl Default for ImageDirectory {
    fn default() -> Self {
        Self {
            path: Mutex::new(None),
            budget: AtomicU64::new(DEFAULT_DISK_BUDGET),
            accounting: Mutex::new(Accounting::default()),
            eviction: Mutex::new(()),
        }
    }
}

/// Lock a mutex; a panic elsewhere never makes the directory unusable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ImageDirectory {
    /// No directory yet: every lookup misses, every write is skipped.
    pub fn new() -> Self {
        Self::default()
    }

    /// The directory in use, if any.
    pub fn path(&self) -> Option<PathBuf> {
        lock(&self.path).as_deref().cloned()
    }

    /// Use `path` (created, private to this user, if missing), or none.
    /// Refuses a link, a non-directory, and a directory other users may
    /// write to or own.
    pub fn set_path(&self, path: Option<PathBuf>) -> Result<(), DirectoryError> {
        if let Some(path) = &path {
            check_directory(path)?;
        }
        *lock(&self.path) = path.map(Arc::new);
        let mut acc = lock(&self.accounting);
        acc.used = None;
        acc.writes_since_scan = 0;
        Ok(())
    }

    /// The disk budget in bytes, or None for unbounded.
    pub fn budget(&self) -> Option<u64> {
        match self.budget.load(Ordering::Relaxed) {
            u64::MAX => None,
            b => Some(b),
        }
    }

    /// Change the disk budget; it is enforced at the next write.
    pub fn set_budget(&self, budget: Option<u64>) {
        self.budget
            .store(budget.unwrap_or(u64::MAX), Ordering::Relaxed);
        lock(&self.accounting).used = None;
    }

    /// Counters so far.
    pub fn stats(&self) -> DirectoryStats {
        lock(&self.accounting).stats
    }

    fn count(&self, f: impl FnOnce(&mut DirectoryStats)) {
        f(&mut lock(&self.accounting).stats);
    }

    /// The verified image with this id, reading at most `limit` + 1 bytes.
    /// A hit marks the file as recently used.
    pub fn read(&self, id: &str, limit: u64) -> Lookup {
        let Some(dir) = lock(&self.path).clone() else {
            return Lookup::Missing;
        };
        if !is_sha1_hex(id) {
            return Lookup::Missing;
        }
        let key = normalize_id(id);
        let path = dir.join(file_name(&key));
        let lookup = read_verified(&path, &key, limit);
        self.count(|s| match &lookup {
            Lookup::Hit(_) => s.disk_hits += 1,
            Lookup::Missing => {}
            Lookup::Refused(Refusal::Io { .. }) => s.disk_errors += 1,
            Lookup::Refused(Refusal::Corrupt { .. } | Refusal::TooLarge { .. }) => {
                s.corrupt_files_removed += 1
            }
            Lookup::Refused(_) => s.files_refused += 1,
        });
        lookup
    }

    /// Keep `data`, whose SHA-1 must be `id`, then enforce the budget.
    /// A failure is counted and returned; the image is then simply not
    /// kept on disk.
    pub fn write(&self, id: &str, data: &[u8]) -> io::Result<()> {
        let Some(dir) = lock(&self.path).clone() else {
            return Ok(());
        };
        let key = verify(id, None, data, u64::MAX)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let result = write_atomically(&dir, &key, data);
        let rescan = {
            let mut acc = lock(&self.accounting);
            match &result {
                Ok(Written::New) => {
                    acc.stats.files_written += 1;
                    acc.used = acc.used.map(|u| u.saturating_add(data.len() as u64));
                    acc.writes_since_scan += 1;
                }
                Ok(Written::AlreadyThere) => {}
                Err(_) => acc.stats.disk_errors += 1,
            }
            let budget = self.budget.load(Ordering::Relaxed);
            budget != u64::MAX
                && acc
                    .used
                    .is_none_or(|u| u > budget || acc.writes_since_scan >= RESCAN_EVERY_WRITES)
        };
        if rescan {
            self.enforce_budget(&dir);
        }
        result.map(|_| ())
    }

    /// Scan the directory: remove stale temp files, count the image files
    /// and, when over the budget, evict the least recently used ones until
    /// an eighth of the budget is free.
    fn enforce_budget(&self, dir: &Path) {
        let Ok(_scanning) = self.eviction.try_lock() else {
            return; // another thread of ours is at it
        };
        let budget = self.budget.load(Ordering::Relaxed);
        let mut files = Vec::new();
        let mut total = 0u64;
        let mut stale_removed = 0;
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(_) => {
                self.count(|s| s.disk_errors += 1);
                return;
            }
        };
        let now = SystemTime::now();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            // DirEntry::metadata does not follow links.
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let modified = meta.modified().unwrap_or(now);
            if is_temp_name(name) {
                let age = now.duration_since(modified).unwrap_or_default();
                if age > STALE_TEMP_AGE && unlink_if_same(&entry.path(), &meta) {
                    stale_removed += 1;
                }
            } else if is_image_name(name) {
                total = total.saturating_add(meta.len());
                files.push((modified, entry.path(), meta));
            }
        }
        let mut evicted = 0;
        if total > budget {
            let target = budget - budget / EVICTION_HEADROOM_DIVISOR;
            files.sort_by_key(|(modified, ..)| *modified);
            for (_, path, meta) in &files {
                if total <= target {
                    break;
                }
                if unlink_if_same(path, meta) {
                    total -= meta.len();
                    evicted += 1;
                }
            }
        }
        let mut acc = lock(&self.accounting);
        acc.used = Some(total);
        acc.writes_since_scan = 0;
        acc.stats.disk_evictions += evicted;
        acc.stats.stale_temp_files_removed += stale_removed;
    }
}

/// `<id>.img`: the only name an image is ever read from.
fn file_name(key: &str) -> String {
    debug_assert!(is_sha1_hex(key));
    format!("{key}.img")
}

fn is_image_name(name: &str) -> bool {
    name.strip_suffix(".img").is_some_and(is_sha1_hex)
}

/// `.<id>.<random>.tmp`: a write in progress (or a dead writer's leftover).
fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp")
}

/// Remove `path` if it is still the file `meta` describes (same inode, not
/// touched since): never a file another process just renamed into place or
/// just used.
fn unlink_if_same(path: &Path, meta: &fs::Metadata) -> bool {
    match fs::symlink_metadata(path) {
        Ok(now)
            if now.ino() == meta.ino()
                && now.dev() == meta.dev()
                && now.mtime() == meta.mtime()
                && now.mtime_nsec() == meta.mtime_nsec() =>
        {
            fs::remove_file(path).is_ok()
        }
        _ => false,
    }
}

/// Open a file for reading without following a link at its last component
/// and without blocking (a FIFO opens at once; it is refused afterwards).
fn open_no_follow(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

fn kind_of(meta: &fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "directory"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_char_device() || t.is_block_device() {
        "device"
    } else if t.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

fn read_verified(path: &Path, key: &str, limit: u64) -> Lookup {
    let refuse = |r| Lookup::Refused(r);
    let io_error = |error| {
        refuse(Refusal::Io {
            path: path.to_owned(),
            error,
        })
    };
    let file = match open_no_follow(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Lookup::Missing,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return refuse(Refusal::Link {
                path: path.to_owned(),
            })
        }
        Err(e) => return io_error(e),
    };
    let meta = match file.metadata() {
        Ok(meta) => meta,
        Err(e) => return io_error(e),
    };
    if !meta.is_file() {
        let kind = kind_of(&meta);
        return refuse(Refusal::NotRegular {
            path: path.to_owned(),
            kind,
        });
    }
    let too_large = |size| {
        unlink_if_same(path, &meta);
        refuse(Refusal::TooLarge {
            path: path.to_owned(),
            size,
            limit,
        })
    };
    if meta.len() > limit {
        return too_large(meta.len());
    }
    let mut data = Vec::with_capacity(meta.len() as usize);
    if let Err(e) = (&file).take(limit.saturating_add(1)).read_to_end(&mut data) {
        return io_error(e);
    }
    if data.len() as u64 > limit {
        return too_large(data.len() as u64); // it grew since fstat
    }
    if verify(key, None, &data, limit).is_err() {
        unlink_if_same(path, &meta);
        return refuse(Refusal::Corrupt {
            path: path.to_owned(),
        });
    }
    // Recently used, for every process's eviction; failing is harmless.
    let _ = file.set_modified(SystemTime::now());
    Lookup::Hit(data)
}

enum Written {
    New,
    AlreadyThere,
}

fn write_atomically(dir: &Path, key: &str, data: &[u8]) -> io::Result<Written> {
    let path = dir.join(file_name(key));
    if let Ok(file) = open_no_follow(&path) {
        if file
            .metadata()
            .is_ok_and(|m| m.is_file() && m.len() == data.len() as u64)
        {
            // Verified on every read anyway; now recently used.
            let _ = file.set_modified(SystemTime::now());
            return Ok(Written::AlreadyThere);
        }
    }
    let (tmp, mut file) = create_temp(dir, key)?;
    let result = file
        .write_all(data)
        .and_then(|()| file.sync_all())
        // rename replaces whatever is at `path`, a planted link included,
        // and never follows it.
        .and_then(|()| fs::rename(&tmp, &path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map(|()| Written::New)
}

/// A new file with an unpredictable name, created exclusively: a planted
/// file or link of that name makes creation fail instead of being used.
fn create_temp(dir: &Path, key: &str) -> io::Result<(PathBuf, File)> {
    let mut last = None;
    for _ in 0..TEMP_NAME_ATTEMPTS {
        let tmp = dir.join(format!(".{key}.{:016x}.tmp", random_u64()));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
        {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no temp name")))
}

/// 64 unpredictable bits: SipHash under the process's random keys of a
/// counter, the time and the process id. Exclusive creation makes names
/// safe; this makes them impossible to plant in advance.
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    h.write_u128(nanos.as_nanos());
    h.write_u32(std::process::id());
    h.finish()
}

/// Create `path` if missing (mode 0700) and check it is safe to use.
fn check_directory(path: &Path) -> Result<(), DirectoryError> {
    let io_error = |error| DirectoryError::Io {
        path: path.to_owned(),
        error,
    };
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(io_error)?,
        Err(e) => return Err(io_error(e)),
        Ok(_) => {}
    }
    let meta = fs::symlink_metadata(path).map_err(io_error)?;
    let path = path.to_owned();
    if meta.file_type().is_symlink() {
        return Err(DirectoryError::IsALink { path });
    }
    if !meta.is_dir() {
        return Err(DirectoryError::NotADirectory { path });
    }
    let mode = meta.mode();
    if mode & 0o022 != 0 && mode & 0o1000 == 0 {
        return Err(DirectoryError::WritableByOthers { path, mode });
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let user = unsafe { libc::geteuid() };
    if meta.uid() != user && meta.uid() != 0 {
        return Err(DirectoryError::ForeignOwner {
            path,
            owner: meta.uid(),
            user,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::sha1_hex;
    use std::os::unix::fs::PermissionsExt;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "avatar-dir-{name}-{}-{:x}",
                std::process::id(),
                random_u64()
            ));
            fs::create_dir(&dir).unwrap();
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn directory(dir: &TempDir) -> ImageDirectory {
        let d = ImageDirectory::new();
        d.set_path(Some(dir.0.clone())).unwrap();
        d
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn round_trip_survives_a_new_instance() {
        let tmp = TempDir::new("round-trip");
        let id = sha1_hex(b"persisted");
        directory(&tmp)
            .write(&id.to_uppercase(), b"persisted")
            .unwrap();
        assert_eq!(names(&tmp.0), [format!("{id}.img")]);
        let d = directory(&tmp);
        assert!(matches!(d.read(&id, 100), Lookup::Hit(data) if data == b"persisted"));
        assert_eq!(d.stats().disk_hits, 1);
        assert!(matches!(d.read(&sha1_hex(b"other"), 100), Lookup::Missing));
    }

    #[test]
    fn write_refuses_bytes_that_are_not_the_id() {
        let tmp = TempDir::new("wrong");
        let d = directory(&tmp);
        assert!(d.write(&sha1_hex(b"a"), b"b").is_err());
        assert!(d.write("../../etc/passwd", b"b").is_err());
        assert!(names(&tmp.0).is_empty());
    }

    #[test]
    fn corrupt_and_oversized_files_are_removed_not_served() {
        let tmp = TempDir::new("corrupt");
        let d = directory(&tmp);
        let id = sha1_hex(b"good");
        fs::write(tmp.0.join(format!("{id}.img")), b"evil").unwrap();
        assert!(matches!(
            d.read(&id, 100),
            Lookup::Refused(Refusal::Corrupt { .. })
        ));
        assert!(names(&tmp.0).is_empty());
        // sparse and huge: refused from its size, never read
        let big = File::create(tmp.0.join(format!("{id}.img"))).unwrap();
        big.set_len(512 << 20).unwrap();
        assert!(matches!(
            d.read(&id, 1 << 20),
            Lookup::Refused(Refusal::TooLarge { size, .. }) if size == 512 << 20
        ));
        assert!(names(&tmp.0).is_empty());
        assert_eq!(d.stats().corrupt_files_removed, 2);
    }

    #[test]
    fn links_and_fifos_are_never_followed_or_opened() {
        let tmp = TempDir::new("planted");
        let d = directory(&tmp);
        let id = sha1_hex(b"x");
        let img = tmp.0.join(format!("{id}.img"));
        std::os::unix::fs::symlink("/dev/zero", &img).unwrap();
        assert!(matches!(
            d.read(&id, 100),
            Lookup::Refused(Refusal::Link { .. })
        ));
        fs::remove_file(&img).unwrap();
        let c = std::ffi::CString::new(img.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(matches!(
            d.read(&id, 100),
            Lookup::Refused(Refusal::NotRegular { kind: "FIFO", .. })
        ));
        // a write replaces the planted FIFO, it does not write into it
        d.write(&id, b"x").unwrap();
        assert!(fs::symlink_metadata(&img).unwrap().is_file());
        assert!(matches!(d.read(&id, 100), Lookup::Hit(_)));
        assert_eq!(d.stats().files_refused, 2);
    }

    #[test]
    fn a_planted_link_at_the_final_name_is_replaced_not_written_through() {
        let tmp = TempDir::new("link-final");
        let victim = TempDir::new("victim");
        let target = victim.0.join("precious");
        fs::write(&target, b"precious").unwrap();
        let id = sha1_hex(b"img");
        let img = tmp.0.join(format!("{id}.img"));
        std::os::unix::fs::symlink(&target, &img).unwrap();
        directory(&tmp).write(&id, b"img").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"precious");
        assert!(fs::symlink_metadata(&img).unwrap().is_file());
        assert_eq!(fs::read(&img).unwrap(), b"img");
    }

    #[test]
    fn temp_names_are_exclusive_and_unpredictable() {
        let tmp = TempDir::new("temp");
        let (a, _) = create_temp(&tmp.0, &sha1_hex(b"k")).unwrap();
        let (b, _) = create_temp(&tmp.0, &sha1_hex(b"k")).unwrap();
        assert_ne!(a, b);
        // a link planted at a temp name is refused by exclusive creation
        let planted = tmp.0.join(".planted.tmp");
        std::os::unix::fs::symlink("/etc/passwd", &planted).unwrap();
        let err = OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&planted)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
    }

    #[test]
    fn budget_evicts_least_recently_used_by_file_time() {
        let tmp = TempDir::new("budget");
        let d = directory(&tmp);
        d.set_budget(Some(25));
        let data: Vec<Vec<u8>> = (0..3).map(|i| vec![i as u8; 10]).collect();
        let ids: Vec<String> = data.iter().map(|b| sha1_hex(b)).collect();
        let age = |id: &str, secs| {
            let f = File::options()
                .write(true)
                .open(tmp.0.join(format!("{id}.img")))
                .unwrap();
            f.set_modified(SystemTime::now() - Duration::from_secs(secs))
                .unwrap();
        };
        d.write(&ids[0], &data[0]).unwrap();
        d.write(&ids[1], &data[1]).unwrap();
        age(&ids[0], 200);
        age(&ids[1], 100);
        assert!(matches!(d.read(&ids[0], 100), Lookup::Hit(_))); // now the newest
        d.write(&ids[2], &data[2]).unwrap();
        assert_eq!(names(&tmp.0), {
            let mut v = vec![format!("{}.img", ids[0]), format!("{}.img", ids[2])];
            v.sort();
            v
        });
        assert_eq!(d.stats().disk_evictions, 1);
    }

    #[test]
    fn young_temp_files_are_never_evicted_stale_ones_are() {
        let tmp = TempDir::new("temps");
        let d = directory(&tmp);
        d.set_budget(Some(0));
        let young = tmp.0.join(".aaa.0000000000000001.tmp");
        let stale = tmp.0.join(".bbb.0000000000000002.tmp");
        fs::write(&young, vec![0; 100]).unwrap();
        fs::write(&stale, vec![0; 100]).unwrap();
        File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(SystemTime::now() - STALE_TEMP_AGE * 2)
            .unwrap();
        d.write(&sha1_hex(b"z"), b"z").unwrap();
        assert_eq!(names(&tmp.0), [".aaa.0000000000000001.tmp"]);
        assert_eq!(d.stats().stale_temp_files_removed, 1);
    }

    #[test]
    fn unsafe_directories_are_refused_with_the_reason() {
        let tmp = TempDir::new("checks");
        let d = ImageDirectory::new();
        let file = tmp.0.join("file");
        fs::write(&file, b"").unwrap();
        let err = d.set_path(Some(file)).unwrap_err();
        assert!(matches!(err, DirectoryError::NotADirectory { .. }), "{err}");
        let link = tmp.0.join("link");
        std::os::unix::fs::symlink(&tmp.0, &link).unwrap();
        let err = d.set_path(Some(link)).unwrap_err();
        assert!(matches!(err, DirectoryError::IsALink { .. }), "{err}");
        let shared = tmp.0.join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o775)).unwrap();
        let err = d.set_path(Some(shared.clone())).unwrap_err();
        assert!(err.to_string().contains("chmod go-w"), "{err}");
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
        d.set_path(Some(shared)).unwrap();
        let created = tmp.0.join("new/nested");
        d.set_path(Some(created.clone())).unwrap();
        let mode = fs::metadata(&created).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert_eq!(d.path(), Some(created.clone()));
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            std::os::unix::fs::chown(&created, Some(12345), None).unwrap();
            let err = d.set_path(Some(created)).unwrap_err();
            assert!(
                matches!(err, DirectoryError::ForeignOwner { owner: 12345, .. }),
                "{err}"
            );
        }
    }

    #[test]
    fn without_a_path_nothing_touches_the_disk() {
        let d = ImageDirectory::new();
        assert!(matches!(d.read(&sha1_hex(b"a"), 10), Lookup::Missing));
        d.write(&sha1_hex(b"a"), b"a").unwrap();
        assert_eq!(d.stats(), DirectoryStats::default());
    }
}
