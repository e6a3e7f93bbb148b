"""The paper's own attribution files: ``ifa_<model>/<ID>.pkl`` from Wu et al. 2023.

Each file is a pickled dict: ID, Input (sentencepiece pieces of the prompt, no BOS), Reference, Output (pieces of
the model's own response) and Explain (float32, n_input × n_output, already sparsified to 0..10 with b = 0). The
paper's analysis (``analysis_following_*.py``) thresholds it at b = 7, takes the importance density and the
instruction score (:mod:`tuneshift.interpret.instructions`).

Loading is safe against hostile files (:func:`safe_unpickle`). Before anything is built, every opcode is replayed on
a model of the unpickler's stack (:func:`scan_pickle`): only plain containers, strings, numbers and the standard
reconstructors of numeric numpy arrays are accepted (no code runs: ``os.system`` via ``__reduce__``, builtins
``eval``/``exec``/``getattr``, ``copy_reg``, object arrays are refused), and the object graph the file would build
is bounded — opcodes, memo slots, elements and payload bytes *counting every shared reference as a copy* (what any
traversal such as ``np.asarray`` will pay), nesting depth, reference cycles and array shapes. Only a file that passes
is handed to the real (restricted) unpickler, so a 268-byte file cannot grow into gigabytes.

The full release (632 prompts × LLaMA-7B / Vicuna-7B) reproduces Tables 1 and 2; only a few sample files are
bundled here.
"""

from __future__ import annotations

import _compat_pickle
import io
import math
import pickle
import pickletools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tuneshift.errors import DataNotFoundError, InvalidInputError
from tuneshift.interpret.instructions import SCORE_COLUMNS, Sample, join_ratings, score_prompt_tokens, source_of

_BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")


@dataclass(frozen=True)
class PickleLimits:
    """Bounds on what one pickle may build. The paper's files need ~1,000 opcodes, ~500 elements, depth 2 and
    < 1 MB; the defaults leave a thousandfold margin and keep a refused file under ~200 MB and ~2 s.

    max_file_bytes: size of the file. max_opcodes: pickle instructions. max_memo: highest memo slot (the C
    unpickler allocates a table that large). max_elements: objects and array elements, every shared reference
    counted as a copy. max_bytes: string, bytes and array payload, counted the same way. max_depth: nesting of
    containers. max_hashed_keys: dict keys or set items of one container that are not strings (their hashes are
    predictable, so colliding ones can make building the container quadratic; string hashes are salted).
    """

    max_file_bytes: int = 256 * 2**20
    max_opcodes: int = 250_000
    max_memo: int = 1_000_000
    max_elements: int = 5_000_000
    max_bytes: int = 512 * 2**20
    max_depth: int = 32
    max_hashed_keys: int = 4096


DEFAULT_LIMITS = PickleLimits()

_LEAF_KINDS = frozenset({"none", "bool", "int", "float", "str", "bytes", "global", "scalar"})
_NUMERIC_DTYPE_KINDS = "biufc"  # bool, integer, float, complex: no object ('O'), structured ('V') or string arrays
_PLAIN_DTYPE_STATE = (-1, -1, 0)  # elsize, alignment, flags of a plain numeric dtype's __setstate__
_KEEP_VALUE_CHARS = 256  # short strings/tuples keep their value: reconstructor arguments are checked on it
_ARRAY_MODULES = ("numpy._core.multiarray", "numpy.core.multiarray")
_NUMERIC_MODULES = ("numpy._core.numeric", "numpy.core.numeric")
_ALLOWED = frozenset(
    {("builtins", "set"), ("builtins", "frozenset")}  # protocols 0-3 pickle sets as set(list)
    | {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}
    | {(module, name) for module in _ARRAY_MODULES for name in ("_reconstruct", "scalar")}
    | {(module, "_frombuffer") for module in _NUMERIC_MODULES}
)


class _Obj:
    """What the unpickler would build, without building it: kind, a short value (for checking reconstructor
    arguments), own elements and payload bytes, and the non-leaf objects it holds (leaves are folded into the
    counts). ``total`` caches (elements, bytes, depth) of the expanded graph."""

    __slots__ = ("bytes", "children", "elements", "kind", "total", "unsalted", "value")

    def __init__(self, kind: str, value: object = None, nbytes: int = 0, elements: int = 1):
        self.kind, self.value, self.bytes, self.elements = kind, value, nbytes, elements
        self.children: list[_Obj] = []
        self.total: tuple[int, int, int] | None = None
        self.unsalted = 0  # items (dict: keys) whose hash is predictable: not str/bytes


