"""The default app works without the optional EMOCA packages (torch, onnxruntime)."""

import subprocess
import sys


def test_the_default_app_does_not_import_torch_or_onnxruntime():
    code = ("import sys, avatar_live.app, avatar_live.cli, avatar_live.pipeline.stages; "
            "print(sorted(m for m in ('torch', 'onnxruntime', 'onnx') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
