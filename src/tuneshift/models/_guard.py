"""What every model passes before transformers, gguf or safetensors see it, and the one place holding the loading
options: no repository code ever runs, and a damaged, hostile or unsupported model fails in one line naming the file
and the fix.

Header checks read with :mod:`struct` from a memory map; every count and length is bounded by the bytes left in the
file (and by absolute limits far above any real model) before anything is allocated or looped over, so a header that
claims 2^40 tensors or a 2^60-byte string costs neither memory nor time.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tuneshift.errors import (
    ModelFileError,
    ModelMemoryError,
    RemoteCodeError,
    TuneshiftError,
    UnsupportedModelError,
)

GGUF_MAGIC = b"GGUF"
GGUF_VERSIONS = (2, 3)
MAX_GGUF_TENSORS = 1 << 20  # the largest GGUF models hold a few thousand tensors
MAX_GGUF_KEYS = 1 << 16
MAX_GGUF_ARRAY = 1 << 23  # Gemma-3's vocabulary: 262,144 strings
MAX_GGUF_STRING = 1 << 24  # one chat template or one token, in bytes
MAX_GGUF_DIMS = 4  # GGML_MAX_DIMS
MAX_SAFETENSORS_HEADER = 1 << 25  # 32 MiB of JSON: ~200,000 tensors (real shards: < 2 MB)
MAX_JSON_FILE = 1 << 24  # config.json, tokenizer_config.json, the shard index
#: Any of these beside config.json is a tokenizer transformers can load.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "spiece.model", "vocab.json", "vocab.txt")
#: Bits per element of each safetensors dtype.
SAFETENSORS_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "I64": 64, "U64": 64, "F64": 64,
    "C64": 64,
}  # fmt: skip
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
MEMINFO, CGROUP = Path("/proc/meminfo"), Path("/sys/fs/cgroup")  # where free memory is read (Linux)
_GGUF_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_GGUF_STRING, _GGUF_ARRAY = 8, 9
_REFETCH = "download or convert the file again (`tuneshift models fetch NAME --force` for a catalog model)"


def loading_kwargs(**kwargs: object) -> dict:
    """Keyword arguments for every transformers loading call (``AutoConfig``/``AutoTokenizer``/``AutoModel*``
    ``.from_pretrained`` and ``.from_config``): `kwargs` with ``trust_remote_code=False``, always. Without it
    transformers asks "[y/N]" on stdin and runs the repository's Python files on "y"."""
    return {**kwargs, "trust_remote_code": False}


@dataclass(frozen=True)
class WeightsHeader:
    """What a checked header says about the weights: tensors, elements (parameters) and, for GGUF, its metadata."""

    n_tensors: int
    n_parameters: int
    architecture: str = ""


