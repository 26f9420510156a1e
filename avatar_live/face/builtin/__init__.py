"""The built-in character: the embedded default avatar, generated here from numbers alone.

No mesh file is read. A stylized head and shoulders, designed in centimetres of an average
adult (x towards the subject's left, y up, z forward; the eye corners on y = 0, the fronts
of the eyeballs near z = 0) and scaled to rig units at the end (about 2 units from chin to
crown). `Look` picks colours and the hair style; the face and its rig are the same for all.

Construction, module by module:

1. `sdf`: an implicit head (smooth unions of ellipsoids and rounded cones: skull, cheeks,
   jaw, chin, nose, lips, lids, a short neck) that `skin` samples by rays from a vertical
   axis inside the head. The rays form a latitude/longitude grid, dense across the face, so
   the skin is one grid of quads plus a crown pole and a neck cap.
2. `skin`, `eyes`: the mouth and both eyes are slits along grid rows whose vertices are
   duplicated, so the upper and lower lip (lid) can part. Around each eye the skin lies on
   a lid surface, an ellipsoid of revolution about the eye's lateral axis that encloses the
   eyeball; lids open and close by turning about that axis, so they slide over the eyeball
   and never cut into it. At rest the lids are parted into an almond; `eyeBlink*` shuts them.
3. `parts`, `hair`, `body`: separate meshes: eyeballs (sclera, iris, pupil) with catch
   lights on the eye joints, lid margins and a dark mouth cavity sewn to the slit edges,
   teeth, a tongue, ears, the hair shell of the look's style, and a top over the shoulders.
4. `paint`: skin colours and materials: lips, brows, lash line, blush, scalp.
5. `assembly`: everything in one mesh, with the bookkeeping the shapes need.
6. `blendshapes`: the 52 ARKit shapes are displacement fields on this mesh: lid turns, a
   rigid jaw motion weighted per vertex, and smooth local bumps, all sized in eye scales
   (the outer eye-corner distance) so a real face's landmark motion maps onto them.
7. `landmarks`: MediaPipe FaceMesh landmarks sit on the matching features (lip and lid
   edges, brows, face oval, nose, irises), spaced by arc length along each ordered contour.
8. `build`: skin weights and the `Rig`.
"""

from avatar_live.face.builtin.build import build_builtin_head
from avatar_live.face.builtin.look import (
    DEFAULT_LOOK,
    HAIR_STYLES,
    LOOKS,
    HairStyle,
    Look,
)

__all__ = ["DEFAULT_LOOK", "HAIR_STYLES", "LOOKS", "HairStyle", "Look", "build_builtin_head"]
