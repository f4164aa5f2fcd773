"""A bot written for plain aioxmpp.avatar: it never imports aioxmpp_avatar.

Run by tests/test_install.py after ``aioxmpp_avatar.install()``; it proves
that unmodified code picks up our implementation. Account data comes from
the environment: BOT_HOST, BOT_PORT, PUBLISHER_JID, PUBLISHER_PASSWORD, OBSERVER_JID,
OBSERVER_PASSWORD.
It prints one JSON line with what it saw.
"""

import asyncio
import json
import os
import struct
import zlib

import aioxmpp
import aioxmpp.avatar
import aioxmpp.connector
import aioxmpp.security_layer


def png():
    def chunk(kind, data):
        crc = struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", 2, 2, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00\x80\x80" * 2)) + chunk(b"IEND", b""))


def client(role):
    async def password(_jid, _attempt):
        return os.environ[f"{role}_PASSWORD"]

    layer = aioxmpp.security_layer.SecurityLayer(
        aioxmpp.security_layer.default_ssl_context,
        aioxmpp.security_layer.PKIXCertificateVerifier,
        False,
        (aioxmpp.security_layer.PasswordSASLProvider(password),),
    )
    peer = (os.environ["BOT_HOST"], int(os.environ["BOT_PORT"]),
            aioxmpp.connector.STARTTLSConnector())
    jid = aioxmpp.JID.fromstr(os.environ[f"{role}_JID"])
    c = aioxmpp.Client(jid, layer, override_peer=[peer])
    c.summon(aioxmpp.EntityCapsService)
    c.summon(aioxmpp.PresenceServer).set_presence(aioxmpp.PresenceState(True))
    return c


async def main():
    publisher = client("PUBLISHER")
    observer = client("OBSERVER")
    pub_avatars = publisher.summon(aioxmpp.AvatarService)
    obs_avatars = observer.summon(aioxmpp.avatar.AvatarService)
    async with publisher.connected(), observer.connected():
        data = png()
        avatar_set = aioxmpp.avatar.AvatarSet()
        avatar_set.add_avatar_image("image/png", image_bytes=data)
        seen = asyncio.get_running_loop().create_future()

        def on_change(jid, metadata):
            if jid == publisher.local_jid.bare() and metadata and not seen.done():
                seen.set_result(metadata)

        obs_avatars.on_metadata_changed.connect(on_change)
        await pub_avatars.publish_avatar_set(avatar_set)
        [descriptor] = await asyncio.wait_for(seen, 10)
        image = await asyncio.wait_for(descriptor.get_image_bytes(), 10)
        print(json.dumps({
            "service": type(obs_avatars).__module__,
            "descriptor": type(descriptor).__module__,
            "same_image": image == data,
            "id": descriptor.normalized_id,
            "png_id": avatar_set.png_id,
        }))


if __name__ == "__main__":
    asyncio.run(main())
