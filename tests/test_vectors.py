"""The cases of tests/vectors/codec.json (the wire format), tests/vectors/resume.json (what a
client sends again after a welcome), tests/vectors/acks.json (when it acknowledges) and
tests/vectors/sequencing.json (how it applies void frames), shared with the JS tests
(client/test/vectors.test.js)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flash_ws.protocol import Apply, ClientSession, Gap, ProtocolError, SessionLost, decode_message, encode_message
from flash_ws.protocol.codec import frame_to_dict
from flash_ws.protocol.frames import Ack, Update, Welcome

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
    if "message_lacks" in case:  # client input the refusal must not echo
        assert case["message_lacks"] not in info.value.message


# ----- tests/vectors/resume.json: what a new connection sends again (the rule of ClientSession)

RESUME = json.loads((Path(__file__).parent / "vectors" / "resume.json").read_text(encoding="utf-8"))["cases"]


def _client_with_runs(case: dict) -> ClientSession:
    """A client holding the case's runs, disconnected (see the vector file's "about")."""
    client = ClientSession()
    if not case.get("before_any_welcome"):
        client.receive_message(encode_message([Welcome("tok", "ep", False, 0)]), 0.0)
    for entry in case["runs"]:
        if not entry["sent"]:
            client.disconnected()
        frame, _replaced = client.start(entry["cb"], entry["args"])
        assert frame.run == entry["run"], "runs are numbered from 1 in the order they are listed"
        if entry.get("applied"):
            update = Update(client.applied_seq + 1, frame.run, [["out", {"children": 0}]])
            effects, _replies = client.receive_message(encode_message([update]), 0.0)
            assert [type(effect) for effect in effects] == [Apply], "the case's frame is applied"
        if entry["state"] == "cancelled":
            assert client.cancel(entry["run"]) is not None
    client.disconnected()
    states = {run: "running" for run in client.runs} | {run: "replaced" for run in client.cancelling}
    states |= {entry["run"]: "cancelled" for entry in case["runs"] if entry["state"] == "cancelled"}
    assert states == {entry["run"]: entry["state"] for entry in case["runs"]}, "the case's states follow from its starts"
    return client


@pytest.mark.parametrize("case", RESUME, ids=[case["name"] for case in RESUME])
def test_after_a_welcome_the_client_sends_again_and_loses_what_the_vector_says(case: dict) -> None:
    client = _client_with_runs(case)
    welcome = case["welcome"]
    session = "tok" if welcome["resumed"] else "tok2"

    effects, replies = client.receive_message(
        encode_message([Welcome(session, "ep", welcome["resumed"], welcome["seq"], welcome["run"])]), 0.0)

    assert [frame_to_dict(frame) for frame in replies] == case["sent_again"]
    lost = [run for effect in effects if isinstance(effect, SessionLost) for run in effect.runs]
    assert lost == case["lost"]


def test_the_resume_vectors_cover_every_state_both_welcomes_and_unsent_starts() -> None:
    runs = [entry for case in RESUME for entry in case["runs"]]
    assert {entry["state"] for entry in runs} == {"running", "cancelled", "replaced"}
    assert {entry["sent"] for entry in runs} == {True, False}
    assert {entry.get("applied", False) for entry in runs} == {True, False}
    assert {case["welcome"]["resumed"] for case in RESUME} == {True, False}
    assert {frame["t"] for case in RESUME for frame in case["sent_again"]} == {"start", "cancel"}


# ----- tests/vectors/acks.json: when a client acknowledges (the rule of ClientSession)

ACKS = json.loads((Path(__file__).parent / "vectors" / "acks.json").read_text(encoding="utf-8"))["cases"]


def _padded(seqs: list[int], size: int) -> str:
    """A message of one update of run 1 per seq, padded with trailing spaces to ``size`` characters."""
    text = encode_message([Update(seq, 1, [["out", {"k": seq}]]) for seq in seqs])
    assert len(text) <= size, f"the case's size {size} is below the message's own {len(text)}"
    return text + " " * (size - len(text))


@pytest.mark.parametrize("case", ACKS, ids=[case["name"] for case in ACKS])
def test_the_client_acknowledges_when_the_vector_says(case: dict) -> None:
    client = ClientSession(ack_every=case["ack_every"], ack_interval=case["ack_interval_ms"] / 1000,
                           ack_bytes=case["ack_bytes"])
    client.receive_message(encode_message([Welcome("tok", "ep", False, 0)]), 0.0)
    client.start("a", [])

    for step in case["steps"]:
        now = step["at"] / 1000
        if "seqs" in step:
            _effects, replies = client.receive_message(_padded(step["seqs"], step["size"]), now)
            acks = [frame.seq for frame in replies if isinstance(frame, Ack)]
        elif step.get("resume"):
            client.disconnected()
            assert client.hello().seq == client.applied_seq
            _effects, replies = client.receive_message(encode_message([Welcome("tok", "ep", True, client.applied_seq, 1)]), now)
            acks = [frame.seq for frame in replies if isinstance(frame, Ack)]
        else:
            ack = client.ack_due(now)
            acks = [] if ack is None else [ack.seq]
        assert acks == ([] if step["ack"] is None else [step["ack"]]), step


def test_the_ack_vectors_cover_count_bytes_time_and_timer_steps() -> None:
    assert len({(case["ack_every"], case["ack_bytes"]) for case in ACKS}) >= 2
    assert any("seqs" not in step and step["ack"] is not None for case in ACKS for step in case["steps"])
    assert any(len(step.get("seqs", ())) > 1 for case in ACKS for step in case["steps"])


# ----- tests/vectors/sequencing.json: applying sequenced frames, void frames included

SEQUENCING = json.loads((Path(__file__).parent / "vectors" / "sequencing.json").read_text(encoding="utf-8"))["cases"]


@pytest.mark.parametrize("case", SEQUENCING, ids=[case["name"] for case in SEQUENCING])
def test_the_client_applies_sequenced_frames_as_the_vector_says(case: dict) -> None:
    client = ClientSession()
    client.receive_message(encode_message([Welcome("tok", "ep", False, case["applied"])]), 0.0)
    client.start("a", [])
    effects, _replies = client.receive_message(json.dumps(case["message"]), 0.0)
    gaps = [(effect.expected, effect.got) for effect in effects if isinstance(effect, Gap)]
    assert client.applied_seq == case["applied_after"]
    assert gaps == ([] if case["gap"] is None else [(case["gap"]["expected"], case["gap"]["received"])])


def test_the_sequencing_vectors_cover_a_void_inside_before_and_after_the_last_applied() -> None:
    voids = [(case["applied"], frame) for case in SEQUENCING for frame in case["message"] if frame["t"] == "void"]
    assert any(frame["from"] <= applied < frame["seq"] - 1 for applied, frame in voids)
    assert any(frame["from"] > applied + 1 for applied, frame in voids)
    assert any(frame["seq"] <= applied for applied, frame in voids)
