"""Face tracking: MediaPipe FaceMesh landmarks and crops."""
