//! Received XEP-0084 `<info/>` entries (`validate::validate_info`,
//! `validate_infos`, `valid_mime_type`): every entry is accepted exactly
//! when the documented rules say so, with the documented rejection; an
//! accepted entry keeps the fields as sent (dimensions outside
//! `xs:unsignedShort` become unknown) and round-trips unchanged through the
//! compact cache storage; a whole item keeps the first `max_entries` valid
//! entries in order and counts every other one as dropped.
#![no_main]

use aioxmpp_avatar_core::cache::CompactRecords;
use aioxmpp_avatar_core::model::{Record, RecordRef, SourceKind};
use aioxmpp_avatar_core::validate::{
    raws, valid_mime_type, validate_info, validate_infos, RawInt, ReceivedInfo, Rejection,
    MAX_MIME_TYPE_LEN, MAX_URL_LEN,
};
use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;

/// An attribute value: free text, or one close to what a real peer sends
/// so that the fuzzer reaches the accepted cases quickly.
#[derive(Arbitrary, Debug)]
enum Text {
    Free(String),
    /// 40 hex digits (`mask` picks the case of each) and an optional tail.
    Hex([u8; 20], u64, Option<String>),
    Mime(u8, Option<String>),
    /// A long token, around the length limits.
    Long(u16, char),
}

impl Text {
    fn build(&self) -> String {
        match self {
            Text::Free(s) => s.clone(),
            Text::Hex(bytes, mask, tail) => {
                let mut s = String::new();
                for (i, b) in bytes.iter().enumerate() {
                    for (j, nibble) in [b >> 4, b & 15].into_iter().enumerate() {
                        let c = char::from(b"0123456789abcdef"[usize::from(nibble)]);
                        let upper = mask >> ((2 * i + j) % 64) & 1 == 1;
                        s.push(if upper { c.to_ascii_uppercase() } else { c });
                    }
                }
                s + tail.as_deref().unwrap_or("")
            }
            Text::Mime(i, tail) => {
                let base = ["image/png", "image/jpeg", "image/gif", "image/webp", "x"];
                base[usize::from(*i) % base.len()].to_owned() + tail.as_deref().unwrap_or("")
            }
            Text::Long(n, c) => {
                let n = usize::from(*n) % (MAX_URL_LEN + 8);
                std::iter::repeat_n(*c, n).collect()
            }
        }
    }
}

/// An integer attribute: absent, unparsable, a value, or one near a bound.
#[derive(Arbitrary, Debug)]
enum Int {
    Absent,
    Invalid,
    Value(i128),
    Near(u8, i8),
}

impl Int {
    fn build(&self) -> RawInt {
        match self {
            Int::Absent => RawInt::Absent,
            Int::Invalid => RawInt::Invalid,
            Int::Value(v) => RawInt::Value(*v),
            Int::Near(edge, delta) => {
                let edges = [
                    0,
                    i128::from(u16::MAX),
                    i128::from(u32::MAX),
                    i128::from(i64::MAX),
                    i128::from(i64::MIN),
                    i128::MAX,
                    i128::MIN,
                ];
                let base = edges[usize::from(*edge) % edges.len()];
                RawInt::Value(base.saturating_add(i128::from(*delta)))
            }
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Entry {
    id: Option<Text>,
    mime_type: Option<Text>,
    nbytes: Int,
    width: Int,
    height: Int,
    url: Option<Text>,
}

/// The model of an id rule: exactly 40 hex digits, any case.
fn sha1_form(id: &str) -> bool {
    id.len() == 40 && id.chars().all(|c| c.is_ascii_hexdigit())
}

/// The model of a token rule: non-empty, at most `max` bytes, no
/// whitespace or control character.
fn token(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn expected(o: &ReceivedInfo) -> Result<(), Rejection> {
    if !o.id.as_deref().is_some_and(sha1_form) {
        return Err(Rejection::BadId);
    }
    if !o
        .mime_type
        .as_deref()
        .is_some_and(|m| token(m, MAX_MIME_TYPE_LEN))
    {
        return Err(Rejection::BadMimeType);
    }
    if !matches!(o.nbytes, RawInt::Value(v) if (0..=i128::from(u32::MAX)).contains(&v)) {
        return Err(Rejection::BadSize);
    }
    if o.url.as_deref().is_some_and(|u| !token(u, MAX_URL_LEN)) {
        return Err(Rejection::BadUrl);
    }
    Ok(())
}

fn dimension(raw: RawInt) -> Option<i64> {
    match raw {
        RawInt::Value(v) => u16::try_from(v).ok().map(i64::from),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(max_entries) = u.int_in_range(0..=20usize) else {
        return;
    };
    let Ok(entries) = Vec::<Entry>::arbitrary(&mut u) else {
        return;
    };
    let owned: Vec<ReceivedInfo> = entries
        .iter()
        .map(|e| ReceivedInfo {
            id: e.id.as_ref().map(Text::build),
            mime_type: e.mime_type.as_ref().map(Text::build),
            nbytes: e.nbytes.build(),
            width: e.width.build(),
            height: e.height.build(),
            url: e.url.as_ref().map(Text::build),
        })
        .collect();
    let raws = raws(&owned);

    let mut valid = Vec::new();
    for (o, raw) in owned.iter().zip(&raws) {
        if let Some(m) = raw.mime_type {
            let ok = token(m, MAX_MIME_TYPE_LEN);
            assert_eq!(valid_mime_type(m), ok.then_some(m));
        }
        let got = validate_info(raw);
        let verdict = got.as_ref().map(|_| ()).map_err(|e| *e);
        assert_eq!(verdict, expected(o), "{raw:?}");
        let Ok(info) = got else { continue };
        assert_eq!(Some(info.id), raw.id, "id kept exactly as sent");
        assert_eq!(info.mime_type.as_deref(), raw.mime_type);
        assert_eq!(info.url.as_deref(), raw.url);
        match raw.nbytes {
            RawInt::Value(v) => assert_eq!(info.nbytes.map(i128::from), Some(v)),
            _ => unreachable!("accepted without a size"),
        }
        assert_eq!(info.width, dimension(raw.width));
        assert_eq!(info.height, dimension(raw.height));
        for kind in [SourceKind::Pubsub, SourceKind::Http] {
            let borrowed = RecordRef { kind, info };
            let stored = CompactRecords::new(std::slice::from_ref(&borrowed));
            assert!(stored.matches(std::slice::from_ref(&borrowed)));
            assert_eq!(stored.to_records(), [borrowed.to_record()]);
        }
        valid.push(info);
    }

    let (accepted, dropped) = validate_infos(&raws, max_entries, |info| info);
    assert!(accepted.len() <= max_entries);
    assert_eq!(accepted.len() + dropped, raws.len());
    assert_eq!(accepted, valid[..valid.len().min(max_entries)]);
    let records: Vec<Record> = accepted
        .into_iter()
        .map(|info| Record {
            kind: SourceKind::Pubsub,
            info: info.to_info(),
        })
        .collect();
    assert_eq!(CompactRecords::new(&records).to_records(), records);
});
