"""The wire-format cases of tests/vectors/codec.json, shared with the JS tests (client/test)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flash_ws.protocol import ProtocolError, decode_message, encode_message
from flash_ws.protocol.codec import frame_to_dict

VECTORS = json.loads((Path(__file__).parent / "vectors" / "codec.json").read_text(encoding="utf-8"))
VALID = VECTORS["valid"]
INVALID = VECTORS["invalid"]


def test_the_vector_file_has_cases_of_both_kinds_and_both_senders() -> None:
    assert {case["from"] for case in VALID} == {"client", "server"}
    assert {case["from"] for case in INVALID} == {"client", "server"}
    names = [case["name"] for case in VALID + INVALID]
    assert len(names) == len(set(names)), "vector names must be unique (they name the tests)"


@pytest.mark.parametrize("case", VALID, ids=[case["name"] for case in VALID])
def test_valid_message_decodes_to_the_listed_frames(case: dict) -> None:
    frames = decode_message(case["wire"], case["from"])

    assert [frame_to_dict(frame) for frame in frames] == case["frames"]


@pytest.mark.parametrize("case", VALID, ids=[case["name"] for case in VALID])
def test_valid_message_reencodes_to_the_same_frames(case: dict) -> None:
    frames = decode_message(case["wire"], case["from"])

    again = decode_message(encode_message(frames), case["from"])

    assert again == frames
    assert [frame_to_dict(frame) for frame in again] == case["frames"]


@pytest.mark.parametrize("case", INVALID, ids=[case["name"] for case in INVALID])
def test_invalid_message_is_refused_with_its_code(case: dict) -> None:
    with pytest.raises(ProtocolError) as info:
        decode_message(case["wire"], case["from"])

    assert info.value.code == case["code"]
    assert case["message_contains"] in info.value.message
