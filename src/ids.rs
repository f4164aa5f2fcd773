//! SHA-1 avatar ids: computing, normalising and recognising them.
//!
//! XEP-0084 §4.2.1 and XEP-0153 §3.1 both identify an avatar by the SHA-1
//! of its image data, written as hexadecimal. Peers may send upper case;
//! comparison and caching always use the lowercase ("normalised") form.

use sha1::{Digest, Sha1};

/// Length of a hex-encoded SHA-1 digest.
pub const SHA1_HEX_LEN: usize = 40;

/// Lowercase hex SHA-1 of `data`.
pub fn sha1_hex(data: &[u8]) -> String {
    let digest = Sha1::digest(data);
    let mut out = String::with_capacity(SHA1_HEX_LEN);
    for byte in digest.iter() {
        out.push(hex_digit(byte >> 4));
        out.push(hex_digit(byte & 0x0f));
    }
    out
}

fn hex_digit(nibble: u8) -> char {
    char::from(b"0123456789abcdef"[usize::from(nibble)])
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
