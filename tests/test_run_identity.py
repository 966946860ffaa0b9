"""The cases of tests/vectors/run_identity.json: a run's identity is its callback and its instance
key, alike on the client (ClientSession; client/test/vectors.test.js for the page's) and on the
server (ServerSession, which replaces runs on its own)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flash_ws.protocol import ClientSession, encode_message
from flash_ws.protocol.commands import CancelRun, StartRun
from flash_ws.protocol.frames import Welcome
from flash_ws.protocol.server_session import ServerSession
from flash_ws.trigger_context import run_key

CASES = json.loads((Path(__file__).parent / "vectors" / "run_identity.json").read_text(encoding="utf-8"))["cases"]


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_the_client_and_the_server_replace_cancel_and_keep_the_runs_the_vector_says(case: dict) -> None:
    client = ClientSession()
    client.receive_message(encode_message([Welcome("tok", "ep", False, 0)]), 0.0)
    server = ServerSession("tok", "ep", {"a", "b"})
    replaced_here, replaced_there, cancelled = [], [], []

    for op in case["ops"]:
        if "start" in op:
            frame, replaced = client.start(op["start"], [], op["key"])
            if replaced is not None:
                replaced_here.append([frame.run, replaced])
            commands = server.receive_message(encode_message([frame]))
            assert StartRun(frame.run, op["start"], []) in commands
            replaced_there += [[frame.run, c.run] for c in commands if isinstance(c, CancelRun) and c.reason == "replaced"]
        else:
            for run in client.runs_of(op["cancel"], op["key"]):
                cancel = client.cancel(run)
                assert cancel is not None
                cancelled.append(run)
                assert server.receive_message(encode_message([cancel])) == [CancelRun(run, "cancelled")]

    assert replaced_here == replaced_there == case["replaced"]
    assert cancelled == case["cancelled"]
    assert sorted(client.runs) == sorted(server.active_runs()) == case["active"]


def test_the_vectors_cover_keys_no_key_several_callbacks_and_both_kinds_of_cancel() -> None:
    ops = [op for case in CASES for op in case["ops"]]
    assert {op["key"] for op in ops if "start" in op} >= {"", run_key({"index": 1}), run_key({"index": 2})}
    assert {op["key"] is None for op in ops if "cancel" in op} == {True, False}
    assert {op["start"] for op in ops if "start" in op} == {"a", "b"}
    assert any(case["replaced"] for case in CASES) and any(case["cancelled"] for case in CASES)


def test_a_run_key_is_canonical_json_of_the_match_values_and_empty_without_them() -> None:
    assert run_key({"type": "card", "index": 2}) == '{"index":2,"type":"card"}'
    assert run_key({"index": "é"}) == '{"index":"é"}'
    assert run_key({}) == ""
