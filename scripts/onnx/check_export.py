"""Hold onnxruntime to an exported policy's own logits.

Usage: python check_export.py MODEL.onnx [MODEL.onnx.check.json] [--tol 1e-5]

`spelunk export` writes the model and a check file of sample observations with the logits our
policy (candle) gives them. This runs the model in onnxruntime on the same observations and
fails if any logit differs by more than the tolerance.
"""

import json
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    tol = float(sys.argv[sys.argv.index("--tol") + 1]) if "--tol" in sys.argv else 1e-5
    if "--tol" in sys.argv:
        args.remove(str(sys.argv[sys.argv.index("--tol") + 1]))
    model = args[0]
    check = json.load(open(args[1] if len(args) > 1 else model + ".check.json"))
    onnx.checker.check_model(onnx.load(model), full_check=True)
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    obs = np.asarray(check["obs"], dtype=np.float32)
    ours = np.asarray(check["logits"], dtype=np.float32).reshape(len(obs), *check["shape"])
    theirs = session.run(None, {name: obs})[0]
    diff = float(np.max(np.abs(theirs - ours)))
    print(f"{model}: onnxruntime {ort.__version__} on {len(obs)} observations, "
          f"logits {list(theirs.shape)}, max |diff| against ours = {diff:.3e} (tolerance {tol:g})")
    if not diff <= tol:
        sys.exit(1)


if __name__ == "__main__":
    main()
