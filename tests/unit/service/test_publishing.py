"""Publishing: publish_avatar_set(), access models, the vCard kept in
step, disable_avatar() and wipe_avatar()."""

from __future__ import annotations

import aioxmpp
import aioxmpp.avatar.xso as avatar_xso
import aioxmpp.disco.xso as disco_xso
import aioxmpp.errors
import aioxmpp.forms
import pytest

from aioxmpp_avatar import (
    AvatarSet,
    AvatarSetError,
)
from support.helpers import NS_DATA, NS_METADATA
from support.service_env import (
    ME,
    NS_PEP_VCARD_CONVERSION,
    PNG,
    PNG2,
    PNG_ID,
    vcard_with_photo,
    xmpp_cancel,
)


def png_set(data: bytes = PNG) -> AvatarSet:
    avatar_set = AvatarSet()
    avatar_set.add_avatar_image("image/png", image_bytes=data)
    return avatar_set


def _published(env):
    """(node, payload, id_, access_model) of every pep.publish call."""
    return [
        (c.args[0], c.args[1], c.kwargs.get("id_"), c.kwargs.get("access_model"))
        for c in env.pep.publish.call_args_list
    ]


async def test_publish_avatar_set(env):
    avatar_set = png_set()
    await env.service.publish_avatar_set(avatar_set)
    published = _published(env)
    assert [(node, id_, access) for node, _, id_, access in published] == [
        (NS_DATA, PNG_ID, None),
        (NS_METADATA, PNG_ID, None),
    ]
    data, meta = published[0][1], published[1][1]
    assert isinstance(data, avatar_xso.Data) and data.data == PNG
    assert isinstance(meta, avatar_xso.Metadata)
    (entry,) = meta.info["image/png"]
    assert (entry.id_, entry.nbytes, entry.mime_type) == (PNG_ID, len(PNG), "image/png")
    env.vcard.get_vcard.assert_not_called()
    env.vcard.set_vcard.assert_not_called()
    env.presence_server.resend_presence.assert_not_called()


async def test_publish_avatar_set_synchronizes_vcard(env):
    env.service.synchronize_vcard = True
    card = vcard_with_photo(PNG2)
    env.vcard.get_vcard.side_effect = None
    env.vcard.get_vcard.return_value = card
    await env.service.publish_avatar_set(png_set())
    assert [p[0] for p in _published(env)] == [NS_DATA, NS_METADATA]
    env.vcard.get_vcard.assert_awaited_once()
    assert env.vcard.get_vcard.call_args.args in ((), (None,))
    env.vcard.set_vcard.assert_awaited_once()
    (stored,) = env.vcard.set_vcard.call_args.args
    assert stored.get_photo_data() == PNG
    assert stored.get_photo_mime_type() == "image/png"
    env.presence_server.resend_presence.assert_called_once_with()
    assert env.advertised().photo == PNG_ID


async def test_publish_failure_leaves_vcard_alone(env):
    env.service.synchronize_vcard = True
    env.pep.publish.side_effect = xmpp_cancel(aioxmpp.ErrorCondition.FORBIDDEN)
    with pytest.raises(aioxmpp.errors.XMPPCancelError):
        await env.service.publish_avatar_set(png_set())
    env.vcard.get_vcard.assert_not_called()
    env.vcard.set_vcard.assert_not_called()
    env.presence_server.resend_presence.assert_not_called()


async def test_publish_without_png_bytes_is_refused_before_any_call(env):
    avatar_set = AvatarSet()
    avatar_set.add_avatar_image(
        "image/png", id_=PNG_ID, nbytes=len(PNG), url="https://example.org/a.png"
    )
    env.service.synchronize_vcard = True
    with pytest.raises(AvatarSetError) as caught:
        await env.service.publish_avatar_set(avatar_set)
    assert isinstance(caught.value, RuntimeError)
    assert env.pep.mock_calls == [
        c for c in env.pep.mock_calls if c[0].startswith("claim_pep_node")
    ]
    env.pep.available.assert_not_called()
    env.pep.publish.assert_not_called()
    env.vcard.get_vcard.assert_not_called()
    env.vcard.set_vcard.assert_not_called()
    env.presence_server.resend_presence.assert_not_called()

    with pytest.raises(RuntimeError):
        await env.service.publish_avatar_set(AvatarSet())
    env.pep.publish.assert_not_called()


async def test_publish_without_any_protocol_raises_runtime_error(env):
    env.pep.available.return_value = False
    with pytest.raises(RuntimeError):
        await env.service.publish_avatar_set(png_set())
    env.pep.publish.assert_not_called()


