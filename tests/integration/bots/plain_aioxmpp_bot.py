"""A bot written for plain aioxmpp.avatar: it never imports aioxmpp_avatar.

Run by tests/integration/test_install.py after ``aioxmpp_avatar.install()``;
it proves that unmodified code picks up our implementation. Account data
comes from the environment: BOT_HOST, BOT_PORT, PUBLISHER_JID,
PUBLISHER_PASSWORD, OBSERVER_JID, OBSERVER_PASSWORD; BOT_PNG is the path of
the PNG image to publish.
It prints one JSON line with what it saw.
"""

import asyncio
import json
import os

import aioxmpp
import aioxmpp.avatar
import aioxmpp.connector


def client(role):
    # The test server has no TLS.
    layer = aioxmpp.make_security_layer(os.environ[f"{role}_PASSWORD"])._replace(
        tls_required=False
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
        with open(os.environ["BOT_PNG"], "rb") as f:
            data = f.read()
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
