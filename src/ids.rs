//! SHA-1 avatar ids: computing, normalising and recognising them.
//!
//! XEP-0084 §4.2.1 and XEP-0153 §3.1 both identify an avatar by the SHA-1
//! of its image data, written as hexadecimal. Peers may send upper case;
//! comparison and caching always use the lowercase ("normalised") form.

use sha1::{Digest, Sha1};

/// Length of a hex-encoded SHA-1 digest.
pub const SHA1_HEX_LEN: usize = 40;

/// Length of a SHA-1 digest in bytes.
pub const SHA1_LEN: usize = 20;

/// Lowercase hex SHA-1 of `data`.
pub fn sha1_hex(data: &[u8]) -> String {
    hex_encode(&Sha1::digest(data), false)
}

/// `bytes` as hex digits, upper or lower case.
pub fn hex_encode(bytes: &[u8], upper: bool) -> String {
    let digits = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    bytes
        .iter()
        .flat_map(|b| [digits[usize::from(b >> 4)], digits[usize::from(b & 15)]])
        .map(char::from)
        .collect()
}

/// The digest a hex SHA-1 id (any case) stands for, or None if `id` is
/// not 40 hex digits.
pub fn sha1_digest_of(id: &str) -> Option<[u8; SHA1_LEN]> {
    if !is_sha1_hex(id) {
        return None;
    }
    let value = |d: u8| match d {
        b'0'..=b'9' => d - b'0',
        b'a'..=b'f' => d - b'a' + 10,
        _ => d - b'A' + 10,
    };
    let mut digest = [0; SHA1_LEN];
    for (byte, pair) in digest.iter_mut().zip(id.as_bytes().chunks(2)) {
        *byte = (value(pair[0]) << 4) | value(pair[1]);
    }
    Some(digest)
}

/// The normalised (lowercase) form of an id, used for comparison and caching.
///
/// Only ASCII letters change: any other character is kept as it is, so a
/// malformed id stays malformed instead of colliding with a valid one.
pub fn normalize_id(id: &str) -> String {
    id.to_ascii_lowercase()
}

/// Whether `id` has the form of a hex SHA-1 digest (40 hex digits, any case).
pub fn is_sha1_hex(id: &str) -> bool {
    id.len() == SHA1_HEX_LEN && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether `data` hashes to `id` (compared case-insensitively).
pub fn matches_id(data: &[u8], id: &str) -> bool {
    is_sha1_hex(id) && sha1_hex(data).eq_ignore_ascii_case(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_of_known_inputs() {
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }

    #[test]
    fn hex_round_trips() {
        let id = sha1_hex(b"abc");
        let digest = sha1_digest_of(&id.to_uppercase()).unwrap();
        assert_eq!(hex_encode(&digest, false), id);
        assert_eq!(hex_encode(&digest, true), id.to_uppercase());
        assert_eq!(sha1_digest_of("xyz"), None);
        assert_eq!(sha1_digest_of(&"g".repeat(40)), None);
    }

    #[test]
    fn normalisation_lowercases_ascii_only() {
        assert_eq!(normalize_id("ABCdef0123"), "abcdef0123");
        assert_eq!(normalize_id("ÄBC"), "Äbc");
        assert_eq!(normalize_id(""), "");
    }

    #[test]
    fn recognises_sha1_hex() {
        assert!(is_sha1_hex("A9993E364706816ABA3E25717850C26C9CD0D89D"));
        assert!(is_sha1_hex("a9993e364706816aba3e25717850c26c9cd0d89d"));
        assert!(!is_sha1_hex("a9993e364706816aba3e25717850c26c9cd0d89"));
        assert!(!is_sha1_hex("g9993e364706816aba3e25717850c26c9cd0d89d"));
        assert!(!is_sha1_hex("a9993e364706816aba3e25717850c26c9cd0d89dd"));
        // 40 bytes but not 40 ASCII characters
        assert!(!is_sha1_hex("é993e364706816aba3e25717850c26c9cd0d89d"));
    }

    #[test]
    fn matches_id_is_case_insensitive_and_strict() {
        assert!(matches_id(
            b"abc",
            "A9993E364706816ABA3E25717850C26C9CD0D89D"
        ));
        assert!(!matches_id(
            b"abd",
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        ));
        assert!(!matches_id(b"abc", "not-a-hash"));
    }
}