class _Refused(Exception):
    """Internal: why a pickle is refused (turned into InvalidInputError naming the file)."""


def _normalize(module: str, name: str) -> tuple[str, str]:
    """Python 2 names (``__builtin__``, ``copy_reg``) as Python 3 resolves them."""
    module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def _leaf(kind: str, value: object) -> _Obj:
    size = len(value) if isinstance(value, str | bytes | bytearray) else 8
    keep = value if not isinstance(value, str | bytes | bytearray) or size <= _KEEP_VALUE_CHARS else None
    if isinstance(keep, bytearray):
        keep = None
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**62:
        keep, size = None, value.bit_length() // 8 + 1
    return _Obj(kind, keep, size)


_SCALAR_OPS = {
    **dict.fromkeys(("INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4"), "int"),
    **dict.fromkeys(("FLOAT", "BINFLOAT"), "float"),
    **dict.fromkeys(("STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE"), "str"),
    "BINUNICODE8": "str",
    **dict.fromkeys(("BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8"), "bytes"),
}
_EMPTY_OPS = {"EMPTY_LIST": "list", "EMPTY_DICT": "dict", "EMPTY_TUPLE": "tuple", "EMPTY_SET": "set"}
_MARK_OPS = {"LIST": "list", "TUPLE": "tuple", "DICT": "dict", "FROZENSET": "frozenset"}
_INTO = {"APPEND": "list", "APPENDS": "list", "SETITEM": "dict", "SETITEMS": "dict", "ADDITEMS": "set"}
_SALTED_KINDS = ("str", "bytes")  # hashes randomized per process (PYTHONHASHSEED)


