//! SHA-1 ids as peers write them (`ids`): `normalize_id` lowercases ASCII
//! letters only, keeps the length and is idempotent; `is_sha1_hex` accepts
//! exactly 40 ASCII hex digits in any case and does not depend on case;
//! `sha1_hex` gives 40 lowercase hex digits; `matches_id` holds exactly for
//! a well-formed id equal (ignoring case) to the data's SHA-1; XEP-0153's
//! `is_hash_or_empty` is "empty or a SHA-1".
#![no_main]

use aioxmpp_avatar_core::ids::{is_sha1_hex, matches_id, normalize_id, sha1_hex, SHA1_HEX_LEN};
use aioxmpp_avatar_core::own_vcard::is_hash_or_empty;
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    /// An id as received, unless `derived` turns it into the data's hash.
    text: &'a str,
    data: &'a [u8],
    /// Build the id from the data's SHA-1: bit i of `upper` upper-cases
    /// digit i; `flip` changes one digit (index, new digit).
    derived: Option<(u64, Option<(u8, u8)>)>,
}

/// The oracle for a hex SHA-1: 40 characters, each an ASCII hex digit.
fn looks_like_sha1(s: &str) -> bool {
    s.chars().count() == SHA1_HEX_LEN && s.chars().all(|c| c.is_ascii_hexdigit())
}

fn check_normalisation(s: &str) {
    let n = normalize_id(s);
    assert_eq!(n.len(), s.len());
    assert_eq!(normalize_id(&n), n, "idempotent");
    for (a, b) in s.chars().zip(n.chars()) {
        if a.is_ascii_uppercase() {
            assert_eq!(b, a.to_ascii_lowercase());
        } else {
            assert_eq!(a, b, "only ASCII letters change");
        }
    }
    assert_eq!(s.chars().count(), n.chars().count());
    assert_eq!(is_sha1_hex(s), looks_like_sha1(s));
    assert_eq!(is_sha1_hex(s), is_sha1_hex(&n), "case does not matter");
    assert_eq!(is_sha1_hex(&s.to_ascii_uppercase()), is_sha1_hex(s));
    assert_eq!(is_hash_or_empty(s), s.is_empty() || looks_like_sha1(s));
}

fuzz_target!(|input: Input<'_>| {
    let digest = sha1_hex(input.data);
    assert!(looks_like_sha1(&digest) && is_sha1_hex(&digest));
    assert!(!digest.bytes().any(|b| b.is_ascii_uppercase()));
    assert_eq!(normalize_id(&digest), digest);
    assert!(matches_id(input.data, &digest));
    assert!(matches_id(input.data, &digest.to_ascii_uppercase()));

    let id = match input.derived {
        None => input.text.to_owned(),
        Some((upper, flip)) => {
            let mut digits: Vec<u8> = digest.bytes().collect();
            for (i, d) in digits.iter_mut().enumerate() {
                if upper >> (i % 64) & 1 == 1 {
                    d.make_ascii_uppercase();
                }
            }
            if let Some((at, to)) = flip {
                digits[usize::from(at) % SHA1_HEX_LEN] =
                    b"0123456789abcdefABCDEF"[usize::from(to) % 22];
            }
            String::from_utf8(digits).expect("ASCII")
        }
    };
    check_normalisation(&id);
    check_normalisation(input.text);
    let expected = looks_like_sha1(&id) && normalize_id(&id) == digest;
    assert_eq!(matches_id(input.data, &id), expected, "{id:?} vs {digest}");
    if input.derived.is_some_and(|(_, flip)| flip.is_none()) {
        assert!(
            matches_id(input.data, &id),
            "any case of the digest matches"
        );
    }
});
