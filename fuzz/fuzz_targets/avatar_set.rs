//! The rules of `AvatarSet.add_avatar_image` (`avatar_set`), driven by a
//! sequence of calls with arbitrary arguments as a Python caller may pass
//! them: each call succeeds or fails exactly as an independent model of the
//! documented rules says (same error, checked in the same order), a failed
//! call leaves the set unchanged, a successful one appends the expected
//! record to its MIME type's group; `png_id` is the SHA-1 of the one PNG
//! given as bytes; `png_header` reads only a PNG whose first chunk is a
//! complete 13-byte IHDR with non-zero dimensions and otherwise says why,
//! `png_dimensions` only dimensions in `1..=65535`; every error message
//! renders.
#![no_main]

use aioxmpp_avatar_core::avatar_set::{
    check_publishable, max_of, png_dimensions, png_header, AvatarSet, AvatarSetError, NewSource,
    PngHeaderError, PNG_MIME_TYPE,
};
use aioxmpp_avatar_core::ids::{normalize_id, sha1_hex};
use aioxmpp_avatar_core::model::AvatarInfo;
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Mime {
    Png,
    Gif,
    Free(String),
}

#[derive(Arbitrary, Debug)]
enum Id {
    /// The SHA-1 of the bytes given (if any); bit i of the mask upper-cases
    /// digit i.
    OfBytes(u64),
    Free(String),
}

#[derive(Arbitrary, Debug)]
enum Bytes {
    Raw(Vec<u8>),
    /// A PNG signature and IHDR with these dimensions, then `tail`.
    Png(u32, u32, Vec<u8>),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Num {
    Any(i64),
    /// Next to 0, 65535 or 4294967295.
    Near(u8, i8),
    /// The length of the bytes given.
    Length,
}

#[derive(Arbitrary, Debug)]
struct Call {
    mime: Mime,
    id: Option<Id>,
    bytes: Option<Bytes>,
    width: Option<Num>,
    height: Option<Num>,
    url: Option<String>,
    nbytes: Option<Num>,
    /// For `check_publishable`.
    has_image: bool,
}

fn png(width: u32, height: u32, tail: &[u8]) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    v.extend_from_slice(&width.to_be_bytes());
    v.extend_from_slice(&height.to_be_bytes());
    v.extend_from_slice(tail);
    v
}

fn number(n: Num, len: Option<usize>) -> i64 {
    match n {
        Num::Any(v) => v,
        Num::Near(edge, delta) => {
            [0, 65535, 4_294_967_295][usize::from(edge) % 3] + i64::from(delta)
        }
        Num::Length => len.map_or(0, |l| l as i64),
    }
}