# ------------------------------------------------------------------------------------------------------- GGUF
class _Reader:
    """Bounded reads from a memory-mapped file: a read past the end is a truncation, named with the byte offset."""

    def __init__(self, buffer: mmap.mmap | bytes, path: Path, order: str):
        self.buffer, self.path, self.order, self.pos, self.size = buffer, path, order, 0, len(buffer)

    def fail(self, what: str) -> ModelFileError:
        return ModelFileError(f"{self.path}: {what}; the header is damaged or hostile: {_REFETCH}.")

    def need(self, n_bytes: int, what: str) -> None:
        if self.pos + n_bytes > self.size:
            raise ModelFileError(
                f"{self.path} ends at byte {self.size:,} while its header needs {self.pos + n_bytes:,} bytes "
                f"(reading {what}): the file is truncated (an interrupted download?); {_REFETCH}."
            )

    def scalar(self, code: str, what: str) -> int | float | bool:
        fmt = self.order + code
        self.need(struct.calcsize(fmt), what)
        (value,) = struct.unpack_from(fmt, self.buffer, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def count(self, what: str, limit: int, min_item_bytes: int) -> int:
        """A u64 count, refused when above `limit` or when its items could not fit in the bytes left."""
        value = self.scalar("Q", what)
        room = (self.size - self.pos) // max(min_item_bytes, 1)
        if value > limit or value > room:
            raise self.fail(
                f"{what} is {value:,}, but the file's remaining {self.size - self.pos:,} bytes hold at most {room:,} "
                f"(and tuneshift reads at most {limit:,})"
            )
        return value

    def string(self, what: str) -> bytes:
        length = self.count(f"the length of {what}", MAX_GGUF_STRING, 1)
        self.pos += length
        return bytes(self.buffer[self.pos - length : self.pos])

    def skip_strings(self, n: int, what: str) -> None:
        """Walk `n` length-prefixed strings without copying them (SmolLM2's 49,152 tokens and 48,900 merges: 0.2 s)."""
        unpack, buffer, size, pos = struct.Struct(self.order + "Q").unpack_from, self.buffer, self.size, self.pos
        for index in range(n):
            start = pos
            if pos + 8 <= size:
                pos += 8 + unpack(buffer, pos)[0]
            if start + 8 > size or pos > size:
                self.pos = start
                self.need(max(pos, start + 8) - start, f"string {index:,} of {what}")
        self.pos = pos

    def value(self, kind: int, what: str, depth: int = 0) -> object:
        """One metadata value: scalars and strings are returned, arrays skipped (None)."""
        if kind in _GGUF_SCALARS:
            return self.scalar(_GGUF_SCALARS[kind], what)
        if kind == _GGUF_STRING:
            return self.string(what).decode("utf-8", "replace")
        if kind != _GGUF_ARRAY:
            raise self.fail(f"{what} has value type {kind}, which GGUF does not define")
        if depth > 1:
            raise self.fail(f"{what} nests arrays more than two deep, which no model file does")
        item_kind = self.scalar("I", f"the item type of {what}")
        item_bytes = struct.calcsize(_GGUF_SCALARS[item_kind]) if item_kind in _GGUF_SCALARS else 8
        n = self.count(f"the length of array {what}", MAX_GGUF_ARRAY, item_bytes)
        if item_kind in _GGUF_SCALARS:
            self.pos += n * item_bytes
        elif item_kind == _GGUF_STRING:
            self.skip_strings(n, what)
        else:
            for index in range(n):
                self.value(item_kind, f"{what}[{index}]", depth + 1)
        return None


def check_gguf(path: Path) -> WeightsHeader:
    """Validate the header of GGUF file `path` (v2/v3: metadata, tensor table, every tensor inside the file) in
    bounded memory and time; raise :class:`ModelFileError` naming the first problem."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    path = Path(path)
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size < 24:
            raise ModelFileError(
                f"{path} has {size} bytes, fewer than a GGUF header: the file is truncated; {_REFETCH}."
            )
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buffer:
            if buffer[:4] != GGUF_MAGIC:
                raise ModelFileError(
                    f"{path} is not a GGUF file (its first bytes are {bytes(buffer[:4])!r}, not {GGUF_MAGIC!r}): "
                    "pass a .gguf model file or a directory written by save_pretrained."
                )
            (version,) = struct.unpack_from("<I", buffer, 4)
            order = "<" if version & 0xFFFF else ">"  # a big-endian GGUF's version reads byte-swapped (as gguf does)
            reader = _Reader(buffer, path, order)
            reader.pos = 4
            version = reader.scalar("I", "the version")
            if version not in GGUF_VERSIONS:
                raise ModelFileError(
                    f"{path} is GGUF version {version}; tuneshift and transformers read versions "
                    f"{' and '.join(map(str, GGUF_VERSIONS))}: convert the model again with a current llama.cpp."
                )
            n_tensors = reader.count("the tensor count", MAX_GGUF_TENSORS, 8 + 4 + 8 + 4 + 8)
            n_keys = reader.count("the metadata key count", MAX_GGUF_KEYS, 8 + 4 + 1)
            metadata = {}
            for index in range(n_keys):
                key = reader.string(f"metadata key {index:,}").decode("utf-8", "replace")
                kind = reader.scalar("I", f"the type of metadata {key[:80]!r}")
                metadata[key] = reader.value(kind, f"metadata {key[:80]!r}")
            tensors = [_tensor_info(reader, index) for index in range(n_tensors)]
            alignment = metadata.get("general.alignment", 32)
            if not isinstance(alignment, int) or isinstance(alignment, bool) or not 0 < alignment <= 1 << 20:
                raise reader.fail(f"general.alignment is {alignment!r}, not a positive byte count")
            data_start = -(-reader.pos // alignment) * alignment
            n_parameters = 0
            for name, shape, kind, offset in tensors:
                if kind not in GGML_QUANT_SIZES:
                    raise reader.fail(
                        f"tensor {name!r} has GGML type {kind}, which gguf {_gguf_version()} does not know"
                    )
                block, block_bytes = GGML_QUANT_SIZES[GGMLQuantizationType(kind)]
                n_elements = math.prod(shape)
                n_bytes = n_elements // block * block_bytes
                end = data_start + offset + n_bytes
                if shape[0] % block or end > size:
                    shown = "×".join(f"{d:,}" for d in shape)
                    raise reader.fail(
                        f"tensor {name!r} of shape {shown} ({GGMLQuantizationType(kind).name}) would end at byte "
                        f"{end:,} but the file has {size:,} bytes"
                        if end > size
                        else f"tensor {name!r} of shape {shown} is not a whole number of {block}-element blocks"
                    )
                n_parameters += n_elements
    architecture = metadata.get("general.architecture")
    if not isinstance(architecture, str) or not architecture:
        raise ModelFileError(f"{path} has no general.architecture: it is not a model GGUF; {_REFETCH}.")
    if not any(key.startswith("tokenizer.ggml.") for key in metadata):
        raise ModelFileError(
            f"{path} holds no tokenizer (no tokenizer.ggml.* metadata): convert the model again with its tokenizer "
            "(llama.cpp's convert_hf_to_gguf.py writes it)."
        )
    return WeightsHeader(n_tensors=n_tensors, n_parameters=n_parameters, architecture=architecture)


def _tensor_info(reader: _Reader, index: int) -> tuple[str, tuple[int, ...], int, int]:
    """(name, shape, GGML type, offset) of tensor `index`; its shape is bounded, its place checked by the caller."""
    name = reader.string(f"the name of tensor {index:,}").decode("utf-8", "replace")[:200]
    n_dims = reader.scalar("I", f"the rank of tensor {name!r}")
    if not 1 <= n_dims <= MAX_GGUF_DIMS:
        raise reader.fail(f"tensor {name!r} has {n_dims:,} dimensions; GGUF allows 1 to {MAX_GGUF_DIMS}")
    shape = tuple(reader.scalar("Q", f"the shape of tensor {name!r}") for _ in range(n_dims))
    kind = reader.scalar("I", f"the type of tensor {name!r}")
    offset = reader.scalar("Q", f"the offset of tensor {name!r}")
    if min(shape) < 1 or math.prod(shape) > reader.size * 8:  # ≥ 1/8 byte per element in any GGML type
        shown = "×".join(f"{d:,}" for d in shape)
        raise reader.fail(f"tensor {name!r} has shape {shown}, impossible in a file of {reader.size:,} bytes")
    return name, shape, kind, offset


def _gguf_version() -> str:
    from importlib.metadata import version

    return version("gguf")


# ------------------------------------------------------------------------------------------------ safetensors
def check_safetensors(path: Path) -> WeightsHeader:
    """Validate the header of safetensors file `path` (length, JSON, every tensor's dtype, shape and byte range
    inside the file) before the safetensors library maps it; raise :class:`ModelFileError` naming the problem."""
    path = Path(path)
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise ModelFileError(f"{path} has {size} bytes, fewer than a safetensors header: {_REFETCH}.")
        (length,) = struct.unpack("<Q", prefix)
        if length > min(size - 8, MAX_SAFETENSORS_HEADER):
            raise ModelFileError(
                f"{path}: its header claims {length:,} bytes but the file has {size:,} (and tuneshift reads headers "
                f"up to {MAX_SAFETENSORS_HEADER:,}): the file is truncated, damaged or not a safetensors file; "
                f"{_REFETCH}."
            )
        text = handle.read(length)
    try:
        header = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(
            f"{path}: its header is not valid JSON ({_short(error)}): the file is damaged; {_REFETCH}."
        ) from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{path}: its header is not a JSON object: the file is damaged; {_REFETCH}.")
    data_bytes, n_parameters = size - 8 - length, 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        problem = _tensor_entry_problem(entry, data_bytes)
        if problem:
            raise ModelFileError(
                f"{path}: tensor {name[:200]!r} {problem}; the file is damaged or hostile: {_REFETCH}."
            )
        n_parameters += math.prod(entry["shape"])
    return WeightsHeader(n_tensors=len(header) - ("__metadata__" in header), n_parameters=n_parameters)


def _tensor_entry_problem(entry: object, data_bytes: int) -> str:
    """What is wrong with one safetensors header entry ('' when nothing): dtype, shape, offsets, size."""
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        return "is not {dtype, shape, data_offsets}"
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in SAFETENSORS_BITS:
        return f"has dtype {str(dtype)[:40]!r}, not one of {', '.join(SAFETENSORS_BITS)}"
    if not _ints(shape, 8) or any(d < 0 for d in shape):
        return f"has shape {str(shape)[:80]}, not up to 8 non-negative integers"
    if not _ints(offsets, 2) or len(offsets) != 2 or not 0 <= offsets[0] <= offsets[1]:
        return f"has data_offsets {str(offsets)[:80]}, not [begin, end] with 0 <= begin <= end"
    n_bytes = -(-math.prod(shape) * SAFETENSORS_BITS[dtype] // 8)
    if offsets[1] - offsets[0] != n_bytes:
        span = offsets[1] - offsets[0]
        return f"of shape {shape} and dtype {dtype} needs {n_bytes:,} bytes but its offsets span {span:,}"
    if offsets[1] > data_bytes:
        return f"ends at byte {offsets[1]:,} of the data, which holds {data_bytes:,} bytes (a truncated file)"
    return ""


def _ints(values: object, most: int) -> bool:
    return isinstance(values, list) and len(values) <= most and all(type(v) is int for v in values)


# ---------------------------------------------------------------------------------------------- model folders
def check_model_dir(directory: Path, *, weights: bool = True) -> WeightsHeader | None:
    """Check a ``save_pretrained`` folder before transformers reads it: config.json (JSON, an architecture that
    transformers ships and tuneshift supports, no repository code), tokenizer files, and, with `weights`, every
    safetensors header and the shards an index names. Returns the weights' header totals (None without
    safetensors, e.g. pytorch_model.bin only)."""
    directory = Path(directory)
    config = read_json(directory / "config.json")
    check_architecture(config, directory / "config.json")
    if not any((directory / name).is_file() for name in TOKENIZER_FILES):
        raise ModelFileError(
            f"{directory} has no tokenizer files ({', '.join(TOKENIZER_FILES)}): save the tokenizer beside the "
            "weights (tokenizer.save_pretrained(DIR)) or copy those files from the model it was trained from."
        )
    if not weights:
        return None
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        weight_map = read_json(index).get("weight_map")
        shards = sorted(set(weight_map.values())) if isinstance(weight_map, dict) else []
        missing = [str(shard) for shard in shards if not (directory / str(shard)).is_file()]
        if not shards or missing:
            what = f"names shards that are missing: {', '.join(missing[:3])}" if missing else "has no weight_map"
            raise ModelFileError(f"{index} {what}: copy every shard of the model into {directory}.")
    headers = [check_safetensors(path) for path in sorted(directory.glob("*.safetensors"))]
    if not headers:
        if not any(directory.glob("pytorch_model*.bin")):
            raise ModelFileError(
                f"{directory} has config.json but no weights (model.safetensors or pytorch_model.bin): copy the "
                "weight files into it, or save the model again with save_pretrained."
            )
        return None
    return WeightsHeader(sum(h.n_tensors for h in headers), sum(h.n_parameters for h in headers))


def read_json(path: Path) -> dict:
    """A model folder's JSON file (at most 16 MiB) as a dict; refused by name when missing, too large or not JSON."""
    try:
        size = path.stat().st_size
        if size > MAX_JSON_FILE:
            raise ModelFileError(f"{path} has {size:,} bytes, more than the {MAX_JSON_FILE:,} a model's JSON file has.")
        content = json.loads(path.read_bytes())
    except OSError as error:
        raise ModelFileError(
            f"{path} cannot be read ({_short(error)}): check that it exists and is readable."
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(
            f"{path} is not valid JSON ({_short(error)}): the file is damaged; save the model again."
        ) from None
    if not isinstance(content, dict):
        raise ModelFileError(f"{path} is not a JSON object: the file is damaged; save the model again.")
    return content


def check_architecture(config: dict, path: Path) -> None:
    """Refuse a config whose model_type transformers does not ship (with auto_map: repository code, never run) or
    whose model class is not one of tuneshift's families."""
    from transformers import CONFIG_MAPPING
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES,
    )

    from tuneshift.models.families import FAMILIES

    model_type = config.get("model_type")
    families = sorted({FAMILIES.get(name).family for name in FAMILIES})
    supported = f"tuneshift supports the families {', '.join(families)}"
    if not isinstance(model_type, str) or model_type not in CONFIG_MAPPING:
        shown = str(model_type)[:60]
        if config.get("auto_map"):
            raise RemoteCodeError(
                f"{path} has model_type {shown!r} with auto_map → {_code_files(config['auto_map'])}: the model needs "
                "its repository's own Python code, and tuneshift never runs repository code. Use a model of a "
                f"supported family or convert this checkpoint to one ({supported})."
            )
        raise UnsupportedModelError(
            f"{path} has model_type {shown!r}, which transformers does not know: {supported}; convert the "
            "checkpoint to one of them, or save it again with the transformers class it was trained with."
        )
    classes = {
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.get(model_type),
        MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES.get(model_type),
    }
    if not any(name in FAMILIES for name in classes if isinstance(name, str)):
        raise UnsupportedModelError(
            f"{path} describes a {model_type!r} model, which is not a language model tuneshift reads ({supported})."
        )


