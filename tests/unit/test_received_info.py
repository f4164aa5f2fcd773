"""Property tests of the rules for what a peer sends in <info/> elements
(validated by the Rust core; see src/info.rs): whatever arrives, nothing
raises, one bad entry never drops the others, and only well-formed
descriptors come out."""

from __future__ import annotations

import re
import string
import unicodedata

import aioxmpp
import aioxmpp.avatar.xso as avatar_xso
import aioxmpp.pubsub.xso as pubsub_xso
from hypothesis import given, settings
from hypothesis import strategies as st

from aioxmpp_avatar import HttpAvatarDescriptor, PubsubAvatarDescriptor, _core

JID = aioxmpp.JID.fromstr("peer@example.org")
HEX40 = re.compile(r"^[0-9a-fA-F]{40}$")
MAX_INFOS = 16  # the service's default cap per metadata item

# What aioxmpp can hand us after parsing: strings and integers, optional
# attributes as None, and ABSENT for a required attribute that is unset.
ABSENT = object()
ids = st.one_of(
    st.text(alphabet="0123456789abcdefABCDEF", min_size=40, max_size=40),
    st.text(alphabet="0123456789abcdef", min_size=0, max_size=45),
    st.text(max_size=45),
    st.just(ABSENT),
)
mime_types = st.one_of(
    st.sampled_from(["image/png", "image/gif", "image/webp"]),
    st.text(max_size=12),
    st.just("a" * 300),
    st.just(ABSENT),
)
sizes = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=0, max_value=70000),
    st.just(ABSENT),
)
dimensions = st.one_of(
    st.none(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=0, max_value=70000),
)
urls = st.one_of(
    st.none(),
    st.just("https://example.org/a.png"),
    st.text(alphabet=string.printable, max_size=20),
    st.just("https://x/" + "a" * 5000),
)
infos = st.tuples(ids, mime_types, sizes, dimensions, dimensions, urls)


def is_token(value, max_len):
    return (
        isinstance(value, str)
        and 0 < len(value.encode()) <= max_len
        and not any(c.isspace() or unicodedata.category(c) == "Cc" for c in value)
    )


def accepted(id_, mime_type, nbytes, url):
    """The documented rules, written independently of the core."""
    return (
        isinstance(id_, str) and bool(HEX40.match(id_))
        and is_token(mime_type, 255)
        and type(nbytes) is int and 0 <= nbytes <= 2**32 - 1
        and (url is None or is_token(url, 4096))
    )


def dimension(value):
    return value if type(value) is int and 0 <= value <= 65535 else None


def make_info(id_, mime_type, nbytes, width, height, url):
    """An aioxmpp Info as parsing would leave it, ABSENT fields unset."""
    values = {"id_": id_, "mime_type": mime_type, "nbytes": nbytes}
    info = avatar_xso.Info("0", "x", 0, width, height, url)
    for name, value in values.items():
        if value is ABSENT:
            del info._xso_contents[avatar_xso.Info.__dict__[name]]
        else:
            setattr(info, name, value)
    return info


def metadata_item(entries):
    metadata = avatar_xso.Metadata()
    for entry in entries:
        key = entry[1] if entry[1] is not ABSENT else None
        metadata.info[key].append(make_info(*entry))
    return pubsub_xso.EventItem(metadata, id_="x")


def field(info, name):
    return info._xso_contents.get(avatar_xso.Info.__dict__[name], ABSENT)


@given(st.lists(infos, max_size=24))
@settings(max_examples=400, deadline=None)
def test_received_infos_follow_the_rules(entries):
    state = _core.AvatarSession(_core.ImageStore())
    item = metadata_item(entries)
    descriptors = state.pep_notification(JID, item) or []

    # the order of entries as aioxmpp groups them (by type, first seen first)
    grouped = [e for group in item.registered_payload.info.values() for e in group]
    expected = [
        e for e in grouped
        if accepted(field(e, "id_"), field(e, "mime_type"), field(e, "nbytes"), e.url)
    ][:MAX_INFOS]
    assert len(descriptors) == len(expected)
    for d, e in zip(descriptors, expected):
        assert d.id_ == e.id_, "kept exactly as sent"
        assert d.normalized_id == e.id_.lower()
        assert (d.mime_type, d.nbytes, d.url) == (e.mime_type, e.nbytes, e.url)
        assert (d.width, d.height) == (dimension(e.width), dimension(e.height))
        kind = HttpAvatarDescriptor if e.url is not None else PubsubAvatarDescriptor
        assert type(d) is kind
    assert state.stats()["infos_dropped"] == len(grouped) - len(expected)


@given(st.lists(infos, min_size=1, max_size=6))
@settings(max_examples=100, deadline=None)
def test_repeating_a_notification_changes_nothing(entries):
    state = _core.AvatarSession(_core.ImageStore())
    first = state.pep_notification(JID, metadata_item(entries))
    assert first is not None, "the first notification always changes the entry"
    assert state.pep_notification(JID, metadata_item(entries)) is None
    assert state.cached_metadata(JID) == first
