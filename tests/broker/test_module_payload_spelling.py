"""The module runtime's own answers are C in flux-core (compact JSON); a module's
Python handlers encode like flux-core's bindings (json.dumps)."""

from __future__ import annotations

import json

from modhelpers import gmod, handle, inst, moddir  # noqa: F401 (fixtures)


def test_builtin_methods_answer_compact_json(inst, gmod):
    h = handle(inst)
    for topic, payload in (("gmod.ping", {"seq": 1, "pad": "x"}), ("gmod.stats-get", None),
                           ("gmod.rusage", None)):
        text = h.rpc(topic, payload).get_str()
        obj = json.loads(text)
        assert text == json.dumps(obj, separators=(",", ":"), ensure_ascii=False), topic


def test_python_handler_answers_json_dumps(inst, gmod):
    text = handle(inst).rpc("gmod.info").get_str()
    assert text == json.dumps(json.loads(text))
    assert ", " in text or ": " in text
