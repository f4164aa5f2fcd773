//! A verified, content-addressed store of avatar images.
//!
//! Images are keyed by the normalised SHA-1 of their bytes, and only bytes
//! that hash to their key get in, so the store can be shared by every
//! descriptor and every JID: an avatar used by many contacts is fetched
//! once. Memory is bounded by a byte budget with LRU eviction. Keeping
//! images across restarts is `image_directory`'s job.

use std::fmt;
use std::sync::Arc;

use crate::ids::{is_sha1_hex, normalize_id, sha1_hex};
use crate::lru::Lru;

/// Default memory budget: 16 MiB of image data.
pub const DEFAULT_MEMORY_BUDGET: usize = 16 * 1024 * 1024;
/// Default largest accepted image: 1 MiB.
pub const DEFAULT_MAX_IMAGE_BYTES: u64 = 1024 * 1024;

/// Why fetched data was not accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IntegrityError {
    /// The advertised id is not a SHA-1, so nothing can be verified.
    NotAHash { id: String },
    /// The data is larger than the configured maximum.
    TooLarge { size: u64, limit: u64 },
    /// The data length differs from the advertised size.
    SizeMismatch { expected: u64, actual: u64 },
    /// The data does not hash to the advertised id.
    HashMismatch { expected: String, actual: String },
}

impl fmt::Display for IntegrityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAHash { id } => write!(
                f,
                "avatar id {id:?} is not a SHA-1 (40 hex digits), so the image cannot be verified"
            ),
            Self::TooLarge { size, limit } => write!(
                f,
                "avatar image of {size} bytes exceeds the limit of {limit} bytes"
            ),
            Self::SizeMismatch { expected, actual } => write!(
                f,
                "avatar image has {actual} bytes but its metadata advertised {expected}"
            ),
            Self::HashMismatch { expected, actual } => write!(
                f,
                "avatar image hashes to {actual} but its id is {expected}"
            ),
        }
    }
}

impl std::error::Error for IntegrityError {}

/// Check `data` against an advertised id and size (XEP-0084 §4.2.1: the id
/// is the SHA-1 of the data, `bytes` its length) and a size limit. Returns
/// the normalised id.
pub fn verify(
    id: &str,
    expected_size: Option<u64>,
    data: &[u8],
    limit: u64,
) -> Result<String, IntegrityError> {
    if !is_sha1_hex(id) {
        return Err(IntegrityError::NotAHash { id: id.to_owned() });
    }
    let actual = data.len() as u64;
    if actual > limit {
        return Err(IntegrityError::TooLarge {
            size: actual,
            limit,
        });
    }
    if let Some(expected) = expected_size.filter(|e| *e != actual) {
        return Err(IntegrityError::SizeMismatch { expected, actual });
    }
    let computed = sha1_hex(data);
    let expected = normalize_id(id);
    if computed != expected {
        return Err(IntegrityError::HashMismatch {
            expected,
            actual: computed,
        });
    }
    Ok(expected)
}

/// Counters of the store's work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub memory_hits: u64,
    pub disk_hits: u64,
    pub misses: u64,
    pub bytes_verified: u64,
    pub integrity_failures: u64,
    pub evictions: u64,
}

/// The image store.
pub struct ImageStore {
    memory: Lru<String, Arc<[u8]>>,
    used: usize,
    budget: usize,
    max_image_bytes: u64,
    stats: StoreStats,
}

impl Default for ImageStore {
    fn default() -> Self {
        Self::new(DEFAULT_MEMORY_BUDGET, DEFAULT_MAX_IMAGE_BYTES)
    }
}

impl ImageStore {
    /// A memory-only store with a budget in bytes and a per-image limit.
    pub fn new(budget: usize, max_image_bytes: u64) -> Self {
        Self {
            memory: Lru::new(usize::MAX),
            used: 0,
            budget,
            max_image_bytes,
            stats: StoreStats::default(),
        }
    }

    /// The largest image accepted, in bytes.
    pub fn max_image_bytes(&self) -> u64 {
        self.max_image_bytes
    }

    /// Change the largest image accepted.
    pub fn set_max_image_bytes(&mut self, limit: u64) {
        self.max_image_bytes = limit;
    }

    /// Whether an image advertised with `nbytes` is over the limit, so it
    /// is refused before any request (a negative size is not a size).
    pub fn advertised_too_large(&self, nbytes: Option<i64>) -> bool {
        nbytes.is_some_and(|n| u64::try_from(n).is_ok_and(|n| n > self.max_image_bytes))
    }

    /// The memory budget in bytes.
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// Change the memory budget, evicting as needed.
    pub fn set_budget(&mut self, budget: usize) {
        self.budget = budget;
        self.shrink_to_budget();
    }

