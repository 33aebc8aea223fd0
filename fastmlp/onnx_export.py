"""Export a trained MLP as an ONNX graph of standard operators, for ONNX Runtime and skl2onnx pipelines.

The graph computes what :meth:`fastmlp.MLP.predict` and :meth:`~fastmlp.MLP.predict_proba` compute: MatMul
and Add per layer, the hidden activation, the output activation, then the labels. Needs ``pip install
fastmlp[onnx]``.
"""

from __future__ import annotations

import os

import numpy as np

#: The ONNX operator set the graph is written for (ONNX Runtime 1.13 and later run it).
OPSET = 17
#: The oldest operator set whose Softmax, ArgMax, Reshape and Gather mean what the graph needs.
MIN_OPSET = 13
#: Hidden activation -> ONNX operator (None: no node).
HIDDEN_OPS = {"logistic": "Sigmoid", "tanh": "Tanh", "relu": "Relu", "identity": None}
#: Output activation -> ONNX operator (None: no node).
OUTPUT_OPS = {"sigmoid": "Sigmoid", "softmax": "Softmax", "identity": None}
INPUT_DTYPES = ("uint8", "float32", "float64")


def task(net, multilabel: bool = False) -> str:
    """What the ``label`` output gives: "regression" (identity output), "binary" (one output unit,
    p > 0.5), "multilabel" (asked for, with several sigmoid units: p > 0.5 per unit, as the scikit-learn
    classifier predicts multilabel data) or "multiclass" (argmax, as ``MLP.predict``)."""
    if net.output == "identity":
        return "regression"
    if net.layer_sizes[-1] == 1:
        return "binary"
    if multilabel and net.output == "sigmoid":
        return "multilabel"
    return "multiclass"


def _import_onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError("ONNX export needs the onnx package: pip install onnx (or fastmlp[onnx])") from None
    return onnx


# ------------------------------------------------------------------------------------------- checks
def _check_net(net) -> None:
    if not all(hasattr(net, name) for name in ("thetas", "layer_sizes", "loss", "output", "dtype")):
        raise TypeError(f"expected a fastmlp.MLP, got {type(net).__name__}")
    activation = getattr(net, "activation", "logistic")
    if activation not in HIDDEN_OPS:
        raise ValueError(f"cannot export hidden activation {activation!r}; known: {sorted(HIDDEN_OPS)}")
    if net.output not in OUTPUT_OPS:
        raise ValueError(f"cannot export output {net.output!r}; known: {sorted(OUTPUT_OPS)}")


def _check_classes(net, classes, multilabel: bool = False):
    """``classes`` as an array of int64, float64 or str labels (None: the labels are 0..n-1)."""
    kind = task(net, multilabel)
    if classes is None:
        return None
    if kind == "regression":
        raise ValueError("classes are for classifiers; this network's output is identity (regression)")
    classes = np.asarray(classes)
    n_classes = 2 if kind == "binary" else net.layer_sizes[-1]
    if classes.ndim != 1 or classes.size != n_classes:
        raise ValueError(f"classes must be a list of {n_classes} labels for this network, got shape {classes.shape}")
    if classes.dtype.kind in "biu":
        classes = classes.astype(np.int64)
    elif classes.dtype.kind == "f":
        classes = classes.astype(np.float64)
    elif classes.dtype.kind in "UO" and all(isinstance(c, str) for c in classes.tolist()):
        classes = np.array(classes.tolist(), dtype=object)
    else:
        raise TypeError(f"classes must be integers, floats or strings, got dtype {classes.dtype}")
    if len(set(classes.tolist())) != classes.size:
        raise ValueError(f"classes must be distinct, got {classes.tolist()}")
    return classes


def _input_dtype(net, input_dtype) -> np.dtype:
    """The graph input's element type: ``input_dtype`` when given; else uint8 for a model trained on uint8
    images (``net.input_dtype_``), else the model's own dtype."""
    if input_dtype is None:
        input_dtype = "uint8" if getattr(net, "input_dtype_", None) == "uint8" else net.dtype.name
    try:
        name = np.dtype(input_dtype).name
    except TypeError:
        name = None
    if name not in INPUT_DTYPES:
        raise ValueError(f"input_dtype must be one of {list(INPUT_DTYPES)}, got {input_dtype!r}")
    return np.dtype(name)


