from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from ignity import jsonout

scalars = st.none() | st.booleans() | st.integers() | st.text()
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=20
)


@given(values)
def test_same_text_as_the_json_module(obj: object) -> None:
    assert jsonout.dumps(obj) == json.dumps(obj)
    assert jsonout.dumps(obj, indent=2) == json.dumps(obj, indent=2)


@given(st.text())
def test_strings_read_back(text: str) -> None:
    assert json.loads(jsonout.string(text)) == text


def test_non_ascii_and_control_characters() -> None:
    assert jsonout.string("é\x00\U0001f600") == json.dumps("é\x00\U0001f600")
