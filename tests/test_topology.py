"""The named landmark sets agree with MediaPipe's own FaceMesh connection sets."""

from itertools import pairwise

import pytest

from avatar_live.tracking import topology as t

connections = pytest.importorskip("mediapipe.python.solutions.face_mesh_connections")


def _edges(*chains):
    return {frozenset(e) for chain in chains for e in pairwise(chain)}


@pytest.mark.parametrize(
    ("chains", "reference"),
    [
        ((t.LIPS_OUTER_UPPER, t.LIPS_OUTER_LOWER, t.LIPS_INNER_UPPER, t.LIPS_INNER_LOWER), "FACEMESH_LIPS"),
        ((t.RIGHT_EYE_UPPER, t.RIGHT_EYE_LOWER), "FACEMESH_RIGHT_EYE"),
        ((t.LEFT_EYE_UPPER, t.LEFT_EYE_LOWER), "FACEMESH_LEFT_EYE"),
        ((t.RIGHT_BROW_UPPER, t.RIGHT_BROW_LOWER), "FACEMESH_RIGHT_EYEBROW"),
        ((t.LEFT_BROW_UPPER, t.LEFT_BROW_LOWER), "FACEMESH_LEFT_EYEBROW"),
        ((t.FACE_OVAL + (t.FACE_OVAL[0],),), "FACEMESH_FACE_OVAL"),
    ],
)
def test_contours_match_mediapipe(chains, reference):
    ours = _edges(*chains)
    theirs = {frozenset(e) for e in getattr(connections, reference)}
    # Brows in MediaPipe are two open chains without the end caps we do not use either.
    assert ours == theirs


def test_irises_match_mediapipe():
    rim_right = {i for e in connections.FACEMESH_RIGHT_IRIS for i in e}
    rim_left = {i for e in connections.FACEMESH_LEFT_IRIS for i in e}
    assert set(t.RIGHT_IRIS[1:]) == rim_right
    assert set(t.LEFT_IRIS[1:]) == rim_left