class _Machine:
    """The unpickler's stack machine over :class:`_Obj` (see ``pickle._Unpickler``), refusing what it cannot bound.
    ``step`` dispatches on the opcode name through ``_OPS`` (one method per family of opcodes)."""

    def __init__(self, limits: PickleLimits):
        self.limits = limits
        self.stack: list[_Obj] = []
        self.marks: list[int] = []
        self.memo: dict[int, _Obj] = {}

    def step(self, name: str, arg: object) -> None:
        handler = _OPS.get(name)
        if handler is None:
            raise _Refused(
                f"opcode {name} (it creates arbitrary objects or reads outside data); only plain data allowed"
            )
        handler(self, name, arg)

    # --- stack helpers
    def pop(self) -> _Obj:
        if len(self.stack) <= (self.marks[-1] if self.marks else 0):
            raise _Refused("malformed pickle: an instruction takes more items than the stack holds")
        return self.stack.pop()

    def pop_mark(self) -> list[_Obj]:
        if not self.marks:
            raise _Refused("malformed pickle: an instruction needs a MARK that was never set")
        start = self.marks.pop()
        items = self.stack[start:]
        del self.stack[start:]
        return items

    def top(self, op: str, kind: str | None = None) -> _Obj:
        if not self.stack or (kind is not None and self.stack[-1].kind != kind):
            found = self.stack[-1].kind if self.stack else "nothing"
            raise _Refused(f"{op} applied to a {found}, not a {kind}")
        return self.stack[-1]

    def container(self, kind: str, items: list[_Obj]) -> _Obj:
        node = _Obj(kind, items if kind == "tuple" and len(items) <= _KEEP_VALUE_CHARS else None)
        if items:
            self.fill(node, items)
        return node

    def fill(self, node: _Obj, items: list[_Obj]) -> None:
        """Add items to a container; a dict's items alternate key, value."""
        for item in items:
            if item.kind in _LEAF_KINDS:
                node.elements += item.elements
                node.bytes += item.bytes
            else:
                node.children.append(item)
        keys = items[::2] if node.kind == "dict" else items
        node.unsalted += sum(key.kind not in _SALTED_KINDS for key in keys)
        if node.kind in ("dict", "set", "frozenset"):
            self.check_keys(node)

    def check_keys(self, node: _Obj) -> None:
        if node.unsalted > self.limits.max_hashed_keys:
            raise _Refused(
                f"a {node.kind} with more than {self.limits.max_hashed_keys:,} keys that are not strings "
                "(max_hashed_keys; colliding hashes can make building it quadratic)"
            )

    # --- opcodes
    def op_scalar(self, name: str, arg: object) -> None:
        self.stack.append(_leaf("bool" if isinstance(arg, bool) else _SCALAR_OPS[name], arg))

    def op_constant(self, name: str, arg: object) -> None:
        self.stack.append(_Obj("none", None) if name == "NONE" else _Obj("bool", name == "NEWTRUE"))

    def op_empty(self, name: str, arg: object) -> None:
        self.stack.append(self.container(_EMPTY_OPS[name], []))

    def op_mark(self, name: str, arg: object) -> None:
        self.marks.append(len(self.stack))

    def op_from_mark(self, name: str, arg: object) -> None:
        self.stack.append(self.container(_MARK_OPS[name], self.pop_mark()))

    def op_tuple_n(self, name: str, arg: object) -> None:
        items = [self.pop() for _ in range(int(name[-1]))][::-1]
        self.stack.append(self.container("tuple", items))

    def op_into(self, name: str, arg: object) -> None:
        if name.endswith("S"):
            items = self.pop_mark()
        else:
            items = [self.pop() for _ in range(2 if name == "SETITEM" else 1)][::-1]
        self.fill(self.top(name, _INTO[name]), items)

    def op_pop(self, name: str, arg: object) -> None:
        if name == "POP" and len(self.stack) > (self.marks[-1] if self.marks else 0):
            self.stack.pop()
        else:
            self.pop_mark()

    def op_dup(self, name: str, arg: object) -> None:
        self.stack.append(self.top(name))

    def op_put(self, name: str, arg: object) -> None:
        index = len(self.memo) if name == "MEMOIZE" else int(arg)
        if not 0 <= index <= self.limits.max_memo:
            raise _Refused(f"memo slot {index:,} exceeds the limit max_memo = {self.limits.max_memo:,}")
        self.memo[index] = self.top(name)

    def op_get(self, name: str, arg: object) -> None:
        if int(arg) not in self.memo:
            raise _Refused(f"malformed pickle: memo slot {arg} read before it was written")
        self.stack.append(self.memo[int(arg)])

    def op_global(self, name: str, arg: object) -> None:
        if name == "GLOBAL":
            module, _, attribute = str(arg).partition(" ")
        else:
            attribute_obj, module_obj = self.pop(), self.pop()
            if (
                module_obj.kind != "str"
                or attribute_obj.kind != "str"
                or None in (module_obj.value, attribute_obj.value)
            ):
                raise _Refused("STACK_GLOBAL with a module or name that is not a short string")
            module, attribute = str(module_obj.value), str(attribute_obj.value)
        resolved = _normalize(module, attribute)
        if resolved not in _ALLOWED:
            raise _Refused(
                f"{module}.{attribute} is not allowed: attribution files may only hold dicts, lists, strings, "
                "numbers and numeric numpy arrays"
            )
        self.stack.append(_Obj("global", resolved))

    def op_reduce(self, name: str, arg: object) -> None:
        args, func = self.pop(), self.pop()
        self.stack.append(self.reduce(func, args))

    def op_build(self, name: str, arg: object) -> None:
        state = self.pop()
        self.build(self.top(name), state)

    def op_ignore(self, name: str, arg: object) -> None:
        """PROTO and FRAME: no effect on what is built."""

    # --- reconstructors
    def reduce(self, func: _Obj, args: _Obj) -> _Obj:
        if func.kind != "global" or args.kind != "tuple" or args.value is None:
            raise _Refused("REDUCE with something other than an allowed function and a short argument tuple")
        module, name = func.value
        items: list[_Obj] = args.value
        kinds = tuple(item.kind for item in items)
        if module == "builtins" and kinds in ((), ("list",), ("tuple",), ("set",), ("frozenset",)):
            node = _Obj(name)
            node.children.extend(items)
            node.unsalted = sum(item.unsalted for item in items)
            self.check_keys(node)
            return node
        if (module, name) == ("_codecs", "encode") and kinds == ("str", "str") and items[1].value in _LATIN1:
            return _Obj("bytes", None, items[0].bytes)
        if name == "dtype" and kinds[:1] == ("str",) and all(kind == "bool" for kind in kinds[1:]):
            return _Obj("dtype", _numeric_dtype(items[0].value))
        if name == "_reconstruct" and kinds[:2] == ("global", "tuple") and items[0].value == ("numpy", "ndarray"):
            return self.array(_shape(items[1]), np.dtype(np.uint8))
        if name == "scalar" and kinds[:1] == ("dtype",) and len(items) == 2 and kinds[1] in ("bytes", "str"):
            return _Obj("scalar", None, items[1].bytes)
        if name == "_frombuffer" and kinds[:3] == ("bytes", "dtype", "tuple"):
            node = self.array(_shape(items[2]), items[1].value)
            node.bytes = items[0].bytes
            return node
        raise _Refused(f"refused call {module}.{name} with arguments of kinds {kinds}")

    def array(self, shape: tuple[int, ...], dtype: np.dtype) -> _Obj:
        size = math.prod(shape)
        if size > self.limits.max_elements or size * dtype.itemsize > self.limits.max_bytes:
            raise _Refused(
                f"an array of shape {shape} exceeds the limits max_elements = {self.limits.max_elements:,} / "
                f"max_bytes = {self.limits.max_bytes:,}"
            )
        return _Obj("ndarray", dtype, size * dtype.itemsize, size)

    def build(self, target: _Obj, state: _Obj) -> None:
        items = state.value if state.kind == "tuple" else None
        kinds = tuple(item.kind for item in items or ())
        if target.kind == "ndarray" and kinds == ("int", "tuple", "dtype", "bool", "bytes"):
            built = self.array(_shape(items[1]), items[2].value)
            target.elements, target.bytes, target.value = built.elements, items[4].bytes, built.value
        elif target.kind == "dtype" and kinds == ("int", "str", "none", "none", "none", "int", "int", "int"):
            if tuple(item.value for item in items[5:]) != _PLAIN_DTYPE_STATE:
                raise _Refused(f"a numpy dtype state {[item.value for item in items]} that is not a plain number type")
        else:
            raise _Refused(f"BUILD (__setstate__) of a {target.kind} with a state of kinds {kinds}")


