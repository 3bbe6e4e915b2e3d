"""What a backbone read from a user's file is: the file, its sha256 and how to read it.

A :class:`FileBackboneSpec` travels in two places: on the registry entry of the backbone
(``BackboneConfig.origin``) and, as the plain JSON of :meth:`FileBackboneSpec.to_record`, in every
model file trained on it, so that loading can find the file again and refuse it if its bytes
changed (:func:`verify_file`).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from functools import partial
from pathlib import Path

from sigxfer.errors import ModelFileError

#: How a backbone file can be read.
KINDS = ("torchscript", "state_dict", "onnx")


@dataclasses.dataclass(frozen=True)
class FileBackboneSpec:
    """A registered backbone file: where it is, its sha256, how to read it and what it expects.

    Parameters
    ----------
    name : str
        Registry name of the backbone.
    path : str
        Absolute path of the file.
    kind : {"torchscript", "state_dict", "onnx"}
        How the file is read.
    sha256 : str
        Hex digest of the file's bytes when it was registered.
    input_size : int
        Image side in pixels the network expects.
    mean, std : tuple of 3 floats
        Per-channel normalisation of [0, 1] images.
    embedding_dim : int
        Length of the embedding the network returns.
    architecture : str, optional
        Registered backbone a ``state_dict`` file fits; None for the other kinds.

    Examples
    --------
    >>> spec = FileBackboneSpec(name="mine", path="/models/mine.onnx", kind="onnx", sha256="ab12",
    ...                         input_size=224, mean=(0.5,) * 3, std=(0.5,) * 3, embedding_dim=512)
    >>> FileBackboneSpec.from_record(spec.to_record()) == spec
    True
    """

    name: str
    path: str
    kind: str
    sha256: str
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    embedding_dim: int
    architecture: str | None = None

    def to_record(self) -> dict:
        """Plain JSON values, as a model file stores them.

        Examples
        --------
        >>> spec = FileBackboneSpec("mine", "/m.pt", "torchscript", "ab12", 32, (0.5,) * 3, (0.5,) * 3, 16)
        >>> spec.to_record()["mean"]
        [0.5, 0.5, 0.5]
        """
        return {**dataclasses.asdict(self), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_record(cls, record: Mapping) -> FileBackboneSpec:
        """The spec a :meth:`to_record` dict describes; unknown keys are ignored.

        Raises
        ------
        TypeError
            A required key is missing.

        Examples
        --------
        >>> record = {"name": "mine", "path": "/m.pt", "kind": "torchscript", "sha256": "ab12",
        ...           "input_size": 32, "mean": [0.5] * 3, "std": [0.5] * 3, "embedding_dim": 16}
        >>> FileBackboneSpec.from_record(record).mean
        (0.5, 0.5, 0.5)
        """
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: record[k] for k in fields if k in record}
        values["mean"] = tuple(values.get("mean", ()))
        values["std"] = tuple(values.get("std", ()))
        return cls(**values)


def sha256_of(path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> file = pathlib.Path(tempfile.mkdtemp()) / "empty.bin"
    >>> _ = file.write_bytes(b"")
    >>> sha256_of(file)[:16]
    'e3b0c44298fc1c14'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(partial(handle.read, 1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_file(spec: FileBackboneSpec) -> Path:
    """The spec's file, after checking that it is there and its bytes are the registered ones.

    Raises
    ------
    ModelFileError
        The file is missing or its sha256 differs from ``spec.sha256``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> file = pathlib.Path(tempfile.mkdtemp()) / "body.pt"
    >>> _ = file.write_bytes(b"weights")
    >>> spec = FileBackboneSpec("mine", str(file), "torchscript", sha256_of(file), 32, (0.5,) * 3, (0.5,) * 3, 16)
    >>> verify_file(spec) == file
    True
    """
    file = Path(spec.path)
    if not file.is_file():
        raise ModelFileError(f"{file}: backbone {spec.name!r} reads this {spec.kind} file, which is missing; put it back")
    if sha256_of(file) != spec.sha256:
        raise ModelFileError(
            f"{file} changed since backbone {spec.name!r} was registered (sha256 differs); "
            "register it again to use the new file"
        )
    return file
