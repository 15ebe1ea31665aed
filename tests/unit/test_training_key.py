"""The training key: same extract, settings, code and libraries give the same key; any change, another."""

from __future__ import annotations

import types

from ai_roi.ml import tracking


def _module(tmp_path, name: str, source: str):
    path = tmp_path / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    return types.SimpleNamespace(__name__=name, __file__=str(path))


def test_each_input_of_training_changes_the_key(tmp_path):
    code = _module(tmp_path, "trainer", "def fit(x):\n    return x\n")
    lib = types.SimpleNamespace(__name__="sklearn", __version__="1.7.2")
    settings = {"seed": 7, "router": {"C": 0.5, "word_ngrams": [1, 2]}}
    key = tracking.training_key("a" * 64, settings, [code], [lib])
    # the same inputs, the dict in another order: the same key
    same = tracking.training_key("a" * 64, {"router": settings["router"], "seed": 7}, [code], [lib])
    assert same == key
    others = {
        "extract": tracking.training_key("b" * 64, settings, [code], [lib]),
        "setting": tracking.training_key("a" * 64, {**settings, "seed": 8}, [code], [lib]),
        "library": tracking.training_key(
            "a" * 64,
            settings,
            [code],
            [types.SimpleNamespace(__name__="sklearn", __version__="1.8")],
        ),
    }
    code.__file__ = str(_module(tmp_path, "trainer2", "def fit(x):\n    return -x\n").__file__)
    others["code"] = tracking.training_key("a" * 64, settings, [code], [lib])
    assert all(k != key for k in others.values()), others
    assert len(set(others.values())) == len(others)
