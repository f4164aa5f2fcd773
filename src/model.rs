//! What an avatar source is, once accepted: the data every other module
//! shares.
//!
//! An [`AvatarInfo`] is one way to get one avatar image: the fields of a
//! XEP-0084 `<info/>` element, or of a XEP-0153 photo hash. A [`Record`]
//! adds how its image is reached. What arrives from the network becomes an
//! `AvatarInfo` only through `validate`.

/// How the image data of an avatar is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SourceKind {
    /// A plain descriptor built by user code; it cannot fetch anything.
    Abstract,
    /// XEP-0084 data node of the owner's PEP service.
    Pubsub,
    /// An `url` given in the XEP-0084 metadata.
    Http,
    /// The PHOTO of the owner's vCard (XEP-0153).
    VCard,
}

/// One avatar source: the fields that decide descriptor equality.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AvatarInfo {
    /// The id exactly as the peer (or caller) wrote it.
    pub id: String,
    pub mime_type: Option<String>,
    pub nbytes: Option<i64>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub url: Option<String>,
}

/// One avatar source of a JID: how to fetch it and its fields.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Record {
    pub kind: SourceKind,
    pub info: AvatarInfo,
}

/// An [`AvatarInfo`] whose text is borrowed from where it was read (a
/// received `<info/>`, an owned info): what validation accepts and the
/// cache encodes, without copying a string.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AvatarInfoRef<'a> {
    pub id: &'a str,
    pub mime_type: Option<&'a str>,
    pub nbytes: Option<i64>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub url: Option<&'a str>,
}

/// A [`Record`] with its text borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordRef<'a> {
    pub kind: SourceKind,
    pub info: AvatarInfoRef<'a>,
}

/// Records as the cache takes them: owned or borrowed.
pub trait AsRecord {
    /// The record's fields, borrowed.
    fn as_record(&self) -> RecordRef<'_>;
}

impl AvatarInfo {
    /// The fields, borrowed.
    pub fn borrowed(&self) -> AvatarInfoRef<'_> {
        AvatarInfoRef {
            id: &self.id,
            mime_type: self.mime_type.as_deref(),
            nbytes: self.nbytes,
            width: self.width,
            height: self.height,
            url: self.url.as_deref(),
        }
    }
}

impl AvatarInfoRef<'_> {
    /// The fields, owned.
    pub fn to_info(&self) -> AvatarInfo {
        AvatarInfo {
            id: self.id.to_owned(),
            mime_type: self.mime_type.map(str::to_owned),
            nbytes: self.nbytes,
            width: self.width,
            height: self.height,
            url: self.url.map(str::to_owned),
        }
    }
}

impl RecordRef<'_> {
    /// The record, owned.
    pub fn to_record(&self) -> Record {
        Record {
            kind: self.kind,
            info: self.info.to_info(),
        }
    }
}

impl AsRecord for Record {
    fn as_record(&self) -> RecordRef<'_> {
        RecordRef {
            kind: self.kind,
            info: self.info.borrowed(),
        }
    }
}

impl AsRecord for RecordRef<'_> {
    fn as_record(&self) -> RecordRef<'_> {
        *self
    }
}
