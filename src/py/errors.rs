//! Python exceptions raised by the core. All derive from `RuntimeError`, so
//! code written for aioxmpp (which raises plain `RuntimeError`) keeps working.

use pyo3::create_exception;
use pyo3::exceptions::PyRuntimeError;
use pyo3::PyErr;

use crate::avatar_set::AvatarSetError as SetRule;
use crate::images::IntegrityError as Integrity;

create_exception!(
    aioxmpp_avatar,
    AvatarError,
    PyRuntimeError,
    "Base class of every error raised by aioxmpp_avatar (a RuntimeError)."
);
create_exception!(
    aioxmpp_avatar,
    AvatarSetError,
    AvatarError,
    "An AvatarSet rule was broken, or the set cannot be published as it is."
);
create_exception!(
    aioxmpp_avatar,
    AvatarImageError,
    AvatarSetError,
    "The image given to AvatarSet.from_image cannot become an avatar."
);
create_exception!(
    aioxmpp_avatar,
    IntegrityError,
    AvatarError,
    "Fetched image data does not match the advertised SHA-1 id or size."
);
create_exception!(
    aioxmpp_avatar,
    ImageTooLargeError,
    AvatarError,
    "The image is larger than the configured limit; it was not fetched."
);
create_exception!(
    aioxmpp_avatar,
    ImageUnavailableError,
    AvatarError,
    "The peer has no image data for this avatar, or fetching it failed recently."
);

/// Convert an AvatarSet rule violation.
pub fn set_error(e: SetRule) -> PyErr {
    AvatarSetError::new_err(e.to_string())
}

/// Convert a failed verification; too-large data gets its own class.
pub fn integrity_error(e: Integrity) -> PyErr {
    match e {
        Integrity::TooLarge { .. } => ImageTooLargeError::new_err(e.to_string()),
        other => IntegrityError::new_err(other.to_string()),
    }
}
