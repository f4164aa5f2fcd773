//! The compact per-JID record storage (`records::CompactRecords`) with any
//! record at all, validated or not (ids of any case or form, odd MIME
//! types, negative or huge numbers, URLs): decoding gives back exactly what
//! was encoded, and the encoding is canonical, i.e. two lists encode to
//! equal values exactly when the lists are equal (the cache's change
//! detection relies on it).
#![no_main]

use aioxmpp_avatar_core::cache::CompactRecords;
use aioxmpp_avatar_core::model::Record;
use aioxmpp_avatar_core::model::{AvatarInfo, SourceKind};
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Kind {
    Abstract,
    Pubsub,
    Http,
    VCard,
}

#[derive(Arbitrary, Debug, Clone)]
enum Id {
    Free(String),
    /// 40 hex digits; bit i of the mask upper-cases digit i.
    Hex([u8; 20], u64),
}

#[derive(Arbitrary, Debug, Clone)]
enum Mime {
    Known(u8),
    Free(String),
}

#[derive(Arbitrary, Debug, Clone)]
struct Rec {
    kind: Kind,
    id: Id,
    mime_type: Option<Mime>,
    nbytes: Option<Num>,
    width: Option<Num>,
    height: Option<Num>,
    url: Option<String>,
}

/// A number, often next to a bound of the compact form.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Num {
    Any(i64),
    Near(u8, i8),
}

impl Num {
    fn value(self) -> i64 {
        match self {
            Num::Any(v) => v,
            Num::Near(edge, delta) => {
                let edges = [0, 65535, 4_294_967_295, i64::MAX, i64::MIN];
                edges[usize::from(edge) % edges.len()].saturating_add(i64::from(delta))
            }
        }
    }
}

/// How the second list differs from the first.
#[derive(Arbitrary, Debug)]
enum Edit {
    Same,
    Drop(u8),
    Replace(u8, Rec),
    Push(Rec),
    /// Flip the case of one character of one id.
    FlipCase(u8, u8),
    Swap(u8, u8),
}

fn record(r: &Rec) -> Record {
    let id = match &r.id {
        Id::Free(s) => s.clone(),
        Id::Hex(bytes, mask) => bytes
            .iter()
            .flat_map(|b| [b >> 4, b & 15])
            .enumerate()
            .map(|(i, n)| {
                let c = char::from(b"0123456789abcdef"[usize::from(n)]);
                if mask >> (i % 64) & 1 == 1 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect(),
    };
    let known = [
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "IMAGE/PNG",
    ];
    Record {
        kind: match r.kind {
            Kind::Abstract => SourceKind::Abstract,
            Kind::Pubsub => SourceKind::Pubsub,
            Kind::Http => SourceKind::Http,
            Kind::VCard => SourceKind::VCard,
        },
        info: AvatarInfo {
            id,
            mime_type: r.mime_type.as_ref().map(|m| match m {
                Mime::Known(i) => known[usize::from(*i) % known.len()].to_owned(),
                Mime::Free(s) => s.clone(),
            }),
            nbytes: r.nbytes.map(Num::value),
            width: r.width.map(Num::value),
            height: r.height.map(Num::value),
            url: r.url.clone(),
        },
    }
}

fuzz_target!(|input: (Vec<Rec>, Edit)| {
    let (recs, edit) = input;
    let a: Vec<Record> = recs.iter().map(record).collect();
    let mut b = a.clone();
    let pick = |i: u8, len: usize| usize::from(i) % len.max(1);
    match edit {
        Edit::Same => {}
        Edit::Drop(i) if !b.is_empty() => {
            b.remove(pick(i, b.len()));
        }
        Edit::Replace(i, r) if !b.is_empty() => {
            let at = pick(i, b.len());
            b[at] = record(&r);
        }
        Edit::Push(r) => b.push(record(&r)),
        Edit::FlipCase(i, j) if !b.is_empty() => {
            let at = pick(i, b.len());
            let id = &mut b[at].info.id;
            if !id.is_empty() {
                let k = pick(j, id.len());
                if id.is_char_boundary(k) && id.is_char_boundary(k + 1) {
                    let c = char::from(id.as_bytes()[k]);
                    let flipped = if c.is_ascii_lowercase() {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    };
                    id.replace_range(k..k + 1, flipped.encode_utf8(&mut [0; 4]));
                }
            }
        }
        Edit::Swap(i, j) if !b.is_empty() => {
            let (i, j) = (pick(i, b.len()), pick(j, b.len()));
            b.swap(i, j);
        }
        _ => {}
    }

    let sa = CompactRecords::new(&a);
    let sb = CompactRecords::new(&b);
    assert_eq!(sa.to_records(), a, "lossless");
    assert_eq!(sb.to_records(), b, "lossless");
    assert_eq!((sa.len(), sa.is_empty()), (a.len(), a.is_empty()));
    assert_eq!(sa == sb, a == b, "canonical: {a:?} / {b:?}");
    assert_eq!(sa.matches(&b), a == b, "matching is comparing: {a:?} / {b:?}");
    assert_eq!(sa.clone(), sa);
});
