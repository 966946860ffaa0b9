"""flash_ws.protocol.codec: size limit, RawJson, optional members, round trips."""

from __future__ import annotations

import json

import pytest

from flash_ws.protocol import ErrorInfo, FrameTooLarge, ProtocolError, decode_message, encode_frame, encode_message
from flash_ws.protocol.codec import DEFAULT_MAX_BYTES, frame_to_dict, join_frames
from flash_ws.protocol.frames import Ack, End, Error, Hello, RawJson, Update


def test_a_message_over_the_limit_is_refused_naming_both_sizes() -> None:
    text = encode_message([Ack(1)] * 10)
    size = len(text.encode())

    with pytest.raises(FrameTooLarge) as info:
        decode_message(text, "client", max_bytes=size - 1)

    assert isinstance(info.value, ProtocolError)
    assert info.value.code == "too_large"
    assert str(size) in info.value.message
    assert str(size - 1) in info.value.message


def test_a_message_exactly_at_the_limit_is_accepted() -> None:
    text = encode_message([Ack(1)] * 10)

    assert decode_message(text, "client", max_bytes=len(text.encode())) == [Ack(1)] * 10


def test_the_limit_counts_utf8_bytes_not_characters() -> None:
    text = '[{"t":"start","run":1,"cb":"x","args":["' + "é" * 10 + '"]}]'
    size = len(text.encode())
    assert size == len(text) + 10

    with pytest.raises(FrameTooLarge) as info:
        decode_message(text, "client", max_bytes=len(text))

    assert f"{size} bytes" in info.value.message


def test_bytes_are_decoded_like_text() -> None:
    text = encode_message([Hello("tok", 3)])

    assert decode_message(text.encode(), "client") == decode_message(text, "client") == [Hello("tok", 3)]


def test_the_default_limit_is_one_mebibyte() -> None:
    assert DEFAULT_MAX_BYTES == 1 << 20
    padding = "x" * DEFAULT_MAX_BYTES
    with pytest.raises(FrameTooLarge):
        decode_message(f'[{{"t":"start","run":1,"cb":"x","args":["{padding}"]}}]', "client")


def test_raw_json_props_are_inserted_verbatim() -> None:
    raw = '[["out", {"children": "é", "n": 1.50}]]'  # spacing and number text the encoder would change

    text = encode_frame(Update(4, 2, RawJson(raw)))

    assert text == '{"t":"update","seq":4,"run":2,"props":' + raw + "}"
    assert json.loads(text)["props"] == [["out", {"children": "é", "n": 1.5}]]


def test_raw_json_update_decodes_to_the_same_props_as_a_list_update() -> None:
    props = [["out", {"children": "hi"}], [{"type": "row", "index": 3}, {"value": [1, 2]}]]

    from_raw = decode_message(join_frames([encode_frame(Update(1, 1, RawJson(json.dumps(props))))]), "server")
    from_list = decode_message(encode_message([Update(1, 1, props)]), "server")

    assert from_raw == from_list == [Update(1, 1, props)]


def test_optional_members_are_omitted_when_none() -> None:
    assert frame_to_dict(End(3, 1, "done")) == {"t": "end", "seq": 3, "run": 1, "reason": "done"}
    assert frame_to_dict(Error("bad_frame", "m")) == {"t": "error", "code": "bad_frame", "message": "m"}
    assert frame_to_dict(Error("unknown_run", "m", run=9)) == {"t": "error", "code": "unknown_run", "message": "m", "run": 9}


def test_hello_session_null_is_kept_because_it_is_required() -> None:
    assert frame_to_dict(Hello()) == {"t": "hello", "session": None, "seq": 0, "v": 1}
    assert decode_message(encode_message([Hello()]), "client") == [Hello()]


def test_end_with_error_info_round_trips() -> None:
    end = End(8, 2, "error", ErrorInfo("callback_error", 'ValueError: "quoted" é'))

    assert frame_to_dict(end)["error"] == {"code": "callback_error", "message": 'ValueError: "quoted" é'}
    (decoded,) = decode_message(encode_message([end]), "server")
    assert decoded == end
    assert isinstance(decoded.error, ErrorInfo)


def test_end_without_error_decodes_with_error_none() -> None:
    (decoded,) = decode_message('[{"t":"end","seq":1,"run":1,"reason":"done"}]', "server")

    assert decoded == End(1, 1, "done", None)


def test_end_with_malformed_error_is_refused_naming_the_member() -> None:
    with pytest.raises(ProtocolError) as info:
        decode_message('[{"t":"end","seq":1,"run":1,"reason":"error","error":{"code":1}}]', "server")

    assert info.value.code == "bad_frame"
    assert "'error'" in info.value.message


def test_encoding_is_compact_and_keeps_non_ascii() -> None:
    text = encode_message([Error("bad_frame", "é")])

    assert text == '[{"t":"error","code":"bad_frame","message":"é"}]'


def test_a_frame_type_of_the_other_side_is_refused() -> None:
    with pytest.raises(ProtocolError) as info:
        decode_message(encode_message([Hello()]), "server")

    assert info.value.code == "bad_frame"
    assert "'hello'" in info.value.message and "server" in info.value.message
