//! Compact storage of the records cached per JID.
//!
//! A cached avatar source is, in practice, a 40-digit hex SHA-1, a common
//! MIME type and a few small numbers. [`CompactRecords`] keeps exactly that
//! in 40 bytes per source, with up to two sources inline in the cache entry,
//! and moves anything unusual (mixed-case or non-hex ids, other MIME types,
//! URLs, out-of-range numbers) into an optional shared side box. The encoding is
//! lossless and canonical: equal records encode to equal bytes, so change
//! detection compares the compact forms directly. Descriptors hold a
//! [`CompactRecord`] too and decode a field only when it is read.

use std::sync::Arc;

use crate::ids::{hex_encode, sha1_digest_of, IdCase, SHA1_LEN};
use crate::model::{AsRecord, AvatarInfo, Record, RecordRef, SourceKind};

/// MIME types stored as a one-byte code; 0 means none, `OTHER` the side box.
const MIME_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];
const MIME_NONE: u8 = 0;
const MIME_OTHER: u8 = u8::MAX;

const HAS_NBYTES: u8 = 1;
const HAS_WIDTH: u8 = 1 << 1;
const HAS_HEIGHT: u8 = 1 << 2;
const ID_UPPER: u8 = 1 << 3;

/// Whatever does not fit the compact form: a URL (common for XEP-0084
/// sources that are not in the data node), or rare values.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Extra {
    url: Option<Box<str>>,
    rare: Option<Box<Rare>>,
}

/// Values a validated peer record never has: mixed-case or non-hex ids,
/// unknown MIME types, numbers outside the schema's ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Rare {
    id: Option<Box<str>>,
    mime_type: Option<Box<str>>,
    nbytes: Option<i64>,
    width: Option<i64>,
    height: Option<i64>,
}

/// [`Rare`] before it is boxed: borrowed from the record being encoded.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct RareRef<'a> {
    id: Option<&'a str>,
    mime_type: Option<&'a str>,
    nbytes: Option<i64>,
    width: Option<i64>,
    height: Option<i64>,
}

/// One record in 40 bytes; equal records encode to equal values.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CompactRecord {
    inline: Inline,
    /// Shared, not copied, by the descriptors built from the record: a
    /// lookup then costs no allocation per URL.
    extra: Option<Arc<Extra>>,
}

/// The part of a record kept in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Inline {
    id: [u8; SHA1_LEN],
    nbytes: u32,
    width: u16,
    height: u16,
    /// An enum, not a byte: its unused values give `Repr` a niche for its tag.
    kind: SourceKind,
    mime: u8,
    flags: u8,
}

/// The records of one cache entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactRecords(Repr);

#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum Repr {
    #[default]
    Empty,
    One(CompactRecord),
    Two([CompactRecord; 2]),
    Many(Box<[CompactRecord]>),
}

impl CompactRecords {
    /// Encode `records`.
    pub fn new<R: AsRecord>(records: &[R]) -> Self {
        let mut compact = records.iter().map(CompactRecord::new);
        Self(match records.len() {
            0 => Repr::Empty,
            1 => Repr::One(compact.next().expect("one")),
            2 => Repr::Two([compact.next().expect("two"), compact.next().expect("two")]),
            _ => Repr::Many(compact.collect()),
        })
    }

    /// Whether these are exactly what encoding `records` would give,
    /// decided without encoding them: nothing is allocated.
    pub fn matches<R: AsRecord>(&self, records: &[R]) -> bool {
        let stored = self.as_slice();
        stored.len() == records.len()
            && stored
                .iter()
                .zip(records)
                .all(|(c, r)| c.matches(&r.as_record()))
    }

    /// Decode the records.
    pub fn to_records(&self) -> Vec<Record> {
        self.iter().map(CompactRecord::to_record).collect()
    }

    /// The records, compact.
    pub fn iter(&self) -> std::slice::Iter<'_, CompactRecord> {
        self.as_slice().iter()
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether there are no records ("no avatar").
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn as_slice(&self) -> &[CompactRecord] {
        match &self.0 {
            Repr::Empty => &[],
            Repr::One(c) => std::slice::from_ref(c),
            Repr::Two(c) => c,
            Repr::Many(c) => c,
        }
    }
}

impl CompactRecord {
    /// Encode `record` (lossless).
    pub fn new<R: AsRecord + ?Sized>(record: &R) -> Self {
        let (inline, url, rare) = split(&record.as_record());
        let extra = (url.is_some() || rare != RareRef::default()).then(|| {
            Arc::new(Extra {
                url: url.map(Box::from),
                rare: (rare != RareRef::default()).then(|| {
                    Box::new(Rare {
                        id: rare.id.map(Box::from),
                        mime_type: rare.mime_type.map(Box::from),
                        nbytes: rare.nbytes,
                        width: rare.width,
                        height: rare.height,
                    })
                }),
            })
        });
        Self { inline, extra }
    }

