"""Sphinx additions for the aioxmpp-avatar documentation.

- ``.. py:signal:: name(arguments)`` (``.. signal::`` where Python is the
  default domain) describes an :class:`aioxmpp.callbacks.Signal` attribute:
  it is shown as "signal name(arguments)", indexed, and can be referred to
  with ``:py:signal:`` as well as with ``:py:meth:`` (how aioxmpp's own
  documentation links its signals).
- ``:xep:`84``` links to the XMPP Extension Protocol with that number,
  written ``XEP-0084``.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from docutils.parsers.rst.states import Inliner
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.domains import ObjType
from sphinx.domains.python import PyMethod, PythonDomain, PyXRefRole

XEP_URL = "https://xmpp.org/extensions/xep-{number:04d}.html"


class PySignal(PyMethod):
    """A signal of a class: its arguments are those its handlers get."""

    option_spec = {
        key: value
        for key, value in PyMethod.option_spec.items()
        if key not in ("async", "classmethod", "staticmethod", "abstractmethod")
    }

    def get_signature_prefix(self, sig: str) -> list[nodes.Node]:
        return [addnodes.desc_sig_keyword("", "signal"), addnodes.desc_sig_space()]

    def get_index_text(self, modname: str, name_cls: tuple[str, str]) -> str:
        name, _cls = name_cls
        owner, _, attr = name.rpartition(".")
        if not owner:
            return f"{name} (signal)"
        where = f"{modname}.{owner}" if modname else owner
        return f"{attr} ({where} signal)"


def xep_role(
    name: str,
    rawtext: str,
    text: str,
    lineno: int,
    inliner: Inliner,
    options: Any = None,
    content: Any = None,
) -> tuple[list[nodes.Node], list[nodes.system_message]]:
    """``:xep:`84``` -> a link "XEP-0084" to the specification."""
    try:
        number = int(text.strip())
        if not 0 < number < 10000:
            raise ValueError(text)
    except ValueError:
        message = inliner.reporter.error(
            f"XEP number must be an integer from 1 to 9999, not {text!r}",
            line=lineno,
        )
        problem = inliner.problematic(rawtext, rawtext, message)
        return [problem], [message]
    label = f"XEP-{number:04d}"
    node = nodes.reference(rawtext, label, refuri=XEP_URL.format(number=number))
    return [node], []


def setup(app: Sphinx) -> dict[str, Any]:
    PythonDomain.object_types["signal"] = ObjType("signal", "signal", "meth", "obj")
    app.add_directive_to_domain("py", "signal", PySignal)
    app.add_role_to_domain("py", "signal", PyXRefRole())
    app.add_role("xep", xep_role)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
