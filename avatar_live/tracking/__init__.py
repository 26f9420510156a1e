"""Face tracking: the tracker protocol (`base`), MediaPipe FaceMesh and FaceLandmarker, landmark index sets."""
