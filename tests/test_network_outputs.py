"""Network outputs: VMC bundles and iFacialMocap text as a receiver on localhost sees them."""

from __future__ import annotations

import errno
import logging
import math
import socket

import numpy as np
import pytest
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_packet import OscPacket

from avatar_live.errors import AvatarLiveError
from avatar_live.outputs.ifacialmocap import (
    IFacialMocapSink,
    ifacialmocap_name,
    ifacialmocap_text,
)
from avatar_live.outputs.network import parse_endpoint
from avatar_live.outputs.vmc import VmcSink, vmc_bundle
from avatar_live.types import ARKIT_NAMES, FaceParams, Frame, Packet


def _params(face=True, rotation=(0.0, 0.0, 0.0), gaze=(0.0, 0.0), jaw_open=0.5):
    params = FaceParams.neutral()
    params.face = face
    params.rotation = np.array(rotation, np.float32)
    params.gaze = np.array(gaze, np.float32)
    params.arkit[ARKIT_NAMES.index("jawOpen")] = jaw_open
    params.arkit[ARKIT_NAMES.index("eyeBlinkLeft")] = 1.7  # out of range: must be clipped
    return params


def _packet(index, params):
    # No rendered image: network sinks must not need one.
    return Packet(Frame(index, index / 30, np.zeros((2, 2, 3), np.uint8)), params=params)


@pytest.fixture
def receiver():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(1.0)
    yield sock
    sock.close()


def _drain(sock):
    """Every datagram waiting on `sock` (waits up to 1 s for the first, 0.2 s for the rest)."""
    datagrams = []
    try:
        while True:
            datagrams.append(sock.recv(65536))
            sock.settimeout(0.2)
    except socket.timeout:
        return datagrams


def _messages(datagram):
    assert OscBundle.dgram_is_bundle(datagram)
    return [(timed.message.address, timed.message.params) for timed in OscPacket(datagram).messages]


def _bone(messages, name):
    """The (qx, qy, qz, qw) sent for bone `name`."""
    (quaternion,) = [params[4:] for address, params in messages if address == "/VMC/Ext/Bone/Pos" and params[0] == name]
    return np.array(quaternion)


def test_vmc_bundle_has_every_message_in_order(receiver):
    sink = VmcSink(*receiver.getsockname())
    sink.write(_packet(3, _params()))
    sink.close()
    (datagram,) = _drain(receiver)
    messages = _messages(datagram)
    addresses = [address for address, _ in messages]
    assert addresses == (["/VMC/Ext/OK", "/VMC/Ext/T"] + ["/VMC/Ext/Bone/Pos"] * 3
                         + ["/VMC/Ext/Blend/Val"] * 52 + ["/VMC/Ext/Blend/Apply"])
    assert messages[0][1] == [1, 3, 0, 1]
    assert messages[1][1][0] == pytest.approx(0.1)
    assert [params[0] for address, params in messages[2:5]] == ["Head", "LeftEye", "RightEye"]
    blends = dict(params for address, params in messages if address == "/VMC/Ext/Blend/Val")
    assert sorted(blends) == sorted(ARKIT_NAMES) and len(messages[5:-1]) == 52
    assert all(0.0 <= value <= 1.0 for value in blends.values())
    assert blends["jawOpen"] == pytest.approx(0.5) and blends["eyeBlinkLeft"] == 1.0
    assert messages[-1][1] == []


def test_vmc_tracking_status_follows_the_face():
    messages = _messages(vmc_bundle(_params(face=False), 0.0))
    assert messages[0][1] == [1, 3, 0, 0]


def test_vmc_head_turn_to_the_subjects_left_is_a_negative_unity_yaw():
    # Avatar space: +0.3 rad about +y swings the face (+z) to +x, the subject's left.
    # Unity mirrors x, so the model must turn to its own left (-x): a negative rotation
    # about Unity's +y, i.e. qy = -sin(0.15).
    head = _bone(_messages(vmc_bundle(_params(rotation=(0.0, 0.3, 0.0)), 0.0)), "Head")
    assert np.linalg.norm(head) == pytest.approx(1.0, abs=1e-6)
    assert head == pytest.approx([0.0, -math.sin(0.15), 0.0, math.cos(0.15)], abs=1e-6)