def _code_files(auto_map: object) -> str:
    """The Python files an auto_map points at ("module.Class" or "repo--module.Class" values), for the message."""
    values = auto_map.values() if isinstance(auto_map, dict) else [auto_map]
    flat = [v for value in values for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)]
    files = sorted({v.split("--")[-1].rsplit(".", 1)[0] + ".py" for v in flat})
    return ", ".join(files[:3])[:200] or "custom code"


# ---------------------------------------------------------------------------------------------------- memory
def available_memory() -> int | None:
    """Bytes this process can still obtain: MemAvailable + SwapFree, capped by a cgroup v2 limit less the group's
    working set (its usage without reclaimable file cache); None where /proc/meminfo is missing."""
    try:
        fields = dict(line.split(":", 1) for line in MEMINFO.read_text().splitlines() if ":" in line)
        available = (int(fields["MemAvailable"].split()[0]) + int(fields.get("SwapFree", "0 kB").split()[0])) * 1024
    except (OSError, KeyError, ValueError):
        return None
    group = CGROUP
    try:
        limit = (group / "memory.max").read_text().strip()
        if limit != "max":
            stat = dict(line.split() for line in (group / "memory.stat").read_text().splitlines())
            working_set = int((group / "memory.current").read_text()) - int(stat.get("inactive_file", 0))
            available = min(available, max(0, int(limit) - working_set))
    except (OSError, ValueError):
        pass
    return available


