"""FaceMesh's landmarks read from MediaPipe's messages."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("mediapipe")


@pytest.mark.parametrize("with_visibility", [False, True])
def test_landmarks_are_read_from_the_message_exactly(with_visibility):
    from mediapipe.framework.formats import landmark_pb2

    from avatar_live.tracking.facemesh import landmarks_from_message

    rng = np.random.default_rng(0)
    points = rng.uniform(-1.0, 2.0, (478, 3)).astype(np.float32)
    points[5] = (0.0, -0.0, 1e-30)  # zeros are written too (proto2 fields), tiny values kept
    message = landmark_pb2.NormalizedLandmarkList()
    for x, y, z in points:
        landmark = message.landmark.add(x=x, y=y, z=z)
        if with_visibility:
            landmark.visibility = 0.5  # a longer entry: read attribute by attribute
    read = landmarks_from_message(message)
    assert read.dtype == np.float32 and read.shape == (478, 3)
    np.testing.assert_array_equal(read, points)
