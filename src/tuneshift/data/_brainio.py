"""Read Brain-Score / BrainIO netCDF assemblies without BrainIO.

BrainIO writes an assembly with ``reset_index`` before ``to_netcdf``: the file holds one DataArray with dims
``presentation`` and ``neuroid`` (sometimes a trailing singleton ``time_bin``), and each level of the former
MultiIndexes (``stimulus_id``, ``passage_label``, ``subject``...) as a plain coordinate along its dimension.
Published files: ``assy_<Identifier>.nc`` (dots replaced by underscores) in Brain-Score's S3 bucket.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from tuneshift.data._fetch import RemoteFile
from tuneshift.errors import InvalidInputError

BRAINSCORE_BUCKET = "https://brainscore-language.s3.amazonaws.com"  # brainscore_language.utils.s3.load_from_s3
STORAGE_MIRROR = "https://brainscore-storage.s3.amazonaws.com/brainscore-language"


def assembly_file(identifier: str, sha1: str, folder: str, version_id: str | None = None) -> RemoteFile:
    """The published netCDF of a Brain-Score assembly (``Pereira2018.language`` → assy_Pereira2018_language.nc).

    Brain-Score pins an S3 object version for some assemblies; that exact version is tried first.
    """
    filename = f"assy_{identifier.replace('.', '_')}.nc"
    pinned = f"{BRAINSCORE_BUCKET}/{filename}" + (f"?versionId={version_id}" if version_id else "")
    return RemoteFile(relpath=f"{folder}/{filename}", urls=(pinned, f"{STORAGE_MIRROR}/{filename}"), sha1=sha1)


@dataclass
class Assembly:
    """An assembly as plain arrays: values (presentation × neuroid) and one table of coordinates per dim."""

    values: np.ndarray
    presentation: pd.DataFrame
    neuroid: pd.DataFrame
    path: Path

    def require(self, dim: str, names: Iterable[str]) -> None:
        """Raise InvalidInputError naming the file and the coordinates it lacks along `dim`."""
        table = self.presentation if dim == "presentation" else self.neuroid
        missing = [n for n in names if n not in table.columns]
        if missing:
            raise InvalidInputError(
                f"{self.path}: coordinate(s) {', '.join(missing)} missing along {dim!r} "
                f"(found: {', '.join(table.columns) or 'none'}). Is this the right Brain-Score assembly?"
            )

    def subset(self, presentation_mask: np.ndarray) -> Assembly:
        mask = np.asarray(presentation_mask, dtype=bool)
        return Assembly(self.values[mask], self.presentation[mask].reset_index(drop=True), self.neuroid, self.path)


def read_assembly(path: str | os.PathLike) -> Assembly:
    """Load a BrainIO netCDF assembly; InvalidInputError names the file and what is wrong with it."""
    path = Path(path)
    try:
        dataset = xr.load_dataset(path)
    except (OSError, ValueError) as err:
        raise InvalidInputError(f"{path}: not a readable netCDF file ({err}).") from err
    if len(dataset.data_vars) != 1:
        raise InvalidInputError(
            f"{path}: expected one data variable (a BrainIO assembly), found {list(dataset.data_vars)}."
        )
    array = next(iter(dataset.data_vars.values()))
    extra = [d for d in array.dims if d not in ("presentation", "neuroid")]
    if {"presentation", "neuroid"} - set(array.dims) or any(array.sizes[d] != 1 for d in extra):
        raise InvalidInputError(
            f"{path}: dims {dict(array.sizes)}; expected 'presentation' and 'neuroid' "
            "(plus optional singleton dims such as time_bin)."
        )
    array = array.squeeze(extra, drop=True).transpose("presentation", "neuroid")
    return Assembly(
        values=np.asarray(array.values, dtype=np.float64),
        presentation=_coords_along(array, "presentation"),
        neuroid=_coords_along(array, "neuroid"),
        path=path,
    )


def _coords_along(array: xr.DataArray, dim: str) -> pd.DataFrame:
    columns = {name: _decode(coord.values) for name, coord in array.coords.items() if coord.dims == (dim,)}
    columns.pop(dim, None)  # a plain positional index coordinate carries no information
    return pd.DataFrame(columns, index=pd.RangeIndex(array.sizes[dim]))


def _decode(values: np.ndarray) -> np.ndarray:
    """netCDF3/char arrays come back as bytes; decode them to str."""
    if values.dtype.kind == "S" or (values.dtype == object and len(values) and isinstance(values[0], bytes)):
        return np.array([v.decode("utf-8") for v in values], dtype=object)
    return values