def test_vmc_nod_down_is_a_positive_unity_pitch():
    # Avatar +0.2 rad about +x swings the face (+z) down (-y); in Unity a positive turn
    # about +x also tips the forward axis down, so qx keeps its sign.
    head = _bone(_messages(vmc_bundle(_params(rotation=(0.2, 0.0, 0.0)), 0.0)), "Head")
    assert head == pytest.approx([math.sin(0.1), 0.0, 0.0, math.cos(0.1)], abs=1e-6)


def test_vmc_eyes_follow_gaze_like_the_head():
    messages = _messages(vmc_bundle(_params(gaze=(0.2, 0.0)), 0.0))
    for eye in ("LeftEye", "RightEye"):  # looking to the subject's left: the head turn's sign
        assert _bone(messages, eye) == pytest.approx([0.0, -math.sin(0.1), 0.0, math.cos(0.1)], abs=1e-6)
    up = _messages(vmc_bundle(_params(gaze=(0.0, 0.2)), 0.0))
    # Looking up is the opposite of nodding down: a negative Unity pitch.
    assert _bone(up, "LeftEye") == pytest.approx([-math.sin(0.1), 0.0, 0.0, math.cos(0.1)], abs=1e-6)


def test_vmc_bundle_fits_one_datagram():
    assert len(vmc_bundle(_params(), 0.0)) < 4000


def test_nothing_is_sent_before_a_face_then_one_datagram_per_frame(receiver):
    sink = VmcSink(*receiver.getsockname())
    for i in range(4):
        sink.write(_packet(i, _params(face=False)))
    assert _drain(receiver) == [] and sink.frames == 0
    faces = [True, True, False, True, False]  # after the first face, lost frames still go out
    for i, face in enumerate(faces):
        sink.write(_packet(4 + i, _params(face=face)))
    sink.close()
    datagrams = _drain(receiver)
    assert len(datagrams) == sink.frames == len(faces)
    assert [_messages(d)[0][1][3] for d in datagrams] == [int(face) for face in faces]


def test_ifacialmocap_names():
    assert ifacialmocap_name("eyeBlinkLeft") == "eyeBlink_L"
    assert ifacialmocap_name("mouthSmileRight") == "mouthSmile_R"
    assert ifacialmocap_name("eyeLookInLeft") == "eyeLookIn_L"
    for same in ("browInnerUp", "cheekPuff", "jawOpen", "tongueOut", "jawLeft", "mouthRight"):
        assert ifacialmocap_name(same) == same


def _parse_ifacialmocap(text):
    shapes, transforms = text.split("=")
    assert text.endswith("|") and shapes.endswith("|")
    pairs = [item.rsplit("-", 1) for item in shapes.split("|")[:-1]]
    sections = dict(item.split("#") for item in transforms.split("|")[:-1])
    return [(name, value) for name, value in pairs], {k: [float(v) for v in s.split(",")] for k, s in sections.items()}


def test_ifacialmocap_datagram_parses_back(receiver):
    sink = IFacialMocapSink(*receiver.getsockname())
    sink.write(_packet(0, _params(rotation=(0.0, 0.3, 0.0), gaze=(0.0, 0.2))))
    sink.close()
    (datagram,) = _drain(receiver)
    pairs, sections = _parse_ifacialmocap(datagram.decode("ascii"))
    values = {name: int(value) for name, value in pairs}
    assert len(pairs) == len(values) == 52
    assert set(values) == {ifacialmocap_name(name) for name in ARKIT_NAMES}
    assert all(value.isdigit() and 0 <= int(value) <= 100 for _, value in pairs)
    assert values["jawOpen"] == 50 and values["eyeBlink_L"] == 100 and values["mouthSmile_R"] == 0
    assert list(sections) == ["head", "rightEye", "leftEye"]
    assert sections["head"][:3] == pytest.approx([0.0, math.degrees(0.3), 0.0], abs=1e-3)
    assert sections["head"][3:] == pytest.approx([0.0, 0.0, -0.5])
    assert sections["leftEye"] == pytest.approx([-math.degrees(0.2), 0.0, 0.0], abs=1e-3)  # up: negative pitch