_OPS = {
    **dict.fromkeys(_SCALAR_OPS, _Machine.op_scalar),
    **dict.fromkeys(("NONE", "NEWTRUE", "NEWFALSE"), _Machine.op_constant),
    **dict.fromkeys(_EMPTY_OPS, _Machine.op_empty),
    "MARK": _Machine.op_mark,
    **dict.fromkeys(_MARK_OPS, _Machine.op_from_mark),
    **dict.fromkeys(("TUPLE1", "TUPLE2", "TUPLE3"), _Machine.op_tuple_n),
    **dict.fromkeys(_INTO, _Machine.op_into),
    **dict.fromkeys(("POP", "POP_MARK"), _Machine.op_pop),
    "DUP": _Machine.op_dup,
    **dict.fromkeys(("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"), _Machine.op_put),
    **dict.fromkeys(("GET", "BINGET", "LONG_BINGET"), _Machine.op_get),
    **dict.fromkeys(("GLOBAL", "STACK_GLOBAL"), _Machine.op_global),
    "REDUCE": _Machine.op_reduce,
    "BUILD": _Machine.op_build,
    **dict.fromkeys(("PROTO", "FRAME"), _Machine.op_ignore),
}


_LATIN1 = ("latin1", "latin-1")


def _numeric_dtype(code: object) -> np.dtype:
    try:
        dtype = np.dtype(str(code)) if code is not None else None
    except (TypeError, ValueError) as error:
        raise _Refused(f"unknown numpy dtype {code!r}") from error
    if dtype is None or dtype.kind not in _NUMERIC_DTYPE_KINDS:
        raise _Refused(f"numpy dtype {code!r} (object and structured arrays can hold arbitrary objects)")
    return dtype


def _shape(node: _Obj) -> tuple[int, ...]:
    items = node.value or ()
    if node.kind != "tuple" or node.value is None or any(item.kind != "int" or item.value is None for item in items):
        raise _Refused("an array shape that is not a short tuple of integers")
    shape = tuple(int(item.value) for item in items)
    if any(size < 0 for size in shape):
        raise _Refused(f"negative array shape {shape}")
    return shape


