//! Checking fetched image data (`images::verify`) against an advertised id,
//! size and limit: it accepts exactly the data whose SHA-1 is the id
//! (ignoring case), whose length is the advertised one (when given) and at
//! most the limit, returns the lowercase id then, and otherwise reports the
//! first broken rule in the documented order (not a hash, too large, size
//! mismatch, hash mismatch) with the right figures and a message.
#![no_main]

use aioxmpp_avatar_core::ids::sha1_hex;
use aioxmpp_avatar_core::images::{verify, IntegrityError};
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Id {
    Free(String),
    /// The data's SHA-1, bit i of the mask upper-casing digit i, and
    /// optionally one digit replaced (position, new digit).
    OfData(u64, Option<(u8, u8)>),
}

#[derive(Arbitrary, Debug)]
enum Size {
    Absent,
    Length,
    /// The length plus this (wrapping).
    Off(i8),
    Any(u64),
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    id: Id,
    size: Size,
    /// The limit: the length plus this, or any value.
    limit: Result<i8, u64>,
    data: &'a [u8],
}

fuzz_target!(|input: Input<'_>| {
    let data = input.data;
    let len = data.len() as u64;
    let digest = sha1_hex(data);
    let id: String = match &input.id {
        Id::Free(s) => s.clone(),
        Id::OfData(mask, flip) => {
            let mut digits: Vec<u8> = digest.bytes().collect();
            for (i, d) in digits.iter_mut().enumerate() {
                if mask >> (i % 64) & 1 == 1 {
                    d.make_ascii_uppercase();
                }
            }
            if let Some((at, to)) = flip {
                digits[usize::from(*at) % 40] = b"0123456789abcdefABCDEF"[usize::from(*to) % 22];
            }
            String::from_utf8(digits).expect("ASCII")
        }
    };
    let expected_size = match input.size {
        Size::Absent => None,
        Size::Length => Some(len),
        Size::Off(d) => Some(len.wrapping_add_signed(i64::from(d))),
        Size::Any(n) => Some(n),
    };
    let limit = match input.limit {
        Ok(d) => len.saturating_add_signed(i64::from(d)),
        Err(n) => n,
    };

    let is_hash = id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit());
    let lower = id.to_ascii_lowercase();
    let result = verify(&id, expected_size, data, limit);
    match &result {
        Ok(normalised) => {
            assert!(is_hash && len <= limit);
            assert!(expected_size.is_none_or(|n| n == len));
            assert_eq!(*normalised, digest, "the lowercase id");
            assert_eq!(
                lower, digest,
                "accepted only when the data hashes to the id"
            );
        }
        Err(IntegrityError::NotAHash { id: got }) => {
            assert!(!is_hash);
            assert_eq!(*got, id);
        }
        Err(IntegrityError::TooLarge { size, limit: l }) => {
            assert!(is_hash && len > limit);
            assert_eq!((*size, *l), (len, limit));
        }
        Err(IntegrityError::SizeMismatch { expected, actual }) => {
            assert!(is_hash && len <= limit);
            assert_eq!((Some(*expected), *actual), (expected_size, len));
            assert_ne!(*expected, len);
        }
        Err(IntegrityError::HashMismatch { expected, actual }) => {
            assert!(is_hash && len <= limit && expected_size.is_none_or(|n| n == len));
            assert_eq!((expected, actual), (&lower, &digest));
            assert_ne!(lower, digest);
        }
    }
    if let Err(e) = &result {
        assert!(!e.to_string().is_empty());
    }
    let should_pass =
        is_hash && len <= limit && expected_size.is_none_or(|n| n == len) && lower == digest;
    assert_eq!(result.is_ok(), should_pass);
});
