"""Smoke test of an installed wheel (dev/build-wheels.sh runs it in a fresh
virtualenv, from outside the checkout): the package and its Rust module
import from site-packages, and the core does real work."""

from __future__ import annotations

import sys
from pathlib import Path

import aioxmpp

import aioxmpp_avatar
from aioxmpp_avatar import AvatarSet, _core, normalize_id

#: An avatar the repository already ships (96 x 96).
IMAGE = Path(__file__).resolve().parents[1] / "examples/avatars/orange-96.png"


def main() -> None:
    site = Path(aioxmpp_avatar.__file__).resolve().parent
    assert "site-packages" in site.parts, f"imported from {site}, not the wheel"
    assert Path(_core.__file__).parent == site, _core.__file__
    avatar = AvatarSet.from_image(IMAGE.read_bytes(), max_size=48)
    assert avatar.conversion is not None and avatar.conversion.size == 48
    assert avatar.png_id == normalize_id(avatar.png_id.upper())
    aioxmpp_avatar.install()
    assert aioxmpp.avatar.AvatarSet is AvatarSet
    aioxmpp_avatar.uninstall()
    print(f"wheel smoke test passed: aioxmpp_avatar {aioxmpp_avatar.__version__}"
          f" on Python {sys.version.split()[0]}, {avatar.conversion}")


if __name__ == "__main__":
    main()
