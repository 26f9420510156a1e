"""Learned face encoders the user imports (EMOCA): model definitions, checkpoint reading, ONNX export, crop."""
