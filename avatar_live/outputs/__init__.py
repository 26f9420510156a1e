"""Where results go: video files, JSON lines, virtual cameras (the window lives in render/)."""