def memory_message(source: str, n_parameters: int | None, dtype: str, available: int | None) -> str:
    """One line: what loading `source` needs, what is free, and the fix (--dtype bfloat16 halves float32)."""
    needed = (
        f"about {_gb(n_parameters * DTYPE_BYTES[dtype])} for {n_parameters:,} parameters"
        if n_parameters
        else "more memory"
    )
    free = f", but {_gb(available)} is free" if available is not None else ", more than this machine could give"
    fix = (
        f"pass --dtype bfloat16 (about {_gb(n_parameters * 2)})"
        if n_parameters and dtype == "float32"
        else "use a smaller model"
    )
    return f"Loading {source} needs {needed} in {dtype}{free}: {fix}, free memory, or run on a machine with more."


def check_memory(source: str, n_parameters: int, dtype: str) -> None:
    """Refuse before loading when the weights alone (parameters × bytes of `dtype`) exceed the memory left: the
    kernel's OOM killer would otherwise end the process without a word."""
    available = available_memory()
    if available is not None and n_parameters * DTYPE_BYTES[dtype] > available:
        raise ModelMemoryError(memory_message(source, n_parameters, dtype, available))


def _gb(n_bytes: int) -> str:
    return f"{n_bytes / 1e9:.1f} GB" if n_bytes >= 1e8 else f"{n_bytes / 1e6:.1f} MB"


