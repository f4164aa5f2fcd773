//! The rules for building a set of avatar sources to publish (XEP-0084 §4).
//!
//! A set holds several sources of the *same* image in different formats or
//! sizes. Exactly one of them may carry the image data itself, and only as
//! `image/png` (XEP-0084 §4.1: the data node holds PNG); the others point to
//! a URL. These are the rules aioxmpp's `AvatarSet.add_avatar_image` enforces,
//! with messages that say which argument was wrong and what was expected.

use std::fmt;

use crate::ids::{normalize_id, sha1_hex};
use crate::model::AvatarInfo;

/// The one MIME type whose data may be published in the data node.
pub const PNG_MIME_TYPE: &str = "image/png";

/// One call to `add_avatar_image`, as given by the caller.
#[derive(Clone, Copy, Debug, Default)]
pub struct NewSource<'a> {
    pub mime_type: &'a str,
    pub id: Option<&'a str>,
    pub image_bytes: Option<&'a [u8]>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub url: Option<&'a str>,
    pub nbytes: Option<i64>,
}

/// A broken rule of [`AvatarSet::add`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AvatarSetError {
    /// Image bytes were given for a MIME type other than `image/png`.
    BytesNotPng { mime_type: String },
    /// A second source with image bytes.
    SecondImage,
    /// `id_` does not match the SHA-1 of the image bytes.
    IdMismatch { given: String, computed: String },
    /// `nbytes` does not match the length of the image bytes.
    SizeMismatch { given: i64, actual: usize },
    /// Neither image bytes nor a URL.
    NoSource,
    /// `nbytes` missing and not inferable.
    SizeRequired,
    /// `id_` missing and not inferable.
    IdRequired,
    /// A numeric argument is outside its range in the XEP-0084 schema.
    OutOfRange {
        argument: &'static str,
        given: String,
    },
    /// Publishing a set that has no `image/png` data.
    NotPublishable,
}

impl fmt::Display for AvatarSetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BytesNotPng { mime_type } => write!(
                f,
                "image_bytes can only be given for mime_type 'image/png', got mime_type \
                 {mime_type:?}; publish other formats by url"
            ),
            Self::SecondImage => write!(
                f,
                "image_bytes were already given for this AvatarSet; only one image can be \
                 published directly, add the other sources by url"
            ),
            Self::IdMismatch { given, computed } => write!(
                f,
                "id_ must be the SHA-1 of image_bytes: expected {computed:?}, got {given:?}"
            ),
            Self::SizeMismatch { given, actual } => write!(
                f,
                "nbytes must be the length of image_bytes: expected {actual}, got {given}"
            ),
            Self::NoSource => write!(f, "either image_bytes or url must be given, got neither"),
            Self::SizeRequired => write!(
                f,
                "nbytes is required when image_bytes are not given (for a url source), got None"
            ),
            Self::IdRequired => write!(
                f,
                "id_ (the SHA-1 of the image data) is required when image_bytes are not \
                 given (for a url source), got None"
            ),
            Self::OutOfRange { argument, given } => write!(
                f,
                "{argument} must be an integer from 0 to {}, got {given}",
                max_of(argument)
            ),
            Self::NotPublishable => write!(
                f,
                "cannot publish an AvatarSet without image/png image_bytes: XEP-0084 \
                 requires the PNG data in the data node; call \
                 add_avatar_image('image/png', image_bytes=...) first"
            ),
        }
    }
}

impl std::error::Error for AvatarSetError {}

/// Largest value of a numeric argument: XEP-0084 §9 declares `bytes` as
/// `xs:unsignedInt` and `width`/`height` as `xs:unsignedShort`.
pub fn max_of(argument: &str) -> i64 {
    match argument {
        "nbytes" => u32::MAX.into(),
        _ => u16::MAX.into(),
    }
}

/// The sources of one avatar, grouped by MIME type in first-seen order.
#[derive(Clone, Debug, Default)]
pub struct AvatarSet {
    png_id: Option<String>,
    groups: Vec<(String, Vec<AvatarInfo>)>,
}

