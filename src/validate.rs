//! The rules for accepting what a peer sends as avatar metadata.
//!
//! Received `<info/>` entries ([`RawInfo`]) pass through [`validate_info`],
//! which accepts, normalises or drops each on its own, so one bad entry
//! never takes the valid ones down with it.

use crate::ids::is_sha1_hex;
use crate::model::AvatarInfoRef;

/// An integer field as it arrived: absent, a number, or something that is
/// not a usable integer (not numeric, or beyond 128 bits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RawInt {
    #[default]
    Absent,
    Value(i128),
    Invalid,
}

/// The fields of one received `<info/>` element, before validation.
#[derive(Clone, Copy, Debug)]
pub struct RawInfo<'a> {
    pub id: Option<&'a str>,
    pub mime_type: Option<&'a str>,
    pub nbytes: RawInt,
    pub width: RawInt,
    pub height: RawInt,
    pub url: Option<&'a str>,
}

/// A received `<info/>` entry with its text owned, for callers that build
/// entries rather than borrow them from parsed XML (the fuzz targets; the
/// Python binding lends [`RawInfo`]s straight from aioxmpp's strings);
/// [`ReceivedInfo::raw`] borrows it.
#[derive(Clone, Debug, Default)]
pub struct ReceivedInfo {
    pub id: Option<String>,
    pub mime_type: Option<String>,
    pub nbytes: RawInt,
    pub width: RawInt,
    pub height: RawInt,
    pub url: Option<String>,
}

impl ReceivedInfo {
    /// The entry as validation takes it.
    pub fn raw(&self) -> RawInfo<'_> {
        RawInfo {
            id: self.id.as_deref(),
            mime_type: self.mime_type.as_deref(),
            nbytes: self.nbytes,
            width: self.width,
            height: self.height,
            url: self.url.as_deref(),
        }
    }
}

/// Borrow every entry of one metadata item for validation.
pub fn raws(infos: &[ReceivedInfo]) -> Vec<RawInfo<'_>> {
    infos.iter().map(ReceivedInfo::raw).collect()
}

/// Why a received entry was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// `id` is missing, empty or not 40 hex digits (XEP-0084 §4.2.1: SHA-1).
    BadId,
    /// `type` is missing, empty, too long or contains spaces/control characters.
    BadMimeType,
    /// `bytes` is missing, negative, not a number or beyond 32 bits.
    BadSize,
    /// `url` is present but empty, too long or contains control characters.
    BadUrl,
}

/// Longest MIME type we accept (RFC 6838 allows 127 + 1 + 127 characters).
pub const MAX_MIME_TYPE_LEN: usize = 255;
/// Longest URL we accept in metadata.
pub const MAX_URL_LEN: usize = 4096;

/// Accept, normalise or drop one received `<info/>` entry.
///
/// Rules (XEP-0084 §4.2.1 and its schema, §9):
/// - `id` is required and must be a hex SHA-1; it is kept exactly as sent.
/// - `type` is required: a non-empty token of at most 255 printable characters.
/// - `bytes` is required: an integer in `0..=u32::MAX` (`xs:unsignedInt`).
/// - `width`/`height` are optional `xs:unsignedShort`; a bad value becomes `None`.
/// - `url` is optional; when present it must be non-empty, at most 4096
///   characters and free of whitespace and control characters.
///
/// The accepted entry borrows its text from `raw`: nothing is copied.
pub fn validate_info<'a>(raw: &RawInfo<'a>) -> Result<AvatarInfoRef<'a>, Rejection> {
    let id = match raw.id {
        Some(id) if is_sha1_hex(id) => id,
        _ => return Err(Rejection::BadId),
    };
    let mime_type = match raw.mime_type {
        Some(m) if is_token(m, MAX_MIME_TYPE_LEN) => m,
        _ => return Err(Rejection::BadMimeType),
    };
    let nbytes = match raw.nbytes {
        RawInt::Value(v) if (0..=i128::from(u32::MAX)).contains(&v) => v as i64,
        _ => return Err(Rejection::BadSize),
    };
    let url = match raw.url {
        None => None,
        Some(u) if is_token(u, MAX_URL_LEN) => Some(u),
        Some(_) => return Err(Rejection::BadUrl),
    };
    Ok(AvatarInfoRef {
        id,
        mime_type: Some(mime_type),
        nbytes: Some(nbytes),
        width: dimension(raw.width),
        height: dimension(raw.height),
        url,
    })
}

