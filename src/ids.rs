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

/// How the letters of a hex id are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdCase {
    /// No upper-case letter (also an id of digits only).
    Lower,
    /// Upper-case letters only.
    Upper,
    /// Both.
    Mixed,
}

/// Each byte's value as a hex digit, or-ed with what kind of character it
/// is. A lookup, not a `match`: the digits of a hash are random, and a
/// branch per digit would mispredict about every third one.
const HEX_DIGITS: [u8; 256] = {
    let mut table = [NOT_HEX; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => (c - b'a' + 10) | LOWER_HEX,
            b'A'..=b'F' => (c - b'A' + 10) | UPPER_HEX,
            _ => NOT_HEX,
        };
        b += 1;
    }
    table
};
const LOWER_HEX: u8 = 0x10;
const UPPER_HEX: u8 = 0x20;
const NOT_HEX: u8 = 0x80;

/// The digest a hex SHA-1 id (any case) stands for and how its letters
/// are written, in one pass; None if `id` is not 40 hex digits.
pub fn sha1_digest_of(id: &str) -> Option<([u8; SHA1_LEN], IdCase)> {
    let id = id.as_bytes();
    if id.len() != SHA1_HEX_LEN {
        return None;
    }
    let mut seen = 0;
    let mut digest = [0; SHA1_LEN];
    for (byte, pair) in digest.iter_mut().zip(id.chunks_exact(2)) {
        let (high, low) = (
            HEX_DIGITS[usize::from(pair[0])],
            HEX_DIGITS[usize::from(pair[1])],
        );
        seen |= high | low;
        *byte = (high << 4) | (low & 0x0f);
    }
    let case = match (
        seen & NOT_HEX != 0,
        seen & LOWER_HEX != 0,
        seen & UPPER_HEX != 0,
    ) {
        (true, _, _) => return None,
        (false, _, false) => IdCase::Lower,
        (false, false, true) => IdCase::Upper,
        (false, true, true) => IdCase::Mixed,
    };
    Some((digest, case))
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
    id.len() == SHA1_HEX_LEN
        && id
            .bytes()
            .fold(0, |seen, b| seen | HEX_DIGITS[usize::from(b)])
            & NOT_HEX
            == 0
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
        let (digest, case) = sha1_digest_of(&id.to_uppercase()).unwrap();
        assert_eq!(case, IdCase::Upper);
        assert_eq!(hex_encode(&digest, false), id);
        assert_eq!(hex_encode(&digest, true), id.to_uppercase());
        assert_eq!(sha1_digest_of(&id), Some((digest, IdCase::Lower)));
        let mixed = format!("A{}", &id[1..]);
        assert_eq!(sha1_digest_of(&mixed), Some((digest, IdCase::Mixed)));
        let digits = "0123456789".repeat(4);
        assert_eq!(sha1_digest_of(&digits).map(|d| d.1), Some(IdCase::Lower));
        assert_eq!(sha1_digest_of("xyz"), None);
        assert_eq!(sha1_digest_of(&"g".repeat(40)), None);
        assert_eq!(sha1_digest_of(&format!("{}ä", &id[..38])), None);
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
