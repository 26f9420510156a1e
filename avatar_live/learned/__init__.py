"""The project's own learned models, at run time: numpy only, weights shipped in `weights/`.

`features` turns FaceMesh landmarks into a pose-free vector; `mlp` runs the networks;
`weights` reads and checks the files; `expression` (landmarks -> 52 ARKit weights) and
`emotion` (weights and geometry -> AffectNet's classes) are the models; `neutral` is the
optional per-user refinement. Training lives in `avatar_live.training`.
"""
