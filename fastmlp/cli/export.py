"""``fastmlp export``: write a saved model as an ONNX file for ONNX Runtime and other ONNX tools."""

from __future__ import annotations

import re
from pathlib import Path

from . import common

DESCRIPTION = """\
Export a model saved by `fastmlp train --save` as ONNX: MatMul, Add and activation operators, input `input`
(a batch of samples), outputs `label` and `probabilities` (classifiers) or `predictions` (identity output).
Needs the onnx package (pip install fastmlp[onnx]).

examples:
  fastmlp export model.npz model.onnx
  fastmlp export model.npz model.onnx --input-dtype uint8     takes 0-255 pixels, read as x / 255
  fastmlp export model.npz model.onnx --classes T-shirt,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Boot
"""


def add_arguments(parser) -> None:
    from ..onnx_export import INPUT_DTYPES, OPSET

    parser.add_argument("model", help="model file written by fastmlp train --save")
    parser.add_argument("output", help="where to write the ONNX model (.onnx)")
    parser.add_argument("--input-dtype", choices=INPUT_DTYPES,
                        help="element type of the input: uint8 pixels are read as x / 255 "
                             "(default: uint8 for a model trained on uint8 images, else the model's dtype)")
    parser.add_argument("--classes", metavar="LABELS",
                        help="comma-separated labels the label output gives instead of 0..n-1 "
                             "(two for a single output unit); integers stay integers (default: the class names "
                             "the model file keeps, or a scikit-learn estimator's labels)")
    parser.add_argument("--opset", type=int, default=OPSET, help=f"ONNX operator set (default: {OPSET})")


def parse_classes(text: str | None):
    """``"cat,dog"`` -> ["cat", "dog"]; ``"3,5"`` -> [3, 5]; None stays None."""
    if text is None:
        return None
    labels = [label.strip() for label in text.split(",")]
    try:
        return [int(label) for label in labels]
    except ValueError:
        return labels


def run(args) -> int:
    if Path(args.output).suffix.lower() != ".onnx":
        raise ValueError(f"the output must end in .onnx, got {args.output}")
    from ..onnx_export import to_onnx

    net, estimator = common.load_model(args.model)
    options = common.onnx_options(net, estimator)
    if args.classes is not None:
        options["classes"] = parse_classes(args.classes)
        needed = max(net.layer_sizes[-1], 2)  # a single sigmoid unit names its two classes
        if len(options["classes"]) != needed:
            raise ValueError(f"--classes gives {len(options['classes'])} labels; this network needs {needed}")
    try:
        model = to_onnx(net, args.output, input_dtype=args.input_dtype, opset=args.opset, **options)
    except (ValueError, TypeError) as error:  # name the options the user typed, not to_onnx's arguments
        error.args = (re.sub(r"^(classes|opset|input_dtype)\b", lambda m: "--" + m[1].replace("_", "-"),
                             str(error)),)
        raise
    graph = model.graph
    outputs = ", ".join(f"{value.name} {_shape(value)}" for value in graph.output)
    print(f"wrote {args.output}: input {_shape(graph.input[0])} {_element(graph.input[0])}, outputs {outputs}; "
          f"opset {model.opset_import[0].version}")
    return 0


def _shape(value) -> str:
    dims = [dim.dim_param or str(dim.dim_value) for dim in value.type.tensor_type.shape.dim]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def _element(value) -> str:
    from onnx import helper

    return helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type).name
