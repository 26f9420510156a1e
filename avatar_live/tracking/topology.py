"""Named MediaPipe FaceMesh landmark index sets (478-point topology with irises).

Ordered contours, subject's left/right. Each list runs from one corner to the other so it
can be placed along a curve. `tests/test_topology.py` checks them against the connection
sets that ship with mediapipe.
"""

from __future__ import annotations

# Lips, from the subject's right mouth corner (61 outer / 78 inner) to the left corner.
LIPS_OUTER_UPPER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIPS_OUTER_LOWER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
LIPS_INNER_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIPS_INNER_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)

# Eyes, from the outer corner to the inner corner.
RIGHT_EYE_UPPER = (33, 246, 161, 160, 159, 158, 157, 173, 133)
RIGHT_EYE_LOWER = (33, 7, 163, 144, 145, 153, 154, 155, 133)
LEFT_EYE_UPPER = (263, 466, 388, 387, 386, 385, 384, 398, 362)
LEFT_EYE_LOWER = (263, 249, 390, 373, 374, 380, 381, 382, 362)

# Brows, from the outer end to the inner end; upper and lower edge.
RIGHT_BROW_UPPER = (70, 63, 105, 66, 107)
RIGHT_BROW_LOWER = (46, 53, 52, 65, 55)
LEFT_BROW_UPPER = (300, 293, 334, 296, 336)
LEFT_BROW_LOWER = (276, 283, 282, 295, 285)

# Irises (refine_landmarks=True): centre then four points on the rim.
RIGHT_IRIS = (468, 469, 470, 471, 472)
LEFT_IRIS = (473, 474, 475, 476, 477)

# Face oval, clockwise in the image starting at the top of the forehead.
FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)

# Nose: bridge from between the eyes down to the tip, then the tip's underside.
NOSE_BRIDGE = (168, 6, 197, 195, 5, 4, 1)
NOSE_BOTTOM = (2, 94, 19)
NOSE_WINGS = (98, 327)  # subject's right, left alar

FOREHEAD = 10
CHIN = 152

# Points that barely move with expression: used for rigid head pose.
STABLE = (
    33, 133, 263, 362,  # eye corners
    168, 6, 197, 195, 5, 4, 1,  # nose bridge and tip
    10, 109, 338, 67, 297,  # forehead
    234, 454, 93, 323,  # temples / cheeks at the face oval
)
