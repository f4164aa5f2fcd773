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