impl AvatarSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The normalised SHA-1 of the PNG image bytes, once they were added.
    pub fn png_id(&self) -> Option<&str> {
        self.png_id.as_deref()
    }

    /// The sources, grouped by MIME type in the order the types were first added.
    pub fn groups(&self) -> &[(String, Vec<AvatarInfo>)] {
        &self.groups
    }

    /// Add one source, enforcing every rule; on error the set is unchanged.
    ///
    /// With PNG bytes, `id_` and `nbytes` are computed (and must match when
    /// given), and `width`/`height` are read from the PNG header when not given.
    pub fn add(&mut self, source: &NewSource<'_>) -> Result<(), AvatarSetError> {
        for (argument, value) in [
            ("nbytes", source.nbytes),
            ("width", source.width),
            ("height", source.height),
        ] {
            if let Some(given) = value.filter(|v| !(0..=max_of(argument)).contains(v)) {
                return Err(AvatarSetError::OutOfRange {
                    argument,
                    given: given.to_string(),
                });
            }
        }
        let mut info = AvatarInfo {
            id: String::new(),
            mime_type: Some(source.mime_type.to_owned()),
            nbytes: source.nbytes,
            width: source.width,
            height: source.height,
            url: source.url.map(str::to_owned),
        };
        match source.image_bytes {
            Some(_) if source.mime_type != PNG_MIME_TYPE => {
                return Err(AvatarSetError::BytesNotPng {
                    mime_type: source.mime_type.to_owned(),
                })
            }
            Some(_) if self.png_id.is_some() => return Err(AvatarSetError::SecondImage),
            Some(data) => {
                let computed = sha1_hex(data);
                if let Some(given) = source.id {
                    if normalize_id(given) != computed {
                        return Err(AvatarSetError::IdMismatch {
                            given: given.to_owned(),
                            computed,
                        });
                    }
                }
                if let Some(given) = source.nbytes {
                    if usize::try_from(given).ok() != Some(data.len()) {
                        return Err(AvatarSetError::SizeMismatch {
                            given,
                            actual: data.len(),
                        });
                    }
                }
                let (width, height) = png_dimensions(data).unzip();
                info.width = info.width.or(width);
                info.height = info.height.or(height);
                info.nbytes = Some(data.len() as i64);
                info.id = computed;
            }
            None => {
                if source.url.is_none() {
                    return Err(AvatarSetError::NoSource);
                }
                if source.nbytes.is_none() {
                    return Err(AvatarSetError::SizeRequired);
                }
                info.id = source.id.ok_or(AvatarSetError::IdRequired)?.to_owned();
            }
        }
        if source.image_bytes.is_some() {
            self.png_id = Some(info.id.clone());
        }
        match self.groups.iter_mut().find(|(m, _)| m == source.mime_type) {
            Some((_, infos)) => infos.push(info),
            None => self.groups.push((source.mime_type.to_owned(), vec![info])),
        }
        Ok(())
    }
}

/// Whether a set with this PNG id and data can be published: XEP-0084 §4.1
/// puts the `image/png` data into the data node, so both are required.
/// Returns the id the items are published under.
pub fn check_publishable(png_id: Option<&str>, has_image: bool) -> Result<&str, AvatarSetError> {
    match png_id {
        Some(id) if has_image => Ok(id),
        _ => Err(AvatarSetError::NotPublishable),
    }
}

/// The node access models of XEP-0060 §4.5, one of which may be requested
/// when publishing.
pub const ACCESS_MODELS: [&str; 5] = ["open", "presence", "roster", "authorize", "whitelist"];

/// Check a requested access model before anything is sent.
pub fn check_access_model(model: &str) -> Result<(), String> {
    if ACCESS_MODELS.contains(&model) {
        Ok(())
    } else {
        Err(format!(
            "access_model must be one of {} (XEP-0060 §4.5), got {model:?}",
            ACCESS_MODELS.join(", ")
        ))
    }
}

/// Why bytes are not a PNG whose size can be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PngHeaderError {
    /// The PNG signature is missing.
    NotPng,
    /// The data ends before the IHDR chunk does.
    Truncated,
    /// The first chunk is not a 13-byte IHDR.
    NoIhdr,
    /// Width or height is zero.
    ZeroSize,
}

impl fmt::Display for PngHeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotPng => "not a PNG image (it does not start with the PNG signature)",
            Self::Truncated => "truncated PNG: no complete IHDR chunk",
            Self::NoIhdr => "malformed PNG: the first chunk is not a 13-byte IHDR",
            Self::ZeroSize => "malformed PNG: zero width or height in IHDR",
        })
    }
}