# ------------------------------------------------------------------------------------------- the graph
def _emit(net, graph, input_name: str, input_dtype: np.dtype, outputs: dict, classes,
          multilabel: bool = False, column: bool = False, pixels: bool = True) -> None:
    """Append the network's nodes to ``graph``, from ``input_name`` to the names ``outputs`` maps
    "label", "probabilities" or "predictions" to. A regression's predictions are (N,) for one output, as
    ``predict`` gives them, unless ``column`` asks for (N, 1), as skl2onnx's regressors give them. uint8
    input is read as x / 255 unless ``pixels`` is False (as numbers, as the scikit-learn estimators read it).

    ``graph`` offers ``node(op_type, inputs, output=None, **attributes) -> output name`` and
    ``constant(array) -> name``; the standalone exporter and the skl2onnx converter each supply one.
    """
    dtype = net.dtype
    a = input_name
    if input_dtype != dtype:
        a = graph.node("Cast", [a], to=_onnx_type(dtype))
    if input_dtype == np.uint8 and pixels:
        # The kernels read a pixel as float(x) * float(1/255) in the model's dtype; so does this.
        a = graph.node("Mul", [a, graph.constant(np.array(1.0 / 255.0, dtype))])
    thetas = net.thetas()
    hidden = HIDDEN_OPS[getattr(net, "activation", "logistic")]
    for l, theta in enumerate(thetas):
        weights = np.ascontiguousarray(theta[:, :-1].T)  # (n_in, n_out)
        a = graph.node("MatMul", [a, graph.constant(weights)])
        a = graph.node("Add", [a, graph.constant(theta[:, -1].copy())])  # (n_out,) broadcast over samples
        if l < len(thetas) - 1 and hidden is not None:
            a = graph.node(hidden, [a])
    kind = task(net, multilabel)
    if kind == "regression":
        shape = [-1] if net.layer_sizes[-1] == 1 and not column else [-1, net.layer_sizes[-1]]
        graph.node("Reshape", [a, graph.constant(np.array(shape, np.int64))], outputs["predictions"])
        return
    p = graph.node(OUTPUT_OPS[net.output], [a], **({"axis": 1} if net.output == "softmax" else {}))
    if kind in ("binary", "multilabel"):
        above = graph.node("Greater", [p, graph.constant(np.array(0.5, dtype))])  # as predict: p > 0.5
    if kind == "binary":
        complement = graph.node("Sub", [graph.constant(np.array(1.0, dtype)), p])
        graph.node("Concat", [complement, p], outputs["probabilities"], axis=1)  # (1 - p, p), as predict_proba
        above = graph.node("Cast", [above], to=_onnx_type(np.int64))
        index = graph.node("Reshape", [above, graph.constant(np.array([-1], np.int64))])  # (N, 1) -> (N,)
    elif kind == "multilabel":
        graph.node("Identity", [p], outputs["probabilities"])
        graph.node("Cast", [above], outputs["label"], to=_onnx_type(np.int64))
        return
    else:
        graph.node("Identity", [p], outputs["probabilities"])
        index = graph.node("ArgMax", [p], axis=1, keepdims=0)  # the first of equal maxima, as numpy's argmax
    if classes is None:
        graph.node("Identity", [index], outputs["label"])
    else:
        graph.node("Gather", [graph.constant(classes), index], outputs["label"], axis=0)


def _onnx_type(dtype) -> int:
    from onnx import helper

    dtype = np.dtype(dtype)
    return helper.np_dtype_to_tensor_dtype(np.dtype(object) if dtype.kind in "UO" else dtype)


def _output_specs(net, classes, multilabel: bool = False, column: bool = False) -> list[tuple[str, np.dtype, list]]:
    """(name, element dtype, shape) of each graph output; "N" is the batch dimension; ``column`` as in _emit."""
    kind, n_out = task(net, multilabel), net.layer_sizes[-1]
    if kind == "regression":
        return [("predictions", net.dtype, ["N"] if n_out == 1 and not column else ["N", n_out])]
    n_classes = 2 if kind == "binary" else n_out
    if kind == "multilabel":
        label = ("label", np.dtype(np.int64), ["N", n_out])
    else:
        label = ("label", np.dtype(np.int64) if classes is None else classes.dtype, ["N"])
    return [label, ("probabilities", net.dtype, ["N", n_classes])]


class _ProtoGraph:
    """Collects nodes and initializers for onnx.helper.make_graph, naming intermediate values uniquely."""

    def __init__(self):
        self.nodes, self.initializers, self.count = [], [], 0

    def _name(self, hint: str) -> str:
        self.count += 1
        return f"{hint.lower()}_{self.count}"

    def node(self, op_type, inputs, output=None, **attributes) -> str:
        from onnx import helper

        output = output or self._name(op_type)
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=self._name(op_type), **attributes))
        return output

    def constant(self, array) -> str:
        from onnx import numpy_helper

        name = self._name("const")
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name


