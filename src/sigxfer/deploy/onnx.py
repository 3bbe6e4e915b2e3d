"""ONNX export of a fitted model that takes the raw signal: imaging, backbone and head in one graph.

The exported file needs nothing but onnxruntime and numpy to run: the signal goes in as float32
``(batch, n_channels, n_timepoints)``; out come class probabilities (softmax in the graph), targets
in the user's units (the training standardisation undone in the graph) or backbone embeddings.
What a runner needs to know travels in the file's metadata (``metadata_props``): as JSON text
``sr``, ``n_timepoints``, ``n_channels``, ``classes`` (null for a regressor), ``imaging`` (the
imager's config, fitted scale included); as plain text ``task``, ``input``, ``output``,
``estimator``, ``backbone`` and ``sigxfer_version``. See
``examples/onnx_predict.py`` for a runner without torch.

A model whose backbone is itself an ONNX file (``backbone="file:body.onnx"``) is exported by
composing three graphs: the imaging exported here, the user's body (names prefixed ``body/``,
converted to the export's opset) and the pooling + head exported here. The body must take float32
images with a dynamic batch axis. A TorchScript body is refused: torch's exporter cannot trace it.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import torch
from torch import nn

from sigxfer._atomic import atomic_write_bytes
from sigxfer._json import to_jsonable
from sigxfer.errors import OutputExistsError, ParameterError

#: Default ONNX opset: onnxruntime 1.17 and later run it; every imaging kind exports at it.
DEFAULT_OPSET = 17
#: Opsets the TorchScript exporter writes and every imaging kind needs (14: Trilu-free, 20: its top).
OPSETS = range(14, 21)
INPUT_NAME = "signals"
OUTPUT_NAMES = {"classification": "probabilities", "regression": "predictions", "embeddings": "embeddings"}
_BODY_PREFIX = "body/"


class _RawSignalGraph(nn.Module):
    """Signals ``(N, C, T)`` -> probabilities ``(N, n_classes)``, targets or embeddings ``(N, d)``."""

    def __init__(self, net: nn.Module, tail: nn.Module):
        super().__init__()
        self.net, self.tail = net, tail

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.net.embed(x))


class _Tail(nn.Module):
    """Pooled embedding ``(N, d)`` (or feature maps ``(N, d, h, w)``) -> the exported output."""

    def __init__(self, head: nn.Module | None, *, task: str, y_mean=None, y_scale=None, squeeze=False,
                 pool: bool = False):
        super().__init__()
        self.head, self.task, self.squeeze, self.pool = head, task, squeeze, pool
        if task == "regression":
            self.register_buffer("y_mean", torch.as_tensor(y_mean, dtype=torch.float32).reshape(1, -1))
            self.register_buffer("y_scale", torch.as_tensor(y_scale, dtype=torch.float32).reshape(1, -1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool:
            x = x.mean(dim=(2, 3))
        x = x.reshape(x.shape[0], -1)  # also gives a pass-through graph a node of its own
        if self.head is None:
            return x
        out = self.head(x)
        if self.task == "classification":
            return torch.softmax(out, dim=1)
        out = out * self.y_scale + self.y_mean
        return out[:, 0] if self.squeeze else out


def export_onnx(model, path, *, embeddings: bool = False, overwrite: bool = False, opset: int | None = None) -> Path:
    """Write a fitted estimator as an ONNX graph from the raw signal to its outputs.

    Parameters
    ----------
    model : TransferClassifier, TransferRegressor, str or Path
        Fitted estimator, or the path of a model file (read with :func:`sigxfer.load`).
    path : str or Path
        The ``.onnx`` file to write; written beside itself and renamed into place.
    embeddings : bool
        Output the backbone embeddings ``(batch, embedding_dim)`` instead of the model's outputs.
    overwrite : bool
        Replace an existing file (refused by default).
    opset : int, optional
        ONNX opset, 14 to 20; default 17 (or the body's own, when the backbone is an ONNX file).

    Returns
    -------
    Path
        ``path``. Its graph has one input ``signals``, float32 ``(batch, n_channels, n_timepoints)``
        with a dynamic batch, and one output: ``probabilities`` ``(batch, n_classes)`` in the order of
        ``classes``, ``predictions`` ``(batch,)`` or ``(batch, n_targets)`` as ``model.predict``
        gives, or ``embeddings``.

    Raises
    ------
    NotFittedError
        The model is not fitted.
    OutputExistsError
        ``path`` exists and ``overwrite`` is False.
    ParameterError
        A bad ``opset``, a folder as ``path``, or a backbone that cannot be put in one graph.

    Examples
    --------
    >>> export_onnx(model, "model.onnx")                      # doctest: +SKIP
    PosixPath('model.onnx')
    >>> import onnxruntime                                    # doctest: +SKIP
    >>> s = onnxruntime.InferenceSession("model.onnx")        # doctest: +SKIP
    >>> s.run(None, {"signals": X.astype("float32")})[0]      # doctest: +SKIP
    """
    from sigxfer.deploy.predict import _fitted

    path = Path(path)
    model = _fitted(model)
    if path.is_dir():
        raise ParameterError(f"{path} is a folder; give a file name such as {path / 'model.onnx'}")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass overwrite=True (--overwrite) or choose another name")
    if opset is not None and (isinstance(opset, bool) or opset not in OPSETS):
        raise ParameterError(f"opset={opset!r} must be an integer from {OPSETS[0]} to {OPSETS[-1]}")
    task = "embeddings" if embeddings else model._task
    tail = _tail(model, task)
    from sigxfer.backbones.external import OnnxBackbone, TorchScriptBackbone

    if isinstance(model.net_.backbone, TorchScriptBackbone):
        # torch's ONNX tracer cannot follow a module loaded by torch.jit.load inside another module.
        raise ParameterError(
            f"backbone {model.backbone_!r} is a TorchScript file, which torch's ONNX exporter cannot trace "
            "inside sigxfer's graph; export that body to ONNX yourself and train with backbone='file:body.onnx'"
        )
    if isinstance(model.net_.backbone, OnnxBackbone):
        proto = _compose_with_body(model, tail, opset)
    else:
        graph = _RawSignalGraph(model.net_, tail)
        proto = _export(graph, _example(model), OUTPUT_NAMES[task], opset or DEFAULT_OPSET)
    _describe(proto, model, task)
    import onnx

    onnx.checker.check_model(proto)
    atomic_write_bytes(path, proto.SerializeToString(), overwrite=overwrite)
    return path


def _tail(model, task: str) -> _Tail:
    net = model.net_
    if task == "embeddings":
        return _Tail(None, task=task)
    if task == "regression":
        return _Tail(net.head, task=task, y_mean=model.y_mean_, y_scale=model.y_scale_, squeeze=model.y_ndim_ == 1)
    return _Tail(net.head, task=task)


def _example(model) -> torch.Tensor:
    device = next(model.net_.parameters()).device
    return torch.zeros(2, model.n_channels_, model.n_timepoints_, device=device)


def _export(module: nn.Module, example: torch.Tensor, output: str, opset: int, *, input_name=INPUT_NAME,
            dynamic_axes=None):
    """``module`` traced on ``example`` -> an ONNX ModelProto with a dynamic batch axis."""
    import onnx

    module.eval()
    buffer = io.BytesIO()
    axes = dynamic_axes or {input_name: {0: "batch"}, output: {0: "batch"}}
    with warnings.catch_warnings(), torch.no_grad():
        # The tracer warns that shapes become constants: they are (one fixed input length per model).
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), buffer, dynamo=False, opset_version=opset,
                          input_names=[input_name], output_names=[output], dynamic_axes=axes)
    return onnx.load_from_string(buffer.getvalue())


def _describe(proto, model, task: str) -> None:
    import onnx

    from sigxfer._version import __version__

    classes = to_jsonable(model.classes_) if hasattr(model, "classes_") and task == "classification" else None
    props = {
        "sigxfer_version": __version__,
        "task": task,
        "estimator": type(model).__name__,
        "input": INPUT_NAME,
        "output": OUTPUT_NAMES[task],
        "sr": model.sr_,
        "n_timepoints": model.n_timepoints_,
        "n_channels": model.n_channels_,
        "classes": classes,
        "imaging": model.net_.imager.get_config(),
        "backbone": model.backbone_,
    }
    # Names stay plain text; numbers, null, lists and mappings are JSON text.
    onnx.helper.set_model_props(proto, {k: v if isinstance(v, str) else json.dumps(to_jsonable(v))
                                        for k, v in props.items()})
    proto.producer_name, proto.producer_version = "sigxfer", __version__


# ------------------------------------------------------------------ an ONNX body in the middle
def _compose_with_body(model, tail: _Tail, opset: int | None):
    """imaging graph -> the user's ONNX body -> pooling and head graph, merged into one model."""
    import onnx
    from onnx import compose, version_converter

    backbone = model.net_.backbone
    file = Path(backbone.file_spec.path)
    body = onnx.load(str(file))
    why = f"backbone file {file}"
    # Old exporters list the weights among the inputs too; the images are the one input left.
    initialisers = {i.name for i in body.graph.initializer}
    inputs = [i for i in body.graph.input if i.name not in initialisers]
    if len(inputs) != 1:
        raise ParameterError(f"{why} has {len(inputs)} inputs; sigxfer composes a body with one image input only")
    body_in = inputs[0]
    body_out = body.graph.output[0]
    if body_in.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
        raise ParameterError(f"{why} takes {onnx.helper.tensor_dtype_to_np_dtype(body_in.type.tensor_type.elem_type)} "
                             "images; re-export it with float32 input to put it in one graph with sigxfer's imaging")
    batch = body_in.type.tensor_type.shape.dim[0] if body_in.type.tensor_type.shape.dim else None
    if batch is None or batch.HasField("dim_value"):
        raise ParameterError(f"{why} has a fixed batch size; re-export it with a dynamic batch axis "
                             "(dynamic_axes={'images': {0: 'batch'}}) so the composed graph takes any batch")
    out_dims = body_out.type.tensor_type.shape.dim
    if len(out_dims) not in (2, 4):
        raise ParameterError(f"{why} returns a tensor of rank {len(out_dims)}; a body must return (N, d) or (N, C, h, w)")
    body_opset = next((o.version for o in body.opset_import if o.domain in ("", "ai.onnx")), None)
    target = opset or max(DEFAULT_OPSET, body_opset or DEFAULT_OPSET)
    if target not in OPSETS:
        raise ParameterError(f"{why} uses opset {body_opset}; sigxfer exports opsets {OPSETS[0]}-{OPSETS[-1]}: "
                             "re-export the body at one of them")
    if body_opset != target:
        try:
            body = version_converter.convert_version(body, target)
        except Exception as err:  # onnx raises its own C++ exception types
            raise ParameterError(f"{why}: cannot convert its opset {body_opset} to {target} ({err}); "
                                 f"re-export it at opset {target}") from None
    body = compose.add_prefix(body, _BODY_PREFIX)
    example = _example(model)
    front = _export(model.net_.imager, example, "images", target)
    tail.pool = len(out_dims) == 4
    with torch.no_grad():
        features = torch.as_tensor(backbone._run(model.net_.imager(example).cpu().numpy()))
    axes = {"features": {0: "batch", **({2: "h", 3: "w"} if tail.pool else {})}, "out": {0: "batch"}}
    back = compose.add_prefix(_export(tail, features, "out", target, input_name="features", dynamic_axes=axes),
                              "head/")
    front = compose.add_prefix(front, "imaging/")
    ir = max(m.ir_version for m in (front, body, back))
    for m in (front, body, back):
        m.ir_version = ir
    try:
        merged = compose.merge_models(front, body, io_map=[("imaging/images", _BODY_PREFIX + body_in.name)],
                                      outputs=[_BODY_PREFIX + body_out.name])
        merged = compose.merge_models(merged, back, io_map=[(_BODY_PREFIX + body_out.name, "head/features")])
    except ValueError as err:
        raise ParameterError(f"{why} cannot be composed with sigxfer's graphs ({err})") from None
    _rename(merged.graph, "imaging/" + INPUT_NAME, INPUT_NAME)
    _rename(merged.graph, "head/out", OUTPUT_NAMES[tail.task])
    return merged


def _rename(graph, old: str, new: str) -> None:
    """Rename one value of a graph everywhere it is read or written."""
    for value in list(graph.input) + list(graph.output) + list(graph.value_info):
        if value.name == old:
            value.name = new
    for node in graph.node:
        node.input[:] = [new if n == old else n for n in node.input]
        node.output[:] = [new if n == old else n for n in node.output]