# ------------------------------------------------------------------------------------------------ translation
@contextmanager
def translated(source: str, *, n_parameters: int | None = None, dtype: str = "float32") -> Iterator[None]:
    """Turn any error that transformers, gguf, safetensors or torch raises while loading `source` into one line
    naming the model and the fix (tuneshift's own errors pass unchanged; the original stays as ``__cause__``)."""
    try:
        yield
    except TuneshiftError:
        raise
    except Exception as error:
        raise translate(error, source, n_parameters=n_parameters, dtype=dtype) from error


def translate(
    error: Exception, source: str, *, n_parameters: int | None = None, dtype: str = "float32"
) -> TuneshiftError:
    """The tuneshift error a third-party loading error means: out of memory, repository code, or a damaged or
    unreadable model file."""
    import torch

    text = str(error)
    lowered = text.lower()
    if isinstance(error, (MemoryError, torch.OutOfMemoryError)) or "can't allocate memory" in lowered:
        return ModelMemoryError(memory_message(source, n_parameters, dtype, available_memory()))
    if "trust_remote_code" in text:
        return RemoteCodeError(
            f"{source} needs its repository's own Python code, and tuneshift never runs repository code: use a "
            "model of a supported family (`tuneshift models list`), or convert this checkpoint to one."
        )
    return ModelFileError(
        f"Could not load {source}: {type(error).__name__}: {_short(error)}. The model's files are damaged or in a "
        "layout tuneshift does not read: save the model again with save_pretrained, or download it again."
    )


def _short(error: BaseException, limit: int = 300) -> str:
    """An error's message on one line, at most `limit` characters (third-party messages can quote whole files)."""
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