def _expanded(root: _Obj, limits: PickleLimits) -> tuple[int, int, int]:
    """(elements, bytes, depth) of the object graph from `root` with every reference counted as a copy; refuses a
    reference cycle or a limit as soon as it is seen (iterative: depth cannot overflow Python's stack)."""
    visiting = (-1, -1, -1)
    root.total = visiting
    path: list[tuple[_Obj, int]] = [(root, 0)]
    while path:
        node, index = path[-1]
        if index < len(node.children):
            path[-1] = (node, index + 1)
            child = node.children[index]
            if child.total is visiting:
                raise _Refused("a container that contains itself (a reference cycle)")
            if child.total is None:
                if len(path) >= limits.max_depth:
                    raise _Refused(f"nesting deeper than the limit max_depth = {limits.max_depth}")
                child.total = visiting
                path.append((child, 0))
            continue
        path.pop()
        elements = node.elements + sum(child.total[0] for child in node.children)
        nbytes = node.bytes + sum(child.total[1] for child in node.children)
        depth = 1 + max((child.total[2] for child in node.children), default=0)
        if elements > limits.max_elements:
            raise _Refused(
                f"it would build more than {limits.max_elements:,} elements (max_elements; shared references "
                "count as copies, as any traversal pays for them)"
            )
        if nbytes > limits.max_bytes:
            raise _Refused(f"it would hold more than {limits.max_bytes:,} bytes of payload (max_bytes)")
        node.total = (elements, nbytes, depth)
    return root.total


@dataclass(frozen=True)
class PickleSize:
    """What a pickle builds, every shared reference counted as a copy."""

    elements: int
    bytes: int
    depth: int


def scan_pickle(data: bytes, limits: PickleLimits = DEFAULT_LIMITS, label: str = "pickle") -> PickleSize:
    """Replay a pickle's opcodes without building anything and return the size of what it would build.

    Raises InvalidInputError (``"{label}: refused: <rule or limit>"``) at the first rule it breaks.
    """
    try:
        return _scan(data, limits)
    except _Refused as error:
        raise InvalidInputError(f"{label}: refused: {error}. Load only files from a trusted source.") from None


def _scan(data: bytes, limits: PickleLimits) -> PickleSize:
    machine = _Machine(limits)
    stopped = False
    try:
        for count, (opcode, arg, _) in enumerate(pickletools.genops(data), start=1):
            if count > limits.max_opcodes:
                raise _Refused(f"more than {limits.max_opcodes:,} opcodes (max_opcodes)")
            if opcode.name == "STOP":
                stopped = True
                break
            machine.step(opcode.name, arg)
    except (ValueError, TypeError, IndexError, KeyError, OverflowError, UnicodeDecodeError) as error:
        raise _Refused(f"not a valid pickle ({error})") from None
    if not stopped or len(machine.stack) != 1 or machine.marks:
        raise _Refused("malformed pickle: it does not end with exactly one object")
    root = machine.stack[0]
    if root.kind in _LEAF_KINDS:
        return PickleSize(root.elements, root.bytes, 0)
    return PickleSize(*_expanded(root, limits))


class RestrictedUnpickler(pickle.Unpickler):
    """The real unpickler, resolving only the globals :func:`scan_pickle` allows (a second line of defence)."""

    def __init__(self, file, path: Path):
        super().__init__(file)
        self.path = path

    def find_class(self, module: str, name: str):
        resolved = _normalize(module, name)
        if resolved not in _ALLOWED:
            raise InvalidInputError(f"{self.path}: refused to unpickle {module}.{name}.")
        return super().find_class(resolved[0].replace("numpy.core.", "numpy._core."), resolved[1])


