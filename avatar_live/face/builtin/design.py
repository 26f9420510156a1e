"""Design dimensions (centimetres), joint positions, colours and vertex kinds of the built-in head."""

from __future__ import annotations

import numpy as np

from avatar_live.face.rig import JOINT_NAMES, MATERIALS

CM_TO_RIG = 1.0 / 11.0
"""Rig units per design centimetre."""

RIG_ORIGIN_CM = np.array([0.0, 0.6, -7.5])
"""The design point (cm) that becomes the rig's origin: the middle of the head."""

# Skin grid.
AXIS_Z = -6.5  # the vertical axis the skin rays start from
CAP_Y = 4.0  # above this the rays fan up over the skull
JAW_Y = -9.5  # below this the rays sweep under the chin and down the neck
NECK_BOTTOM_Y = -20.0  # inside the top, below its collar
EYE_SLIT_Y = 0.0
MOUTH_Y = -6.1
MOUTH_CORNER_LON = 19.8  # degrees of longitude (seen from the axis) of the mouth corners
EYE_INNER_LON = 15.5
EYE_OUTER_LON = 40.5

# Eyes (the subject's left eye; the right one is its mirror image).
EYE_CENTRE = np.array([3.05, 0.28, -1.32])
EYE_RADIUS = 1.30
LID_RADIUS = 1.42  # lid surface radius about the lateral axis; the margin over the eyeball is the lid
LID_LENGTH = 1.95  # lid surface semi-axis along the lateral axis (the opening is wider than tall)
EYE_YAW = np.radians(14.0)  # the opening faces this far outwards, so the outer corner sits further back
SLIT_ELEVATION = -0.19  # radians about the eye centre where the shut lids meet
SLIT_TILT = 0.14  # the outer corner this much higher (radians) than the inner one
UPPER_LID_OPEN = 0.64  # radians the upper lid is raised at rest (peak of the almond)
LOWER_LID_OPEN = 0.17
UPPER_LID_REACH = 1.45  # radians above the slit over which the upper lid's turn fades out
LOWER_LID_REACH = 0.95
UPPER_LID_PEAK = -0.12  # where along the slit the almond is tallest (-1 inner .. +1 outer)
LOWER_LID_PEAK = 0.15
SOCKET_DEPTH = 0.86  # the lid margins run in to this fraction of the eyeball radius
IRIS_ANGLE = 0.47  # half-angle of the iris seen from the eyeball centre
PUPIL_ANGLE = 0.17

# Joints and the jaw.
JAW_JOINT = np.array([0.0, -3.0, -6.8])
NECK_JOINT = np.array([0.0, -6.0, -8.5])
GLOBAL_JOINT = np.array([0.0, -13.5, -8.3])
JAW_OPEN_ANGLE = 0.47  # radians at jawOpen = 1
JAW_OPEN_PIVOT = JAW_JOINT + np.array([0.0, -2.0, -0.5])
"""The condyles glide forward as the mouth opens, so the jaw turns about a lower point."""

HAIR_CENTRE = np.array([0.0, 2.0, -8.0])
"""The hair is laid out by longitude and elevation seen from this point (cm)."""

# Colours every look shares (the rest come from `look.Look`).
SCLERA_COLOR = np.array([0.95, 0.94, 0.92])
LIMBUS_COLOR = np.array([0.14, 0.09, 0.06])
PUPIL_COLOR = np.array([0.03, 0.03, 0.03])
CARUNCLE_COLOR = np.array([0.86, 0.52, 0.50])
MOUTH_COLOR = np.array([0.42, 0.12, 0.13])
THROAT_COLOR = np.array([0.10, 0.03, 0.04])
TEETH_COLOR = np.array([0.96, 0.94, 0.88])
TONGUE_COLOR = np.array([0.93, 0.46, 0.53])  # pinker than any look's lips, so it reads against them

MATERIAL_ID = {name: i for i, name in enumerate(MATERIALS)}
JOINT_ID = {name: i for i, name in enumerate(JOINT_NAMES)}

# What each vertex of the assembled head belongs to.
SKIN, SOCKET, EYEBALL, CAVITY, TEETH_UPPER, TEETH_LOWER, TONGUE, HAIR, EAR, BODY = range(10)