async def test_publish_with_vcard_only(env):
    env.pep.available.return_value = False
    env.service.synchronize_vcard = True
    await env.service.publish_avatar_set(png_set())
    env.pep.publish.assert_not_called()
    env.vcard.set_vcard.assert_awaited_once()
    assert env.advertised().photo == PNG_ID


async def test_publish_passes_access_model(env):
    await env.service.publish_avatar_set(png_set(), access_model="open")
    assert [(p[0], p[3]) for p in _published(env)] == [
        (NS_DATA, "open"),
        (NS_METADATA, "open"),
    ]
    env.pubsub.set_node_config.assert_not_called()


async def test_publish_uses_default_access_model(env):
    env.service.default_access_model = "presence"
    await env.service.publish_avatar_set(png_set())
    assert [p[3] for p in _published(env)] == ["presence", "presence"]


async def test_publish_refuses_unknown_access_models_before_sending(env):
    with pytest.raises(ValueError, match="access_model must be one of open"):
        await env.service.publish_avatar_set(png_set(), access_model="public")
    env.pep.publish.assert_not_called()
    with pytest.raises(ValueError, match="got 'everyone'|got \"everyone\""):
        env.service.default_access_model = "everyone"
    assert env.service.default_access_model is None


async def test_publish_conflict_reconfigures_node_and_retries_once(env):
    env.pep.publish.side_effect = [
        xmpp_cancel(aioxmpp.ErrorCondition.CONFLICT),
        None,
        None,
    ]
    form = aioxmpp.forms.Data(aioxmpp.forms.DataType.FORM)
    form.fields.append(
        aioxmpp.forms.Field(
            type_=aioxmpp.forms.FieldType.HIDDEN,
            var="FORM_TYPE",
            values=["http://jabber.org/protocol/pubsub#node_config"],
        )
    )
    form.fields.append(
        aioxmpp.forms.Field(var="pubsub#access_model", values=["presence"])
    )
    env.pubsub.get_node_config.return_value = form

    await env.service.publish_avatar_set(png_set(), access_model="open")

    env.pubsub.get_node_config.assert_awaited_once_with(ME.bare(), NS_DATA)
    env.pubsub.set_node_config.assert_awaited_once()
    jid, submitted, node = env.pubsub.set_node_config.call_args.args
    assert (jid, node) == (ME.bare(), NS_DATA)
    assert submitted.type_ == aioxmpp.forms.DataType.SUBMIT
    values = {f.var: list(f.values) for f in submitted.fields}
    assert values["pubsub#access_model"] == ["open"]
    assert values["FORM_TYPE"] == ["http://jabber.org/protocol/pubsub#node_config"]
    assert [(p[0], p[2], p[3]) for p in _published(env)] == [
        (NS_DATA, PNG_ID, "open"),
        (NS_DATA, PNG_ID, "open"),
        (NS_METADATA, PNG_ID, "open"),
    ]


async def test_publish_conflict_twice_gives_up(env):
    env.pep.publish.side_effect = xmpp_cancel(aioxmpp.ErrorCondition.CONFLICT)
    env.pubsub.get_node_config.return_value = aioxmpp.forms.Data(
        aioxmpp.forms.DataType.FORM
    )
    with pytest.raises(aioxmpp.errors.XMPPCancelError):
        await env.service.publish_avatar_set(png_set(), access_model="open")
    assert env.pep.publish.await_count == 2
    env.pubsub.set_node_config.assert_awaited_once()


async def test_publish_conflict_without_access_model_propagates(env):
    env.pep.publish.side_effect = xmpp_cancel(aioxmpp.ErrorCondition.CONFLICT)
    with pytest.raises(aioxmpp.errors.XMPPCancelError):
        await env.service.publish_avatar_set(png_set())
    env.pep.publish.assert_awaited_once()
    env.pubsub.get_node_config.assert_not_called()
    env.pubsub.set_node_config.assert_not_called()


async def test_server_side_vcard_conversion_is_respected(env):
    env.disco.query_info.return_value = disco_xso.InfoQuery(
        features=(NS_PEP_VCARD_CONVERSION,)
    )
    env.service.synchronize_vcard = True
    await env.service.publish_avatar_set(png_set())
    env.disco.query_info.assert_awaited_once_with(ME.bare())
    assert [p[0] for p in _published(env)] == [NS_DATA, NS_METADATA]
    env.vcard.get_vcard.assert_not_called()
    env.vcard.set_vcard.assert_not_called()
    env.presence_server.resend_presence.assert_called_once_with()
    assert env.advertised().photo == PNG_ID

    await env.service.disable_avatar()
    env.vcard.get_vcard.assert_not_called()
    env.vcard.set_vcard.assert_not_called()
    assert env.advertised().photo == ""