impl std::error::Error for PngHeaderError {}

/// Width and height from a PNG's IHDR chunk, which must come first (PNG
/// spec §5.2, §11.2.2).
pub fn png_header(data: &[u8]) -> Result<(u32, u32), PngHeaderError> {
    const SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";
    if !data.starts_with(SIGNATURE) {
        return Err(PngHeaderError::NotPng);
    }
    if data.len() < 24 {
        return Err(PngHeaderError::Truncated);
    }
    if data[8..16] != *b"\0\0\0\x0dIHDR" {
        return Err(PngHeaderError::NoIhdr);
    }
    let be = |at: usize| u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
    match (be(16), be(20)) {
        (0, _) | (_, 0) => Err(PngHeaderError::ZeroSize),
        size => Ok(size),
    }
}

/// Width and height from a PNG's header, when both fit XEP-0084's
/// `xs:unsignedShort` (§4.2.1).
pub fn png_dimensions(data: &[u8]) -> Option<(i64, i64)> {
    let (width, height) = png_header(data).ok()?;
    let fits = |v: u32| v <= u32::from(u16::MAX);
    (fits(width) && fits(height)).then_some((i64::from(width), i64::from(height)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A syntactically plausible PNG prefix with the given dimensions.
    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        v.extend_from_slice(&width.to_be_bytes());
        v.extend_from_slice(&height.to_be_bytes());
        v.extend_from_slice(b"\x08\x06\0\0\0rest");
        v
    }

    fn png_source(data: &[u8]) -> NewSource<'_> {
        NewSource {
            mime_type: PNG_MIME_TYPE,
            image_bytes: Some(data),
            ..Default::default()
        }
    }

    #[test]
    fn png_bytes_infer_id_size_and_dimensions() {
        let data = png(64, 48);
        let mut set = AvatarSet::new();
        set.add(&png_source(&data)).unwrap();
        let id = sha1_hex(&data);
        assert_eq!(set.png_id(), Some(id.as_str()));
        let info = &set.groups()[0].1[0];
        assert_eq!(info.id, id);
        assert_eq!(info.nbytes, Some(data.len() as i64));
        assert_eq!((info.width, info.height), (Some(64), Some(48)));
    }

    #[test]
    fn given_values_win_over_the_header_and_must_match_the_data() {
        let data = png(64, 48);
        let upper = sha1_hex(&data).to_ascii_uppercase();
        let mut set = AvatarSet::new();
        let src = NewSource {
            id: Some(&upper),
            nbytes: Some(data.len() as i64),
            width: Some(10),
            ..png_source(&data)
        };
        set.add(&src).unwrap();
        let info = &set.groups()[0].1[0];
        assert_eq!(info.id, sha1_hex(&data), "the id is normalised");
        assert_eq!((info.width, info.height), (Some(10), Some(48)));

        let mut set = AvatarSet::new();
        let bad_id = NewSource {
            id: Some("00"),
            ..png_source(&data)
        };
        assert!(matches!(
            set.add(&bad_id),
            Err(AvatarSetError::IdMismatch { .. })
        ));
        let bad_size = NewSource {
            nbytes: Some(1),
            ..png_source(&data)
        };
        assert!(matches!(
            set.add(&bad_size),
            Err(AvatarSetError::SizeMismatch { .. })
        ));
        assert!(
            set.groups().is_empty() && set.png_id().is_none(),
            "unchanged on error"
        );
    }

    #[test]
    fn only_one_png_image_and_only_png_bytes() {
        let data = png(1, 1);
        let mut set = AvatarSet::new();
        set.add(&png_source(&data)).unwrap();
        assert_eq!(
            set.add(&png_source(&data)),
            Err(AvatarSetError::SecondImage)
        );
        let gif = NewSource {
            mime_type: "image/gif",
            ..png_source(&data)
        };
        assert!(matches!(
            AvatarSet::new().add(&gif),
            Err(AvatarSetError::BytesNotPng { .. })
        ));
    }

    #[test]
    fn url_sources_need_id_and_size() {
        let url = NewSource {
            mime_type: "image/gif",
            url: Some("https://x/a.gif"),
            ..Default::default()
        };
        let mut set = AvatarSet::new();
        assert_eq!(set.add(&url), Err(AvatarSetError::SizeRequired));
        let sized = NewSource {
            nbytes: Some(3),
            ..url
        };
        assert_eq!(set.add(&sized), Err(AvatarSetError::IdRequired));
        let full = NewSource {
            id: Some("ABC"),
            ..sized
        };
        set.add(&full).unwrap();
        assert_eq!(set.groups()[0].1[0].id, "ABC", "url ids are kept as given");
        assert_eq!(set.png_id(), None);
        let none = NewSource {
            mime_type: "image/png",
            ..Default::default()
        };
        assert_eq!(set.add(&none), Err(AvatarSetError::NoSource));
    }

    #[test]
    fn groups_keep_first_seen_order() {
        let mut set = AvatarSet::new();
        for mime in ["image/gif", "image/png", "image/gif"] {
            let src = NewSource {
                mime_type: mime,
                url: Some("u"),
                id: Some("i"),
                nbytes: Some(1),
                ..Default::default()
            };
            set.add(&src).unwrap();
        }
        let order: Vec<_> = set
            .groups()
            .iter()
            .map(|(m, v)| (m.as_str(), v.len()))
            .collect();
        assert_eq!(order, [("image/gif", 2), ("image/png", 1)]);
    }

    #[test]
    fn numbers_outside_the_schema_are_refused_by_name() {
        let url = NewSource {
            url: Some("u"),
            id: Some("i"),
            nbytes: Some(1),
            mime_type: "image/gif",
            ..Default::default()
        };
        let err = AvatarSet::new()
            .add(&NewSource {
                width: Some(-1),
                ..url
            })
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "width must be an integer from 0 to 65535, got -1"
        );
        let err = AvatarSet::new()
            .add(&NewSource {
                height: Some(65536),
                ..url
            })
            .unwrap_err();
        assert!(err
            .to_string()
            .starts_with("height must be an integer from 0 to 65535"));
        let err = AvatarSet::new()
            .add(&NewSource {
                nbytes: Some(1 << 32),
                ..url
            })
            .unwrap_err();
        assert!(err
            .to_string()
            .starts_with("nbytes must be an integer from 0 to 4294967295"));
        let max = NewSource {
            nbytes: Some(u32::MAX.into()),
            width: Some(65535),
            ..url
        };
        assert!(AvatarSet::new().add(&max).is_ok());
    }

    #[test]
    fn only_sets_with_png_data_are_publishable() {
        assert_eq!(
            check_publishable(None, false),
            Err(AvatarSetError::NotPublishable)
        );
        assert_eq!(
            check_publishable(Some("id"), false),
            Err(AvatarSetError::NotPublishable)
        );
        assert_eq!(check_publishable(Some("id"), true), Ok("id"));
    }

    #[test]
    fn access_models_are_those_of_xep_0060() {
        assert!(check_access_model("open").is_ok());
        assert!(check_access_model("whitelist").is_ok());
        let err = check_access_model("Open").unwrap_err();
        assert!(err.contains("got \"Open\"") && err.contains("presence"));
    }

    #[test]
    fn png_header_parsing_is_defensive() {
        assert_eq!(png_dimensions(&png(300, 200)), Some((300, 200)));
        assert_eq!(png_dimensions(&png(70000, 1)), None);
        assert_eq!(png_dimensions(&png(0, 1)), None);
        assert_eq!(png_dimensions(b"\x89PNG\r\n\x1a\n"), None);
        assert_eq!(
            png_dimensions(b"GIF89a and more bytes than twenty four"),
            None
        );
        assert_eq!(png_dimensions(&[]), None);
        assert_eq!(png_header(&png(70000, 1)), Ok((70000, 1)));
        assert_eq!(png_header(b"GIF89a"), Err(PngHeaderError::NotPng));
        assert_eq!(
            png_header(b"\x89PNG\r\n\x1a\n\0"),
            Err(PngHeaderError::Truncated)
        );
        let mut not_ihdr = png(1, 1);
        not_ihdr[12] = b'J';
        assert_eq!(png_header(&not_ihdr), Err(PngHeaderError::NoIhdr));
        assert_eq!(png_header(&png(0, 5)), Err(PngHeaderError::ZeroSize));
    }
}
