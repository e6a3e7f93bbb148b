"""Read MATLAB .mat files (v5, as published by Pereira et al. and Wehbe et al.) with errors that name the file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io

from tuneshift.errors import InvalidInputError


def load_mat(path: str | os.PathLike, variables: tuple[str, ...]) -> dict[str, Any]:
    """Load `path` and check that it holds every name in `variables`."""
    path = Path(path)
    try:
        contents = scipy.io.loadmat(path)
    except NotImplementedError as err:  # scipy's message for MATLAB v7.3 (HDF5) files
        raise InvalidInputError(
            f"{path}: MATLAB v7.3 (HDF5) file; the published release is MATLAB v5. Re-save it in MATLAB with "
            "save(..., '-v7') or use the original download."
        ) from err
    except (ValueError, OSError, TypeError) as err:
        raise InvalidInputError(f"{path}: not a readable MATLAB .mat file ({err}).") from err
    missing = [name for name in variables if name not in contents]
    if missing:
        found = sorted(k for k in contents if not k.startswith("__"))
        raise InvalidInputError(
            f"{path}: variable(s) {', '.join(missing)} missing (found: {', '.join(found) or 'none'})."
        )
    return contents


def struct_field(struct: np.ndarray, name: str, path: Path, struct_name: str) -> np.ndarray:
    """Field `name` of a 1×1 MATLAB struct loaded by scipy (``meta['colToROInum'][0, 0]``)."""
    if struct.dtype.names is None or name not in struct.dtype.names:
        found = ", ".join(struct.dtype.names or ())
        raise InvalidInputError(f"{path}: {struct_name}.{name} missing (fields: {found or 'none'}).")
    return struct[name].ravel()[0]


def cellstr(cell: np.ndarray) -> list[str]:
    """A MATLAB cell array of strings (any shape) as a flat Python list, in MATLAB's column-major order."""
    return [_scalar_str(item) for item in np.asarray(cell).ravel(order="F")]


def _scalar_str(item: Any) -> str:
    while isinstance(item, np.ndarray):
        if item.size == 0:
            return ""
        item = item.ravel()[0] if item.dtype.kind != "U" or item.size == 1 else "".join(item.ravel())
    return str(item)


def column(array: np.ndarray, path: Path, name: str, length: int | None = None) -> np.ndarray:
    """A MATLAB vector (n×1 or 1×n) as a flat array, checking its length."""
    values = np.asarray(array)
    if values.ndim > 2 or (values.ndim == 2 and min(values.shape) > 1):
        raise InvalidInputError(f"{path}: {name} has shape {values.shape}, expected a vector.")
    values = values.ravel()
    if length is not None and len(values) != length:
        raise InvalidInputError(f"{path}: {name} has {len(values)} entries, expected {length}.")
    return values
