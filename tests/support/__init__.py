"""What the tests share (``tests/`` is on ``sys.path``, so ``support`` is a
top-level package there):

- :mod:`support.service_env`: an :class:`aioxmpp_avatar.AvatarService` over
  mocked aioxmpp services (:class:`~support.service_env.Env`) and the stanza
  builders of the unit tests; also used by ``bench/disk.py`` and by child
  processes of the image-directory tests;
- :mod:`support.helpers`: waits and raw publishing for the integration tests;
- :mod:`support.images`: PNG images drawn with Pillow (a test-only
  dependency);
- ``directory_writer.py``: one process of a fleet sharing an image
  directory (run by ``unit/service/test_image_directory.py``).

The throwaway servers are in :mod:`aioxmpp_avatar.testing` (Prosody) and
:mod:`aioxmpp_avatar.testing_ejabberd`.
"""
