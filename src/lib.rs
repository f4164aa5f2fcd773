//! Rust core of aioxmpp-avatar.
//!
//! The pure modules hold every avatar rule and all state, and know nothing
//! of Python; `py` is the thin PyO3 layer that exposes them as the
//! `aioxmpp_avatar._core` extension module.

pub mod avatar_image;
pub mod avatar_set;
pub mod cache;
pub mod ids;
pub mod image_directory;
pub mod images;
pub mod jid;
pub mod limits;
pub mod lru;
pub mod model;
pub mod own_vcard;
pub mod session;
pub mod validate;

mod py;