    /// Whether this is what encoding `record` would give.
    fn matches(&self, record: &RecordRef<'_>) -> bool {
        let (inline, url, rare) = split(record);
        inline == self.inline && url == self.url() && rare == self.rare_ref()
    }

    /// Decode the whole record.
    pub fn to_record(&self) -> Record {
        Record {
            kind: self.inline.kind,
            info: self.to_info(),
        }
    }

    /// Decode the fields.
    pub fn to_info(&self) -> AvatarInfo {
        AvatarInfo {
            id: self.id(),
            mime_type: self.mime_type().map(String::from),
            nbytes: self.nbytes(),
            width: self.width(),
            height: self.height(),
            url: self.url().map(String::from),
        }
    }

    /// How the image is reached.
    pub fn kind(&self) -> SourceKind {
        self.inline.kind
    }

    /// The id exactly as it was written.
    pub fn id(&self) -> String {
        match self.rare().and_then(|r| r.id.as_deref()) {
            Some(id) => id.to_owned(),
            None => hex_encode(&self.inline.id, self.inline.flags & ID_UPPER != 0),
        }
    }

    /// The MIME type, if any.
    pub fn mime_type(&self) -> Option<&str> {
        match self.inline.mime {
            MIME_NONE => None,
            MIME_OTHER => self.rare().and_then(|r| r.mime_type.as_deref()),
            code => Some(MIME_TYPES[usize::from(code - 1)]),
        }
    }

    /// The size in bytes, if given.
    pub fn nbytes(&self) -> Option<i64> {
        self.number(HAS_NBYTES, self.inline.nbytes.into(), |r| r.nbytes)
    }

    /// The width in pixels, if given.
    pub fn width(&self) -> Option<i64> {
        self.number(HAS_WIDTH, self.inline.width.into(), |r| r.width)
    }

    /// The height in pixels, if given.
    pub fn height(&self) -> Option<i64> {
        self.number(HAS_HEIGHT, self.inline.height.into(), |r| r.height)
    }

    /// The URL of an HTTP source, if any.
    pub fn url(&self) -> Option<&str> {
        self.extra.as_deref().and_then(|e| e.url.as_deref())
    }

    fn rare(&self) -> Option<&Rare> {
        self.extra.as_deref().and_then(|e| e.rare.as_deref())
    }

    fn rare_ref(&self) -> RareRef<'_> {
        self.rare().map_or_else(RareRef::default, |r| RareRef {
            id: r.id.as_deref(),
            mime_type: r.mime_type.as_deref(),
            nbytes: r.nbytes,
            width: r.width,
            height: r.height,
        })
    }

    fn number(&self, flag: u8, inline: i64, wide: fn(&Rare) -> Option<i64>) -> Option<i64> {
        if self.inline.flags & flag != 0 {
            Some(inline)
        } else {
            self.rare().and_then(wide)
        }
    }
}