/// Validate every entry of one metadata item, keeping at most `max_entries`
/// valid ones in document order, each as `accept` makes it. Returns the
/// accepted entries and how many were dropped (invalid or over the cap).
pub fn validate_infos<'a, T>(
    raws: &[RawInfo<'a>],
    max_entries: usize,
    mut accept: impl FnMut(AvatarInfoRef<'a>) -> T,
) -> (Vec<T>, usize) {
    let mut accepted = Vec::with_capacity(raws.len().min(max_entries));
    let mut dropped = 0;
    for raw in raws {
        match validate_info(raw) {
            Ok(info) if accepted.len() < max_entries => accepted.push(accept(info)),
            _ => dropped += 1,
        }
    }
    (accepted, dropped)
}

/// A width or height: `xs:unsignedShort`, anything else is unknown.
fn dimension(raw: RawInt) -> Option<i64> {
    match raw {
        RawInt::Value(v) if (0..=i128::from(u16::MAX)).contains(&v) => Some(v as i64),
        _ => None,
    }
}

/// Non-empty, bounded, and free of whitespace and control characters.
/// A received MIME type (an `<info/>` `type` or a vCard `TYPE`, XEP-0153
/// §3.2 takes it as the photo's type): kept when it is a token of at most
/// [`MAX_MIME_TYPE_LEN`] printable characters, else dropped.
pub fn valid_mime_type(m: &str) -> Option<&str> {
    is_token(m, MAX_MIME_TYPE_LEN).then_some(m)
}

fn is_token(s: &str, max_len: usize) -> bool {
    // Printable ASCII other than space is neither; only other text needs
    // the Unicode tables.
    let printable_ascii = |b: u8| b > b' ' && b < 0x7f;
    !s.is_empty()
        && s.len() <= max_len
        && (s.bytes().all(printable_ascii)
            || !s.chars().any(|c| c.is_whitespace() || c.is_control()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "A9993E364706816ABA3E25717850C26C9CD0D89D";

    fn raw() -> RawInfo<'static> {
        RawInfo {
            id: Some(ID),
            mime_type: Some("image/png"),
            nbytes: RawInt::Value(1234),
            width: RawInt::Value(64),
            height: RawInt::Value(32),
            url: None,
        }
    }

    #[test]
    fn accepts_a_complete_entry_and_keeps_the_id_as_sent() {
        let info = validate_info(&raw()).unwrap();
        assert_eq!(info.id, ID);
        assert_eq!(info.mime_type, Some("image/png"));
        assert_eq!(info.nbytes, Some(1234));
        assert_eq!((info.width, info.height), (Some(64), Some(32)));
        assert_eq!(info.url, None);
    }

    #[test]
    fn drops_missing_or_malformed_ids() {
        for id in [
            None,
            Some(""),
            Some("abc"),
            Some("ä9993e364706816aba3e25717850c26c9cd0d89"),
        ] {
            let r = RawInfo { id, ..raw() };
            assert_eq!(validate_info(&r), Err(Rejection::BadId), "{id:?}");
        }
    }

    #[test]
    fn drops_missing_or_malformed_types() {
        let long = "a".repeat(MAX_MIME_TYPE_LEN + 1);
        for m in [
            None,
            Some(""),
            Some("image png"),
            Some("image/\u{0}png"),
            Some(long.as_str()),
        ] {
            let r = RawInfo {
                mime_type: m,
                ..raw()
            };
            assert_eq!(validate_info(&r), Err(Rejection::BadMimeType));
        }
    }

    #[test]
    fn size_must_be_an_unsigned_32_bit_integer() {
        for n in [
            RawInt::Absent,
            RawInt::Invalid,
            RawInt::Value(-1),
            RawInt::Value(1 << 32),
        ] {
            let r = RawInfo { nbytes: n, ..raw() };
            assert_eq!(validate_info(&r), Err(Rejection::BadSize), "{n:?}");
        }
        let r = RawInfo {
            nbytes: RawInt::Value(u32::MAX.into()),
            ..raw()
        };
        assert_eq!(validate_info(&r).unwrap().nbytes, Some(i64::from(u32::MAX)));
        let r = RawInfo {
            nbytes: RawInt::Value(0),
            ..raw()
        };
        assert_eq!(validate_info(&r).unwrap().nbytes, Some(0));
    }

    #[test]
    fn bad_dimensions_become_unknown() {
        for v in [
            RawInt::Invalid,
            RawInt::Value(-1),
            RawInt::Value(70000),
            RawInt::Value(i128::MAX),
        ] {
            let r = RawInfo {
                width: v,
                height: v,
                ..raw()
            };
            let info = validate_info(&r).unwrap();
            assert_eq!((info.width, info.height), (None, None));
        }
        let r = RawInfo {
            width: RawInt::Value(65535),
            ..raw()
        };
        assert_eq!(validate_info(&r).unwrap().width, Some(65535));
    }

    #[test]
    fn urls_are_checked_when_present() {
        let r = RawInfo {
            url: Some("https://example.org/a.png"),
            ..raw()
        };
        assert_eq!(
            validate_info(&r).unwrap().url,
            Some("https://example.org/a.png")
        );
        let r = RawInfo {
            url: Some("https://bücher.example/ä.png"),
            ..raw()
        };
        assert!(validate_info(&r).is_ok(), "printable text beyond ASCII");
        let long = format!("https://x/{}", "a".repeat(MAX_URL_LEN));
        for u in [
            "",
            "http://a b",
            "http://a\nb",
            "http://a\u{7f}b",
            "http://ä\u{a0}b",
            "http://a\u{85}b",
            "http://a\u{2028}b",
            long.as_str(),
        ] {
            let r = RawInfo {
                url: Some(u),
                ..raw()
            };
            assert_eq!(validate_info(&r), Err(Rejection::BadUrl));
        }
    }

    #[test]
    fn one_bad_entry_does_not_drop_the_others_and_the_cap_holds() {
        let bad = RawInfo {
            id: Some("x"),
            ..raw()
        };
        let entries = [
            bad,
            raw(),
            bad,
            RawInfo {
                mime_type: Some("image/gif"),
                ..raw()
            },
        ];
        let (ok, dropped) = validate_infos(&entries, 16, |i| i);
        assert_eq!(ok.len(), 2);
        assert_eq!(dropped, 2);
        assert_eq!(ok[1].mime_type, Some("image/gif"));

        let many = vec![raw(); 100];
        let (ok, dropped) = validate_infos(&many, 8, |i| i);
        assert_eq!((ok.len(), dropped), (8, 92));
    }
}