def safe_unpickle(path: str | Path, limits: PickleLimits = DEFAULT_LIMITS) -> object:
    """Unpickle a file that may be hostile: plain data and numeric numpy arrays only, within `limits`.

    Raises InvalidInputError naming the file and the rule or limit it breaks, before anything is built.
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"{path}: no such pickle file.")
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise InvalidInputError(f"{path}: {size:,} bytes exceeds the limit max_file_bytes = {limits.max_file_bytes:,}.")
    data = path.read_bytes()
    scan_pickle(data, limits, str(path))
    try:
        return RestrictedUnpickler(io.BytesIO(data), path).load()
    except InvalidInputError:
        raise
    except Exception as error:  # anything numpy or pickle raise on a file the scan passed
        raise InvalidInputError(f"{path}: not a valid attribution pickle: {type(error).__name__}: {error}") from None


@dataclass
class PaperAttribution:
    id: str
    input_tokens: list[str]
    output_tokens: list[str]
    reference: str
    explain: np.ndarray  # (n_input, n_output), sparsified 0..10
    path: Path


def load_attribution_pickle(path: str | Path, limits: PickleLimits = DEFAULT_LIMITS) -> PaperAttribution:
    """Read one ``<ID>.pkl`` safely (:func:`safe_unpickle`) and check its fields and shape."""
    path = Path(path)
    data = safe_unpickle(path, limits)
    missing = {"ID", "Input", "Output", "Explain"} - set(data if isinstance(data, dict) else ())
    if missing:
        raise InvalidInputError(f"{path}: expected a dict with ID, Input, Output, Explain; missing {sorted(missing)}.")
    for field in ("Input", "Output"):
        pieces = data[field]
        if not isinstance(pieces, list | tuple) or not all(isinstance(piece, str) for piece in pieces):
            raise InvalidInputError(f"{path}: {field} must be a list of sentencepiece strings.")
    try:
        explain = np.asarray(data["Explain"])
    except ValueError as error:  # ragged nested lists
        raise InvalidInputError(f"{path}: Explain is not a numeric matrix ({error}).") from None
    if explain.dtype.kind not in "biuf":
        raise InvalidInputError(f"{path}: Explain holds {explain.dtype} values; expected a numeric matrix.")
    n_in, n_out = len(data["Input"]), len(data["Output"])
    if n_out and explain.shape != (n_in, n_out):
        raise InvalidInputError(
            f"{path}: Explain has shape {explain.shape}, expected (len(Input), len(Output)) = ({n_in}, {n_out})."
        )
    return PaperAttribution(
        str(data["ID"]), list(data["Input"]), list(data["Output"]), str(data.get("Reference", "")), explain, path
    )


def piece_offsets(pieces: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """Text and character span of each sentencepiece piece ('▁' = space, '<0xNN>' = one byte of UTF-8)."""
    chunks = [
        bytes([int(m.group(1), 16)]) if (m := _BYTE_PIECE.fullmatch(p)) else p.replace("▁", " ").encode()
        for p in pieces
    ]
    ends = np.cumsum([len(c) for c in chunks]) if chunks else np.zeros(0, dtype=int)
    raw = b"".join(chunks)
    text = raw.decode("utf8", errors="replace")
    # byte offset -> character offset (a continuation byte maps to its character)
    char_of_byte = np.zeros(len(raw) + 1, dtype=np.int64)
    position = 0
    for index, char in enumerate(text):
        width = len(char.encode("utf8")) if char != "\ufffd" else 1
        char_of_byte[position : position + width] = index
        position += width
    char_of_byte[len(raw)] = len(text)
    starts = np.concatenate([[0], ends[:-1]]) if len(ends) else ends
    spans = [
        (int(char_of_byte[s]), int(char_of_byte[e - 1]) + 1 if e > s else int(char_of_byte[s]))
        for s, e in zip(starts, ends, strict=True)
    ]
    return text, spans


def score_paper_attribution(attribution: PaperAttribution, sample: Sample, threshold: float = 7) -> tuple[float, int]:
    """Instruction score of one shipped attribution and its number of instruction tokens (0 for an empty
    response, as in the paper's ``evaluate``)."""
    text, spans = piece_offsets(attribution.input_tokens)
    return score_prompt_tokens(
        sample,
        text,
        spans,
        attribution.input_tokens,
        attribution.explain,
        len(attribution.output_tokens),
        threshold=threshold,
        where=str(attribution.path),
    )


def model_name_of(directory: Path) -> str:
    """ "ifa_vicuna_7b" → "vicuna_7b" (lower case, to match AnnotatedDataset's Model column)."""
    name = directory.name.lower()
    return name[4:] if name.startswith("ifa_") else name


def score_attribution_dir(
    directory: str | Path, samples: list[Sample], ratings: pd.DataFrame | None = None, model: str | None = None
) -> pd.DataFrame:
    """One row per ``<ID>.pkl`` whose ID is in the dataset: id, source, model, score, n_instruction_tokens,
    n_output_tokens, rating (NaN when unrated or no ratings given)."""
    directory = Path(directory)
    files = sorted(directory.glob("*.pkl"))
    if not files:
        raise DataNotFoundError(f"{directory}: no <ID>.pkl attribution files found.")
    model = model or model_name_of(directory)
    by_id = {s.id: s for s in samples}
    rows = []
    for file in files:
        if file.stem not in by_id:
            continue
        attribution = load_attribution_pickle(file)
        score, n_instruction = score_paper_attribution(attribution, by_id[file.stem])
        rows.append((file.stem, source_of(file.stem), model, score, n_instruction, len(attribution.output_tokens)))
    return join_ratings(pd.DataFrame(rows, columns=SCORE_COLUMNS[:-1]), ratings)