# ------------------------------------------------------------------------------------------- export
def to_onnx(net, path: str | os.PathLike | None = None, *, classes=None, input_dtype=None, opset: int = OPSET,
            multilabel: bool = False, pixels: bool = True):
    """The network as an ``onnx.ModelProto``, also written to ``path`` when given.

    Parameters
    ----------
    net : fastmlp.MLP
    path : path or None
        Where to write the ``.onnx`` file.
    classes : sequence of int, float or str, optional
        Labels the ``label`` output gives instead of 0..n-1: one per output unit, or two (negative,
        positive) for a single output unit; by default the network's ``class_names`` when it has them.
        Multilabel networks output a 0/1 matrix whatever the classes.
    input_dtype : {"uint8", "float32", "float64"}, optional
        Element type of the ``input`` tensor. By default uint8 when the model was trained on uint8 images
        (then read as x / 255, as fastmlp reads them), else the model's dtype.
    opset : int
        ONNX operator set, at least 13.
    multilabel : bool
        Several sigmoid units label each sample with every unit whose p > 0.5 (a 0/1 matrix), as the
        scikit-learn classifier does for multilabel data; by default the argmax, as ``MLP.predict``.
    pixels : bool
        uint8 input is pixels read as x / 255, as ``MLP.predict`` reads it; False reads it as the numbers it
        holds, as the scikit-learn estimators do (their ``to_onnx`` sets it).

    Returns
    -------
    onnx.ModelProto
        Input ``input`` (N, n_features). Classifiers output ``label`` (N,) and ``probabilities``
        (N, n_classes) as ``predict`` and ``predict_proba`` (a single sigmoid unit gives columns 1 - p, p;
        a multilabel network gives labels (N, n_out) of 0/1); an identity output gives ``predictions``
        as ``predict`` does. N, the batch size, is free.

    Examples
    --------
    >>> import numpy as np, onnxruntime
    >>> from fastmlp import MLP
    >>> net = MLP([4, 3, 2], random_state=0)
    >>> session = onnxruntime.InferenceSession(to_onnx(net).SerializeToString(), providers=["CPUExecutionProvider"])
    >>> label, proba = session.run(None, {"input": np.ones((5, 4), np.float32)})
    >>> bool((label == net.predict(np.ones((5, 4)))).all()), proba.shape
    (True, (5, 2))
    """
    onnx = _import_onnx()
    from onnx import helper

    _check_net(net)
    for name, flag in (("multilabel", multilabel), ("pixels", pixels)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False, got {flag!r}")
    classes = _check_classes(net, net.class_names if classes is None else classes, multilabel)
    source = _input_dtype(net, input_dtype)
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
        raise ValueError(f"opset must be an integer from {MIN_OPSET} to {newest}, got {opset!r}")
    graph = _ProtoGraph()
    specs = _output_specs(net, classes, multilabel)
    _emit(net, graph, "input", source, {name: name for name, _, _ in specs}, classes, multilabel, pixels=pixels)
    sizes = "-".join(map(str, net.layer_sizes))
    proto_graph = helper.make_graph(
        graph.nodes, f"fastmlp_{sizes.replace('-', '_')}",
        [helper.make_tensor_value_info("input", _onnx_type(source), ["N", net.layer_sizes[0]])],
        [helper.make_tensor_value_info(name, _onnx_type(kind), shape) for name, kind, shape in specs],
        graph.initializers,
    )
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(proto_graph, opset_imports=opsets, producer_name="fastmlp",
                              producer_version=_version(), ir_version=helper.find_min_ir_version_for(opsets))
    model.doc_string = (f"fastmlp MLP {sizes}, hidden {getattr(net, 'activation', 'logistic')}, output "
                        f"{net.output}, loss {net.loss}, {net.dtype.name}")
    onnx.checker.check_model(model, full_check=True)
    if path is not None:
        onnx.save_model(model, os.fspath(path))
    return model


def _version() -> str:
    from ._version import __version__

    return __version__


# ------------------------------------------------------------------------------------------- skl2onnx
class _ContainerGraph:
    """The ``graph`` of :func:`_emit` for a converter: nodes and initializers go into skl2onnx's container."""

    def __init__(self, scope, container):
        self.scope, self.container = scope, container

    def node(self, op_type, inputs, output=None, **attributes) -> str:
        output = output or self.scope.get_unique_variable_name(op_type.lower())
        self.container.add_node(op_type, inputs, output, name=self.scope.get_unique_operator_name(op_type),
                                **attributes)
        return output

    def constant(self, array) -> str:
        array = np.asarray(array)
        name = self.scope.get_unique_variable_name("const")
        if array.dtype == object:
            content = [label.encode("utf-8") for label in array.tolist()]
        else:
            content = array.ravel().tolist()
        self.container.add_initializer(name, _onnx_type(array.dtype), list(array.shape), content)
        return name


def _fitted_net(estimator):
    net = getattr(estimator, "model_", None)
    if net is None:
        raise ValueError(f"{type(estimator).__name__} is not fitted: it has no model_ to convert")
    _check_net(net)
    return net


def _skl2onnx_type(dtype, shape):
    from skl2onnx.common import data_types

    kinds = {"int64": data_types.Int64TensorType, "float32": data_types.FloatTensorType,
             "float64": data_types.DoubleTensorType, "object": data_types.StringTensorType}
    return kinds[np.dtype(dtype).name](shape=shape)


def _shape_calculator(operator) -> None:
    """skl2onnx's shape calculator: the types and shapes of the estimator's outputs."""
    estimator = operator.raw_operator
    net = _fitted_net(estimator)
    multilabel = _is_multilabel(estimator)
    classes = _estimator_classes(estimator, net, multilabel)
    n = operator.inputs[0].get_first_dimension()
    specs = _output_specs(net, classes, multilabel, column=True)
    if len(operator.outputs) != len(specs):
        raise RuntimeError(f"{type(estimator).__name__}: skl2onnx declared {len(operator.outputs)} outputs, "
                           f"the network has {len(specs)} ({[name for name, _, _ in specs]}); a classifier "
                           "must be a ClassifierMixin and a regressor must not be")
    for variable, (_, kind, shape) in zip(operator.outputs, specs):
        variable.type = _skl2onnx_type(kind, [n if size == "N" else size for size in shape])


def _converter(scope, operator, container) -> None:
    """skl2onnx's converter: the same nodes as :func:`to_onnx`, from the operator's input to its outputs."""
    from onnx import helper
    from skl2onnx.common.data_types import guess_proto_type

    estimator = operator.raw_operator
    net = _fitted_net(estimator)
    multilabel = _is_multilabel(estimator)
    classes = _estimator_classes(estimator, net, multilabel)
    source = np.dtype(helper.tensor_dtype_to_np_dtype(guess_proto_type(operator.inputs[0].type)))
    names = [name for name, _, _ in _output_specs(net, classes, multilabel, column=True)]
    outputs = {name: variable.full_name for name, variable in zip(names, operator.outputs)}
    _emit(net, _ContainerGraph(scope, container), operator.inputs[0].full_name, source, outputs, classes, multilabel,
          column=True, pixels=getattr(estimator, "_uint8_pixels", True))


def _is_multilabel(estimator) -> bool:
    """A scikit-learn classifier fitted on a label-indicator matrix (``multilabel_``)."""
    return bool(getattr(estimator, "multilabel_", False))


def _estimator_classes(estimator, net, multilabel: bool):
    if task(net, multilabel) in ("regression", "multilabel"):
        return None
    return _check_classes(net, getattr(estimator, "classes_", None), multilabel)


def register_skl2onnx(*estimators, alias: str | None = None) -> None:
    """Let ``skl2onnx.to_onnx`` convert these scikit-learn estimator classes (alone or in a Pipeline).

    Each class's fitted instances hold a fastmlp.MLP in ``model_``; classifiers (ClassifierMixin) also
    hold their labels in ``classes_``, which the ``label`` output gives. uint8 input is read as pixels (x / 255),
    as ``MLP.predict`` reads it, unless the class sets ``_uint8_pixels = False`` (fastmlp.sklearn's estimators,
    which read it as numbers, as scikit-learn does). ``alias`` names the converter
    when one class is given (default: ``Fastmlp`` + the class name).
    """
    try:
        from skl2onnx import update_registered_converter
    except ImportError:
        raise ImportError("the skl2onnx converter needs skl2onnx: pip install skl2onnx (or fastmlp[onnx])") from None
    if not estimators:
        raise TypeError("register_skl2onnx needs at least one estimator class")
    for estimator in estimators:
        if not isinstance(estimator, type):
            raise TypeError(f"register_skl2onnx takes estimator classes, got {type(estimator).__name__}")
        name = alias if alias is not None and len(estimators) == 1 else f"Fastmlp{estimator.__name__}"
        update_registered_converter(estimator, name, _shape_calculator, _converter, overwrite=True)