async def test_disable_avatar(env):
    await env.service.disable_avatar()
    env.pep.publish.assert_awaited_once()
    node, payload = env.pep.publish.call_args.args
    assert node == NS_METADATA
    assert isinstance(payload, avatar_xso.Metadata)
    assert len(payload.info) == 0 and len(payload.pointer) == 0
    env.pubsub.purge.assert_not_called()
    env.vcard.set_vcard.assert_not_called()
    env.presence_server.resend_presence.assert_not_called()


async def test_disable_avatar_without_pep_or_vcard_does_nothing(env):
    env.pep.available.return_value = False
    await env.service.disable_avatar()
    env.pep.publish.assert_not_called()


async def test_disable_avatar_clears_vcard_photo(env):
    env.service.synchronize_vcard = True
    env.vcard.get_vcard.side_effect = None
    env.vcard.get_vcard.return_value = vcard_with_photo(PNG)
    await env.service.disable_avatar()
    env.vcard.set_vcard.assert_awaited_once()
    (card,) = env.vcard.set_vcard.call_args.args
    assert card.get_photo_data() is None
    env.presence_server.resend_presence.assert_called_once_with()
    assert env.advertised().photo == ""
    assert [p[0] for p in _published(env)] == [NS_METADATA]


async def test_disable_avatar_gathers_errors(env):
    env.service.synchronize_vcard = True
    env.pep.publish.side_effect = RuntimeError("pep broke")
    with pytest.raises(aioxmpp.errors.GatherError) as caught:
        await env.service.disable_avatar()
    assert isinstance(caught.value, RuntimeError)
    assert any("pep broke" in str(e) for e in caught.value.exceptions)
    # The vCard part was done anyway.
    env.vcard.set_vcard.assert_awaited_once()
    env.presence_server.resend_presence.assert_called_once_with()

    env.vcard.set_vcard.side_effect = RuntimeError("vcard broke")
    with pytest.raises(aioxmpp.errors.GatherError) as caught:
        await env.service.disable_avatar()
    assert len(caught.value.exceptions) == 2


async def test_wipe_avatar(env):
    await env.service.wipe_avatar()
    env.pep.publish.assert_awaited_once()
    node, payload = env.pep.publish.call_args.args
    assert node == NS_METADATA
    assert isinstance(payload, avatar_xso.Metadata) and len(payload.info) == 0
    env.pubsub.purge.assert_awaited_once_with(ME.bare(), NS_DATA)
    env.pubsub.delete.assert_not_called()
    env.vcard.set_vcard.assert_not_called()


async def test_wipe_avatar_without_data_node_is_fine(env):
    env.pubsub.purge.side_effect = xmpp_cancel(aioxmpp.ErrorCondition.ITEM_NOT_FOUND)
    await env.service.wipe_avatar()
    env.pubsub.purge.assert_awaited_once()
    assert [p[0] for p in _published(env)] == [NS_METADATA]


async def test_wipe_avatar_without_purge_overwrites_the_data(env):
    env.pubsub.purge.side_effect = xmpp_cancel(
        aioxmpp.ErrorCondition.FEATURE_NOT_IMPLEMENTED)
    await env.service.wipe_avatar()
    assert [p[0] for p in _published(env)] == [NS_METADATA, NS_DATA]
    assert _published(env)[1][1].data == b""


async def test_wipe_avatar_with_vcard_and_errors(env):
    env.service.synchronize_vcard = True
    env.vcard.get_vcard.side_effect = None
    env.vcard.get_vcard.return_value = vcard_with_photo(PNG)
    await env.service.wipe_avatar()
    (card,) = env.vcard.set_vcard.call_args.args
    assert card.get_photo_data() is None
    env.pubsub.purge.assert_awaited_once_with(ME.bare(), NS_DATA)
    assert env.advertised().photo == ""

    env.pubsub.purge.side_effect = xmpp_cancel(aioxmpp.ErrorCondition.FORBIDDEN)
    with pytest.raises(aioxmpp.errors.GatherError):
        await env.service.wipe_avatar()
    assert env.vcard.set_vcard.await_count == 2
