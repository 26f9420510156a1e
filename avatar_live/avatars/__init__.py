"""User avatars: VRM 0.x / 1.0 and plain glTF files, posed and driven by face parameters.

`gltf.load_avatar_file` reads a file into a numpy-only `model.Avatar`; `pose` turns node
rotations into matrices for GPU skinning; `drive.AvatarDriver` maps `FaceParams` onto
morph-target weights and bone rotations. Nothing here touches OpenGL.
"""