def test_ifacialmocap_position_follows_translation():
    params = _params()
    params.translation = np.array([1.0, -0.5, math.log(2.0)], np.float32)  # right, down, twice the size
    _, sections = _parse_ifacialmocap(ifacialmocap_text(params))
    assert sections["head"][3:] == pytest.approx([0.09, -0.045, -0.25], abs=1e-4)


def test_a_closed_port_warns_once_and_never_raises(caplog):
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    for sink_type in (VmcSink, IFacialMocapSink):
        caplog.clear()
        sink = sink_type("127.0.0.1", port)
        with caplog.at_level(logging.WARNING):
            for i in range(30):
                sink.write(_packet(i, _params()))
        sink.close()
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "cannot send" in warnings[0].getMessage()
        assert sink.frames < 30  # the kernel did report the refusals


def test_an_unreachable_network_warns_once(caplog, monkeypatch):
    def unreachable(self, data):
        raise OSError(errno.ENETUNREACH, "Network is unreachable")

    sink = VmcSink("127.0.0.1", 39539)
    monkeypatch.setattr(socket.socket, "send", unreachable)
    with caplog.at_level(logging.WARNING):
        for i in range(10):
            sink.write(_packet(i, _params()))
    sink.close()
    assert [r.getMessage().count("Network is unreachable") for r in caplog.records] == [1]
    assert sink.frames == 0


def test_an_unresolvable_host_warns_once_and_sends_nothing(caplog, monkeypatch):
    def no_such_host(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    with caplog.at_level(logging.WARNING):
        sink = IFacialMocapSink("no-such-host.invalid", 49983)
        for i in range(10):
            sink.write(_packet(i, _params()))
    sink.close()
    assert len(caplog.records) == 1 and "cannot resolve 'no-such-host.invalid'" in caplog.records[0].getMessage()
    assert sink.frames == 0


def test_a_packet_without_params_is_a_bug():
    with pytest.raises(ValueError):
        VmcSink("127.0.0.1", 39539).write(Packet(Frame(0, 0.0, np.zeros((2, 2, 3), np.uint8))))


@pytest.mark.parametrize("text, expected", [
    ("39539", ("127.0.0.1", 39539)),
    (" 39539 ", ("127.0.0.1", 39539)),
    ("vseeface-pc:39540", ("vseeface-pc", 39540)),
    ("192.168.1.5:39539", ("192.168.1.5", 39539)),
    ("[::1]:39539", ("::1", 39539)),
    ("[::1]", ("::1", 49983)),
    ("::1", ("::1", 49983)),
    ("studio.local", ("studio.local", 49983)),
    ("10.0.0.7", ("10.0.0.7", 49983)),
    ("65535", ("127.0.0.1", 65535)),
])
def test_parse_endpoint_accepts(text, expected):
    assert parse_endpoint(text, 49983) == expected


@pytest.mark.parametrize("text", [
    "", "  ", "0", "65536", "host:", ":39539", "host:port", "host:-1", "host:70000",
    "[::1", "[::1]x", "[localhost]:1", "999.1.1.1", "bad host:1", "under_score:1", "a:b:c", "[::1]:",
])
def test_parse_endpoint_rejects_with_one_line(text):
    with pytest.raises(AvatarLiveError) as error:
        parse_endpoint(text, 39539)
    assert "\n" not in str(error.value) and repr(text) in str(error.value)


def test_parse_endpoint_uses_the_given_default_host():
    assert parse_endpoint("39539", 1, default_host="192.168.0.2") == ("192.168.0.2", 39539)
