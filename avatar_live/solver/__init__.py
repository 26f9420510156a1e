"""Landmark solver: MediaPipe FaceMesh landmarks -> a rig's head pose, ARKit weights, gaze."""

from avatar_live.solver.landmark_solver import LandmarkSolver, SolverOptions

__all__ = ["LandmarkSolver", "SolverOptions"]
