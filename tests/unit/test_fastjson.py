import json

import pytest

from berth import fastjson


@pytest.mark.parametrize("value", [{"a": [1, 2.5, None, True, "é\n"]}, [], "x", 0, {"n": {"m": []}}])
def test_round_trip_matches_stdlib(value):
    text = fastjson.dumps(value)
    assert json.loads(text) == value
    assert fastjson.loads(text) == value
    assert fastjson.loads(json.dumps(value, indent=2)) == value


@pytest.mark.parametrize("bad", ["", "{", '{"a":}', "[1,]", "1 2", "nul"])
def test_bad_json_raises_value_error(bad):
    with pytest.raises(ValueError):
        fastjson.loads(bad)