    /// Bytes of image data held in memory.
    pub fn memory_used(&self) -> usize {
        self.used
    }

    /// Counters so far.
    pub fn stats(&self) -> StoreStats {
        self.stats
    }

    /// The image with this id from memory, or None (counted as a miss).
    pub fn get(&mut self, id: &str) -> Option<Arc<[u8]>> {
        let found = if is_sha1_hex(id) {
            self.memory.get(&normalize_id(id)).cloned()
        } else {
            None
        };
        match &found {
            Some(_) => self.stats.memory_hits += 1,
            None => self.stats.misses += 1,
        }
        found
    }

    /// Keep bytes already verified against `id` (read back from the image
    /// directory, which verifies every file it serves).
    pub fn remember_verified(&mut self, id: &str, data: Arc<[u8]>) {
        debug_assert!(verify(id, None, &data, u64::MAX).is_ok());
        if is_sha1_hex(id) {
            self.remember(normalize_id(id), data);
        }
    }

    /// Verify fetched `data` against the advertised id and size, and keep
    /// it when it passes. Nothing is stored on failure.
    pub fn put_verified(
        &mut self,
        id: &str,
        expected_size: Option<u64>,
        data: &[u8],
    ) -> Result<Arc<[u8]>, IntegrityError> {
        let key = match verify(id, expected_size, data, self.max_image_bytes) {
            Ok(key) => key,
            Err(e) => {
                self.stats.integrity_failures += 1;
                return Err(e);
            }
        };
        self.stats.bytes_verified += data.len() as u64;
        let data: Arc<[u8]> = data.into();
        self.remember(key, data.clone());
        Ok(data)
    }

    fn remember(&mut self, key: String, data: Arc<[u8]>) {
        if data.len() > self.budget {
            return;
        }
        self.used += data.len();
        if let Some(old) = self.memory.peek(&key) {
            self.used -= old.len();
        }
        self.memory.insert(key, data);
        self.shrink_to_budget();
    }

    fn shrink_to_budget(&mut self) {
        while self.used > self.budget {
            match self.memory.pop_oldest() {
                Some((_, old)) => {
                    self.used -= old.len();
                    self.stats.evictions += 1;
                }
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_rules() {
        let id = sha1_hex(b"abc");
        assert_eq!(
            verify(&id.to_uppercase(), Some(3), b"abc", 10),
            Ok(id.clone())
        );
        assert!(matches!(
            verify("xyz", None, b"abc", 10),
            Err(IntegrityError::NotAHash { .. })
        ));
        assert!(matches!(
            verify(&id, None, b"abc", 2),
            Err(IntegrityError::TooLarge { .. })
        ));
        assert!(matches!(
            verify(&id, Some(4), b"abc", 10),
            Err(IntegrityError::SizeMismatch { .. })
        ));
        assert!(matches!(
            verify(&id, None, b"abd", 10),
            Err(IntegrityError::HashMismatch { .. })
        ));
    }

    #[test]
    fn stores_only_verified_data_and_shares_it_by_id() {
        let mut store = ImageStore::default();
        let id = sha1_hex(b"image");
        assert!(store.put_verified(&id, None, b"other").is_err());
        assert!(store.get(&id).is_none());
        store
            .put_verified(&id.to_uppercase(), Some(5), b"image")
            .unwrap();
        assert_eq!(&*store.get(&id.to_uppercase()).unwrap(), b"image");
        let s = store.stats();
        assert_eq!(
            (
                s.memory_hits,
                s.misses,
                s.integrity_failures,
                s.bytes_verified
            ),
            (1, 1, 1, 5)
        );
    }

    #[test]
    fn memory_budget_evicts_least_recently_used() {
        let mut store = ImageStore::new(10, 100);
        let ids: Vec<_> = [b"aaaa", b"bbbb", b"cccc"]
            .iter()
            .map(|d| sha1_hex(*d))
            .collect();
        store.put_verified(&ids[0], None, b"aaaa").unwrap();
        store.put_verified(&ids[1], None, b"bbbb").unwrap();
        store.get(&ids[0]);
        store.put_verified(&ids[2], None, b"cccc").unwrap();
        assert_eq!(store.memory_used(), 8);
        assert!(store.get(&ids[1]).is_none());
        assert!(store.get(&ids[0]).is_some());
        assert_eq!(store.stats().evictions, 1);
        assert!(store.advertised_too_large(Some(101)));
        assert!(!store.advertised_too_large(Some(100)));
        assert!(!store.advertised_too_large(Some(-1)));
        assert!(!store.advertised_too_large(None));
        // larger than the whole budget: verified and returned, not kept
        let big = vec![7u8; 20];
        assert!(store.put_verified(&sha1_hex(&big), None, &big).is_ok());
        assert_eq!(store.memory_used(), 8);
    }
}
