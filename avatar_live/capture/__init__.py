"""Frame sources: camera, video file, still images, and the built-in demo."""