/// The oracle for the PNG header: the signature, then a first chunk of
/// length 13 named IHDR whose first 8 bytes (width, height) are present.
fn png_size(data: &[u8]) -> Result<(u32, u32), PngHeaderError> {
    if data.get(..8) != Some(&b"\x89PNG\r\n\x1a\n"[..]) {
        return Err(PngHeaderError::NotPng);
    }
    if data.len() < 24 {
        return Err(PngHeaderError::Truncated);
    }
    if data[8..12] != [0, 0, 0, 13] || &data[12..16] != b"IHDR" {
        return Err(PngHeaderError::NoIhdr);
    }
    let w = u32::from_be_bytes(data[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(data[20..24].try_into().unwrap());
    if w == 0 || h == 0 {
        return Err(PngHeaderError::ZeroSize);
    }
    Ok((w, h))
}

/// The dimensions `add` takes from the header: both within `xs:unsignedShort`.
fn header(data: &[u8]) -> Option<(i64, i64)> {
    let (w, h) = png_size(data).ok()?;
    let ok = |v: u32| v <= 65535;
    (ok(w) && ok(h)).then_some((i64::from(w), i64::from(h)))
}

/// The model of `AvatarSet::add`: the record it appends, or its error.
fn model(png_given: bool, s: &NewSource<'_>) -> Result<AvatarInfo, AvatarSetError> {
    for (argument, value, max) in [
        ("nbytes", s.nbytes, 4_294_967_295),
        ("width", s.width, 65535),
        ("height", s.height, 65535),
    ] {
        assert_eq!(max_of(argument), max);
        if let Some(v) = value {
            if v < 0 || v > max {
                return Err(AvatarSetError::OutOfRange {
                    argument,
                    given: v.to_string(),
                });
            }
        }
    }
    let mut info = AvatarInfo {
        id: String::new(),
        mime_type: Some(s.mime_type.to_owned()),
        nbytes: s.nbytes,
        width: s.width,
        height: s.height,
        url: s.url.map(str::to_owned),
    };
    if let Some(data) = s.image_bytes {
        if s.mime_type != "image/png" {
            return Err(AvatarSetError::BytesNotPng {
                mime_type: s.mime_type.to_owned(),
            });
        }
        if png_given {
            return Err(AvatarSetError::SecondImage);
        }
        let computed = sha1_hex(data);
        if let Some(given) = s.id.filter(|g| normalize_id(g) != computed) {
            return Err(AvatarSetError::IdMismatch {
                given: given.to_owned(),
                computed,
            });
        }
        if let Some(given) = s.nbytes.filter(|&n| n != data.len() as i64) {
            return Err(AvatarSetError::SizeMismatch {
                given,
                actual: data.len(),
            });
        }
        let dims = header(data);
        info.width = info.width.or(dims.map(|d| d.0));
        info.height = info.height.or(dims.map(|d| d.1));
        info.nbytes = Some(data.len() as i64);
        info.id = computed;
    } else if s.url.is_none() {
        return Err(AvatarSetError::NoSource);
    } else if s.nbytes.is_none() {
        return Err(AvatarSetError::SizeRequired);
    } else {
        info.id = s.id.ok_or(AvatarSetError::IdRequired)?.to_owned();
    }
    Ok(info)
}

fuzz_target!(|calls: Vec<Call>| {
    let mut set = AvatarSet::new();
    let mut groups: Vec<(String, Vec<AvatarInfo>)> = Vec::new();
    let mut png_id: Option<String> = None;
    for call in calls.iter().take(64) {
        let bytes = call.bytes.as_ref().map(|b| match b {
            Bytes::Raw(v) => v.clone(),
            Bytes::Png(w, h, tail) => png(*w, *h, tail),
        });
        let len = bytes.as_ref().map(Vec::len);
        let id = call.id.as_ref().map(|id| match id {
            Id::OfBytes(mask) => sha1_hex(bytes.as_deref().unwrap_or(b""))
                .char_indices()
                .map(|(i, c)| {
                    if mask >> (i % 64) & 1 == 1 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect(),
            Id::Free(s) => s.clone(),
        });
        let source = NewSource {
            mime_type: match &call.mime {
                Mime::Png => PNG_MIME_TYPE,
                Mime::Gif => "image/gif",
                Mime::Free(s) => s,
            },
            id: id.as_deref(),
            image_bytes: bytes.as_deref(),
            width: call.width.map(|n| number(n, len)),
            height: call.height.map(|n| number(n, len)),
            url: call.url.as_deref(),
            nbytes: call.nbytes.map(|n| number(n, len)),
        };
        if let Some(data) = source.image_bytes {
            let parsed = png_header(data);
            assert_eq!(parsed, png_size(data));
            if let Err(e) = parsed {
                assert!(!e.to_string().is_empty());
            }
            assert_eq!(png_dimensions(data), header(data));
        }

        let expected = model(png_id.is_some(), &source);
        let got = set.add(&source);
        match (&got, expected) {
            (Ok(()), Ok(info)) => {
                if source.image_bytes.is_some() {
                    png_id = Some(info.id.clone());
                }
                match groups.iter_mut().find(|(m, _)| m == source.mime_type) {
                    Some((_, infos)) => infos.push(info),
                    None => groups.push((source.mime_type.to_owned(), vec![info])),
                }
            }
            (Err(e), Err(want)) => {
                assert_eq!(*e, want);
                let message = e.to_string();
                assert!(!message.is_empty());
                if let AvatarSetError::OutOfRange { argument, given } = e {
                    assert!(message.starts_with(argument) && message.ends_with(given.as_str()));
                }
            }
            (got, want) => panic!("add({source:?}) gave {got:?}, the rules say {want:?}"),
        }
        assert_eq!(
            set.groups(),
            groups,
            "unchanged on error, appended on success"
        );
        assert_eq!(set.png_id(), png_id.as_deref());
        assert_eq!(
            check_publishable(set.png_id(), call.has_image).is_ok(),
            png_id.is_some() && call.has_image
        );
    }
    let mut mimes: Vec<&str> = set.groups().iter().map(|(m, _)| m.as_str()).collect();
    mimes.sort_unstable();
    mimes.dedup();
    assert_eq!(mimes.len(), set.groups().len(), "one group per MIME type");
});
