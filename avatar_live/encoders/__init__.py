"""Read-outs: what the encode stage asks to read a face (`base.Readout`): the expression
models (learned, solver, FaceLandmarker's own), the emotion models (learned, rules), and
EMOCA, the user's imported encoder (model definitions, checkpoint reading, ONNX export, crop)."""
