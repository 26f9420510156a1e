"""An INT8 copy of the EMOCA encoder for ONNX Runtime on the CPU, made and checked at import.

Two float32 ResNet-50s take about 80 ms a frame on a 2-core CPU; with their convolutions
in INT8 (per-channel weights, per-tensor activations, ONNX Runtime's static QDQ format)
they take about 28 ms. Static quantization needs activation ranges, so the user's own
network is calibrated on face crops made here: frames of the demo face (`capture.demo`,
the astronaut photo bundled with scikit-image) tracked by FaceMesh and cropped as EMOCA
crops. The fully connected heads stay float32: they cost nothing and hold the output scale.

The INT8 model is kept only if it agrees with the float32 one on crops it was not
calibrated on (`MAX_DEVIATION`); otherwise the CPU runs the float32 model.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from avatar_live.encoders.export import ENCODER_INPUT, write_atomically
from avatar_live.errors import AvatarLiveError
from avatar_live.runtime.base import max_relative_error
from avatar_live.runtime.onnxruntime_backend import OnnxRuntimeBackend

log = logging.getLogger(__name__)

CALIBRATION_CROPS = 16
CHECK_CROPS = 8
MAX_DEVIATION = 0.08
"""The largest `runtime.max_relative_error` of the INT8 outputs against float32 that is kept.

Measured on the test suite's generated EMOCA weights: 1.2-1.5 % for shape, tex, exp, pose and
light, 4.8 % for the three-number camera (its small magnitude makes the same absolute error
larger relatively). The value is stored with the model and shown by `models list`.
"""


def demo_face_crops(count: int) -> np.ndarray:
    """`count` EMOCA crops of the demo face, spread over its expression cycle.

    Returns:
        count x 3 x 224 x 224 float32 RGB in [0, 1].

    Raises:
        AvatarLiveError: FaceMesh does not find the demo face (a broken mediapipe install).
    """
    from avatar_live.capture.demo import DemoOptions, DemoSource
    from avatar_live.encoders.crop import crop_face
    from avatar_live.tracking.facemesh import FaceMeshTracker

    options = DemoOptions()
    demo = DemoSource.create_from_options(options)
    tracker = FaceMeshTracker.create_from_options()
    crops = []
    try:
        for i in range(count):
            frame = demo.frame_at(i * options.cycle_seconds / count)
            track = tracker.detect(frame)
            if track is None:
                raise AvatarLiveError("FaceMesh found no face in the demo frames used for INT8 calibration")
            crops.append(crop_face(frame, track.landmarks).image.transpose(2, 0, 1))
    finally:
        tracker.close()
        demo.close()
    return np.stack(crops)


class _CropReader:
    """onnxruntime's CalibrationDataReader protocol over a stack of crops, one per batch."""

    def __init__(self, crops: np.ndarray) -> None:
        self._crops = iter(crops)

    def get_next(self) -> dict[str, np.ndarray] | None:
        crop = next(self._crops, None)
        return None if crop is None else {ENCODER_INPUT: crop[None]}


def quantize_encoder(onnx_path: str | Path, int8_path: str | Path, crops: np.ndarray) -> float:
    """Write an INT8 copy of an exported encoder, calibrated and checked on face crops.

    Args:
        onnx_path: the float32 encoder from `export.export_encoder`.
        int8_path: where to write the INT8 model (replaced if present).
        crops: N x 3 x 224 x 224 face crops; the first N - `CHECK_CROPS` calibrate,
            the last `CHECK_CROPS` check.

    Returns:
        The INT8 model's `max_relative_error` against float32 on the check crops.

    Raises:
        AvatarLiveError: onnxruntime is missing, too few crops, the model cannot be
            quantized, or it deviates more than `MAX_DEVIATION` (nothing is written then).
    """
    try:
        from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as error:
        raise AvatarLiveError("onnxruntime is not installed (pip install 'avatar-live[emoca]')") from error

    if crops.ndim != 4 or crops.shape[0] <= CHECK_CROPS:
        raise AvatarLiveError(f"INT8 calibration needs more than {CHECK_CROPS} crops, got shape {crops.shape}")
    calibration, check = crops[:-CHECK_CROPS], crops[-CHECK_CROPS:]
    int8_path = Path(int8_path)
    # Its tooling logs each step at INFO; our own lines say what is happening.
    logging.getLogger("onnxruntime.quantization").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as folder:
        prepared, quantized = Path(folder) / "prepared.onnx", Path(folder) / "int8.onnx"
        try:
            # Shape inference and graph clean-up first: without it ONNX Runtime cannot fuse
            # the QDQ pairs into integer convolutions and the INT8 model is no faster.
            quant_pre_process(str(onnx_path), str(prepared))
            quantize_static(str(prepared), str(quantized), _CropReader(calibration), quant_format=QuantFormat.QDQ,
                            op_types_to_quantize=["Conv"], per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        except Exception as error:  # onnxruntime's tooling raises untyped errors
            raise AvatarLiveError(f"cannot quantize {onnx_path} to INT8: {error}") from error
        inputs = {ENCODER_INPUT: check}
        with OnnxRuntimeBackend(onnx_path) as reference, OnnxRuntimeBackend(quantized, int8=True) as int8:
            deviation = max_relative_error(int8.run(inputs), reference.run(inputs))
        if deviation > MAX_DEVIATION:
            raise AvatarLiveError(f"the INT8 encoder deviates {deviation:.1%} from float32 (limit "
                                  f"{MAX_DEVIATION:.0%}); the CPU will run the float32 model")
        write_atomically(int8_path, quantized.read_bytes())
    log.info("INT8 encoder written to %s (max deviation from float32 %.2f%%)", int8_path, 100 * deviation)
    return deviation
