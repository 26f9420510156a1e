"""Training and evaluation of the project's own models (expression and emotion read-outs).

This package imports the run-time code (trackers, features, the numpy models) and is never
imported by it: the app runs without torch, without the training media and without
MediaPipe's FaceLandmarker, which serves only as the teacher here.
"""