/// Encode what of `record` fits in place; the rest (a URL, rare values)
/// is returned still borrowed.
fn split<'a>(record: &RecordRef<'a>) -> (Inline, Option<&'a str>, RareRef<'a>) {
    let info = &record.info;
    let mut rare = RareRef::default();
    let mut c = Inline {
        id: [0; SHA1_LEN],
        nbytes: 0,
        width: 0,
        height: 0,
        kind: record.kind,
        mime: MIME_NONE,
        flags: 0,
    };
    match sha1_digest_of(info.id) {
        Some((digest, IdCase::Lower)) => c.id = digest,
        Some((digest, IdCase::Upper)) => {
            c.id = digest;
            c.flags |= ID_UPPER;
        }
        Some((_, IdCase::Mixed)) | None => rare.id = Some(info.id),
    }
    if let Some(mime) = info.mime_type {
        match MIME_TYPES.iter().position(|m| *m == mime) {
            Some(i) => c.mime = i as u8 + 1,
            None => {
                c.mime = MIME_OTHER;
                rare.mime_type = Some(mime);
            }
        }
    }
    match info.nbytes.map(u32::try_from) {
        None => {}
        Some(Ok(n)) => {
            c.nbytes = n;
            c.flags |= HAS_NBYTES;
        }
        Some(Err(_)) => rare.nbytes = info.nbytes,
    }
    for (value, field, flag, wide) in [
        (info.width, &mut c.width, HAS_WIDTH, &mut rare.width),
        (info.height, &mut c.height, HAS_HEIGHT, &mut rare.height),
    ] {
        match value.map(u16::try_from) {
            None => {}
            Some(Ok(v)) => {
                *field = v;
                c.flags |= flag;
            }
            Some(Err(_)) => *wide = value,
        }
    }
    (c, info.url, rare)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: SourceKind, info: AvatarInfo) -> Record {
        Record { kind, info }
    }

    fn typical(id: &str) -> Record {
        record(
            SourceKind::Pubsub,
            AvatarInfo {
                id: id.into(),
                mime_type: Some("image/png".into()),
                nbytes: Some(1234),
                width: Some(64),
                height: Some(64),
                url: None,
            },
        )
    }

    #[test]
    fn typical_records_are_small_and_inline() {
        assert_eq!(std::mem::size_of::<CompactRecord>(), 40);
        assert_eq!(
            std::mem::size_of::<CompactRecords>(),
            80,
            "two records, no tag"
        );
        let r = typical("a9993e364706816aba3e25717850c26c9cd0d89d");
        assert!(CompactRecord::new(&r).extra.is_none());
        assert_eq!(
            std::mem::size_of::<Extra>(),
            24,
            "a URL costs one small box"
        );
        let stored = CompactRecords::new(&[r.clone(), r.clone()]);
        assert!(matches!(stored.0, Repr::Two(_)));
        assert_eq!(stored.to_records(), vec![r.clone(), r]);
    }

    #[test]
    fn every_record_survives_the_round_trip() {
        let odd = [
            typical("A9993E364706816ABA3E25717850C26C9CD0D89D"),
            typical("A9993e364706816aba3e25717850c26c9cd0d89d"),
            typical("not-a-hash"),
            typical(""),
            record(
                SourceKind::VCard,
                AvatarInfo {
                    id: "da39a3ee5e6b4b0d3255bfef95601890afd80709".into(),
                    ..Default::default()
                },
            ),
            record(
                SourceKind::Http,
                AvatarInfo {
                    id: "x".into(),
                    mime_type: Some("image/x-odd".into()),
                    nbytes: Some(-1),
                    width: Some(70000),
                    height: Some(-5),
                    url: Some("https://example.org/a.png".into()),
                },
            ),
            record(
                SourceKind::Abstract,
                AvatarInfo {
                    nbytes: Some(i64::MAX),
                    ..Default::default()
                },
            ),
        ];
        for r in &odd {
            assert_eq!(&CompactRecord::new(r).to_record(), r, "{r:?}");
        }
        let stored = CompactRecords::new(&odd);
        assert_eq!(stored.to_records(), odd);
        assert_eq!(stored.len(), odd.len());
        assert!(CompactRecords::new(&[] as &[Record]).is_empty());
    }

    #[test]
    fn matching_decides_as_encoding_and_comparing_would() {
        let url = |id: &str, url: &str| {
            let mut r = typical(id);
            r.kind = SourceKind::Http;
            r.info.url = Some(url.into());
            r
        };
        let id = "a9993e364706816aba3e25717850c26c9cd0d89d";
        let mut odd_mime = typical(id);
        odd_mime.info.mime_type = Some("image/x-odd".into());
        let mut wide = typical(id);
        wide.info.width = Some(70000);
        let one = |r: &Record| vec![r.clone()];
        let sets = [
            vec![],
            one(&typical(id)),
            one(&typical(&id.to_uppercase())),
            one(&typical("A9993e364706816aba3e25717850c26c9cd0d89d")),
            one(&typical("not-a-hash")),
            one(&url(id, "https://a.example/1")),
            one(&url(id, "https://a.example/2")),
            one(&odd_mime),
            one(&wide),
            vec![typical(id), url(id, "https://a.example/1")],
            vec![url(id, "https://a.example/1"), typical(id)],
            vec![typical(id), typical(id), odd_mime.clone()],
        ];
        for stored in &sets {
            let encoded = CompactRecords::new(stored);
            for candidate in &sets {
                assert_eq!(
                    encoded.matches(candidate),
                    encoded == CompactRecords::new(candidate),
                    "{stored:?} / {candidate:?}"
                );
            }
        }
    }

    #[test]
    fn encoding_is_canonical() {
        let a = typical("a9993e364706816aba3e25717850c26c9cd0d89d");
        let stored = |r: &Record| CompactRecords::new(std::slice::from_ref(r));
        let mut b = a.clone();
        assert_eq!(stored(&a), stored(&b));
        b.info.width = Some(65);
        assert_ne!(stored(&a), stored(&b));
        let upper = typical("A9993E364706816ABA3E25717850C26C9CD0D89D");
        assert_ne!(
            CompactRecords::new(&[a]),
            CompactRecords::new(&[upper]),
            "case is kept"
        );
    }
}
