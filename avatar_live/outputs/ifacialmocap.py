"""Face parameters to VTuber apps as an iFacialMocap phone tracker (UDP text).

iFacialMocap (an iPhone ARKit app) streams one ASCII datagram per frame to port 49983,
which VSeeFace, VMagicMirror, VNyan and VBridger read as a phone tracker (they take the
datagrams without the start handshake they send the phone):

    mouthSmile_R-0|eyeBlink_L-35|...|=head#rx,ry,rz,px,py,pz|rightEye#rx,ry,rz|leftEye#rx,ry,rz|

Blendshapes: ARKit names with a "Left"/"Right" side suffix written "_L"/"_R"
(eyeBlinkLeft -> eyeBlink_L; jawLeft, mouthLeft and their Right twins are directions,
not sides, and keep their names), weights as integers 0-100 after a '-'.

Angles are Euler degrees as Unity's Quaternion.Euler(rx, ry, rz) takes them (roll, then
pitch, then yaw), which is how receivers apply them. The frame is ARKit's face frame as
the app reports it with the phone facing the user: right-handed, x towards the subject's
left, y up, z towards the phone, the same as our avatar space. So rx > 0 is chin down,
ry > 0 is turning to the subject's left, rz > 0 tips the head towards the subject's right
shoulder; eyes: rx > 0 looks down, ry > 0 looks to the subject's left (an early
VMagicMirror receiver read a positive left-eye ry as "look out" and rx as "look down",
which agrees). No phone was at hand to confirm the signs against the real app; if a
receiver turns the wrong way, the fix is a sign here.

Position, in metres like ARKit's camera space, z negative in front of the camera (the
app's published sample has z = -0.66): px, py = translation x, y (x to the image's right,
y up; face units, the outer eye corner distance, taken as 9 cm); pz = -0.5 m / exp(z),
0.5 m standing for the calibrated distance (translation z is the log of the face's size
relative to calibration).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from avatar_live.outputs.network import IFACIALMOCAP_PORT, UdpParamsSink
from avatar_live.outputs.vmc import eye_rotation
from avatar_live.types import ARKIT_NAMES, FaceParams

FACE_UNIT_M = 0.09
"""Metres per face unit (the outer eye corner distance of an adult)."""

REST_DISTANCE_M = 0.5
"""Metres from the camera that translation z = 0 (the calibrated size) stands for."""

_DIRECTIONS = {"jawLeft", "jawRight", "mouthLeft", "mouthRight"}


def ifacialmocap_name(arkit_name: str) -> str:
    """iFacialMocap's spelling of an ARKit blendshape name (eyeBlinkLeft -> eyeBlink_L)."""
    if arkit_name in _DIRECTIONS:
        return arkit_name
    for side, suffix in (("Left", "_L"), ("Right", "_R")):
        if arkit_name.endswith(side):
            return arkit_name[: -len(side)] + suffix
    return arkit_name


_NAMES = tuple(ifacialmocap_name(name) for name in ARKIT_NAMES)


def unity_euler_degrees(rotation: Rotation) -> tuple[float, float, float]:
    """(rx, ry, rz) in degrees with rotation = Ry(ry) Rx(rx) Rz(rz), Unity's Euler order."""
    ry, rx, rz = rotation.as_euler("YXZ", degrees=True)
    return float(rx), float(ry), float(rz)


def ifacialmocap_text(params: FaceParams) -> str:
    """One frame in iFacialMocap's text format; see the module docstring."""
    percents = np.rint(np.clip(np.nan_to_num(np.asarray(params.arkit, dtype=np.float64)), 0.0, 1.0) * 100.0)
    shapes = "".join(f"{name}-{int(value)}|" for name, value in zip(_NAMES, percents, strict=True))
    head = unity_euler_degrees(Rotation.from_rotvec(np.asarray(params.rotation, dtype=np.float64)))
    x, y, z = (float(v) for v in params.translation)
    position = (x * FACE_UNIT_M, y * FACE_UNIT_M, -REST_DISTANCE_M * float(np.exp(-z)))
    eye = ",".join(f"{v:.3f}" for v in unity_euler_degrees(eye_rotation(params.gaze)))
    head_text = ",".join([*(f"{v:.3f}" for v in head), *(f"{v:.5f}" for v in position)])
    return f"{shapes}=head#{head_text}|rightEye#{eye}|leftEye#{eye}|"


class IFacialMocapSink(UdpParamsSink):
    """Sends each frame's face parameters as one iFacialMocap datagram to host:port (UDP)."""

    def __init__(self, host: str, port: int = IFACIALMOCAP_PORT) -> None:
        super().__init__(host, port, "iFacialMocap")

    def encode(self, params: FaceParams, time: float) -> bytes:
        return ifacialmocap_text(params).encode("utf-8")
