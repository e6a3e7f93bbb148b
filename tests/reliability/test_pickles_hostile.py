"""Hostile attribution pickles (issue 11): code execution, memory and time bombs, deep nesting and malformed files are
each refused by name within a memory and time budget; harmless pickles of plain numpy arrays, in every protocol and
under numpy 1's module names, load."""

from __future__ import annotations

import builtins
import os
import pickle
import struct
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
import pytest

from tuneshift.errors import InvalidInputError
from tuneshift.interpret.pickles import (
    DEFAULT_LIMITS,
    PickleLimits,
    load_attribution_pickle,
    safe_unpickle,
    scan_pickle,
)

MEMORY_BUDGET = 200 * 2**20  # bytes traced by tracemalloc while one file is refused
# CPU seconds of this process (time.process_time: other jobs on a shared machine do not count), without
# tracemalloc's overhead. The scan is linear in the file's opcodes: the slowest refusals, deep_lists (200,000 opcodes)
# and too_many_opcodes (250,000), measured 1.8 and 1.6 s of CPU on a 2-core machine at load ~5 (wall time 5.5 s
# there, which failed the former 2 s wall budget). Anything that walks what a bomb would build (2**29+ elements, a
# 1 GB string, 4 GB of memo, quadratic hashing) costs orders of magnitude more.
TIME_BUDGET = 5.0
P = pickle  # opcode constants


class Reduces:
    """An object whose unpickling calls `func(*args)`: the classic code-execution payload."""

    def __init__(self, func: Callable, *args: object):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


class Plain:
    """A user class: protocols 0-1 pickle it through copy_reg._reconstructor, 2+ through copyreg.__newobj__."""

    def __init__(self):
        self.x = 1


def attribution(explain: object, **extra: object) -> dict:
    return {"ID": "x", "Input": ["▁a", "▁b"], "Output": ["▁c", "▁d"], "Explain": explain, **extra}


def raw(*parts: bytes) -> bytes:
    """A handmade protocol-4 pickle from opcode bytes (no framing)."""
    return P.PROTO + b"\x04" + b"".join(parts) + P.STOP


def short_str(text: str) -> bytes:
    data = text.encode()
    return P.SHORT_BINUNICODE + bytes([len(data)]) + data


def laughs(levels: int) -> object:
    """Nested lists where each level holds the one below twice: a few hundred bytes pickled (shared references),
    2**levels elements once anything walks it (np.asarray, list copies, repr)."""
    node: object = [1.0]
    for _ in range(levels):
        node = [node, node]
    return node


def deep(levels: int, opcode: bytes = P.APPEND) -> bytes:
    """`levels` nested lists, built without recursion (pickle.dumps itself would overflow)."""
    return raw(P.EMPTY_LIST * levels, opcode * (levels - 1))


def colliding_ints(n: int) -> list[int]:
    """Distinct ints with one hash value (hash(k * (2**61 - 1)) == 0): a dict of them is built in O(n**2)."""
    return [k * (2**61 - 1) for k in range(1, n + 1)]


def hostile_corpus() -> dict[str, tuple[bytes, str]]:
    """name -> (pickle bytes, regex the refusal must match)."""
    corpus: dict[str, tuple[bytes, str]] = {}
    for protocol in range(6):
        corpus[f"os_system_p{protocol}"] = (
            pickle.dumps(attribution(Reduces(os.system, "echo pwned")), protocol),
            r"refused: (posix|os|nt)\.system is not allowed",
        )
    for name in ("eval", "exec", "getattr", "__import__"):
        corpus[f"builtins_{name}"] = (
            pickle.dumps(Reduces(getattr(builtins, name), "1"), 2),
            rf"refused: (__builtin__|builtins)\.{name} is not allowed",
        )
    corpus["copy_reg_reconstructor"] = (pickle.dumps(Plain(), 0), r"copy_reg\._reconstructor")
    corpus["copyreg_newobj"] = (pickle.dumps(Plain(), 2), r"test_pickles_hostile\.Plain is not allowed")
    corpus["inst_opcode"] = (b"(i__main__\nPlain\n.", r"opcode INST")
    corpus["obj_opcode"] = (raw(P.MARK, P.GLOBAL, b"builtins\nset\n", P.OBJ), r"opcode OBJ")
    corpus["persistent_id"] = (raw(short_str("x"), P.BINPERSID), r"opcode BINPERSID")
    corpus["extension_code"] = (raw(P.EXT1, b"\x01"), r"opcode EXT1")
    corpus["object_array"] = (
        pickle.dumps(attribution(np.array([1, "a", None], dtype=object)), 4),
        r"dtype 'O8'",
    )
    corpus["structured_array"] = (pickle.dumps(np.zeros(2, dtype=[("a", "f4")]), 4), r"dtype 'V4'")
    ndarray_global = P.GLOBAL + b"numpy\nndarray\n"
    corpus["ndarray_called"] = (
        raw(ndarray_global, P.BININT + struct.pack("<i", 2**30), P.TUPLE1, P.TUPLE1, P.REDUCE),
        r"refused call numpy\.ndarray",
    )
    corpus["reconstruct_huge_shape"] = (
        raw(
            P.GLOBAL + b"numpy._core.multiarray\n_reconstruct\n",
            ndarray_global,
            P.BININT + struct.pack("<i", 2**30),
            P.BININT + struct.pack("<i", 2**30),
            P.TUPLE2,
            P.SHORT_BINBYTES + b"\x01b",
            P.TUPLE3,
            P.REDUCE,
        ),
        r"array of shape \(1073741824, 1073741824\) exceeds the limits max_elements",
    )
    corpus["laughs_268_bytes"] = (pickle.dumps(attribution(laughs(29)), 4), r"max_elements")
    corpus["laughs_protocol0"] = (pickle.dumps(attribution(laughs(29)), 0), r"max_elements")
    big_string = "x" * 2**20
    corpus["shared_string_1gb"] = (pickle.dumps(attribution([big_string] * 1024), 4), r"max_bytes")
    corpus["memo_slot_4g"] = (
        raw(P.EMPTY_LIST, P.LONG_BINPUT + struct.pack("<I", 2**32 - 16)),
        r"memo slot 4,294,967,280 exceeds the limit max_memo",
    )
    corpus["memo_read_unset"] = (raw(P.BINGET + b"\x07"), r"memo slot 7 read before it was written")
    corpus["deep_lists"] = (deep(100_000), r"max_depth = 32")
    corpus["deep_dict_values"] = (
        raw((P.EMPTY_DICT + short_str("k")) * 20_000, P.EMPTY_DICT, P.SETITEM * 20_000),
        r"max_depth = 32",
    )
    corpus["cycle"] = (raw(P.EMPTY_LIST, P.MEMOIZE, P.BINGET + b"\x00", P.APPEND), r"reference cycle")
    many = pickle.dumps(list(range(DEFAULT_LIMITS.max_opcodes)), 4)
    corpus["too_many_opcodes"] = (many, r"max_opcodes")
    keys = colliding_ints(DEFAULT_LIMITS.max_hashed_keys + 1)
    corpus["colliding_dict_keys"] = (pickle.dumps(dict.fromkeys(keys)), r"dict with more than 4,096 keys")
    corpus["colliding_set_p2"] = (pickle.dumps(set(keys), 2), r"set with more than 4,096 keys")
    corpus["colliding_frozenset_p4"] = (pickle.dumps(frozenset(keys), 4), r"frozenset with more than 4,096 keys")
    corpus["truncated"] = (pickle.dumps(attribution(np.ones((2, 2), np.float32)), 4)[:-30], r"not a valid pickle")
    corpus["bytes8_declares_exabyte"] = (raw(P.BINBYTES8 + struct.pack("<Q", 2**60) + b"abc"), r"not a valid pickle")
    corpus["long_digits"] = (b"L" + b"9" * 100_000 + b"L\n.", r"not a valid pickle")
    corpus["empty_file"] = (b"", r"not a valid pickle")
    corpus["two_objects_left"] = (raw(P.NONE, P.NONE), r"does not end with exactly one object")
    return corpus


CORPUS = hostile_corpus()


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_hostile_pickle_is_refused_within_budget(name, tmp_path):
    data, reason = CORPUS[name]
    path = tmp_path / f"{name}.pkl"
    path.write_bytes(data)
    started = time.process_time()
    with pytest.raises(InvalidInputError, match=rf"{name}\.pkl: .*({reason})") as refused:
        load_attribution_pickle(path)
    elapsed = time.process_time() - started
    assert elapsed < TIME_BUDGET, f"{name}: refused after {elapsed:.2f} s of CPU"
    assert "Traceback" not in str(refused.value)
    tracemalloc.start()
    try:
        with pytest.raises(InvalidInputError):
            load_attribution_pickle(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_BUDGET, f"{name}: {peak / 2**20:.0f} MB traced while refusing"


def test_the_memory_bomb_is_tiny_and_would_be_huge(tmp_path):
    """The probe's numbers: a few hundred bytes whose walk would build 2**40 elements."""
    data = pickle.dumps(attribution(laughs(40)), 4)
    assert len(data) < 1000
    unlimited = PickleLimits(max_elements=2**62, max_bytes=2**62, max_depth=100)
    size = scan_pickle(data, unlimited)
    assert size.elements > 2**40 and size.depth == 42  # dict -> 41 levels of lists -> floats


def test_file_size_limit_is_checked_before_reading(tmp_path):
    path = tmp_path / "big.pkl"
    path.write_bytes(pickle.dumps(attribution(np.zeros((2, 2), np.float32))))
    with pytest.raises(InvalidInputError, match=r"big\.pkl: .* exceeds the limit max_file_bytes = 100"):
        safe_unpickle(path, PickleLimits(max_file_bytes=100))


@pytest.mark.parametrize("protocol", range(6))
def test_plain_arrays_load_in_every_protocol(protocol, tmp_path):
    """The false positives of the probe: `_codecs.encode` (protocols 0-2), `_frombuffer` (5), numpy scalars, sets."""
    explain = np.array([[0, 10.5], [8, 3]], dtype=np.float32)
    extra = {"scores": np.arange(3, dtype=np.int64), "seen": {1, 2}, "t": np.float64(0.25), "raw": b"\x00\xff"}
    path = tmp_path / "ok.pkl"
    path.write_bytes(pickle.dumps(attribution(explain, **extra), protocol))
    loaded = load_attribution_pickle(path)
    np.testing.assert_array_equal(loaded.explain, explain)
    assert loaded.explain.dtype == np.float32 and loaded.input_tokens == ["▁a", "▁b"]
    data = safe_unpickle(path)
    np.testing.assert_array_equal(data["scores"], [0, 1, 2])
    assert data["seen"] == {1, 2} and data["t"] == 0.25 and data["raw"] == b"\x00\xff"


def _as_numpy1(data: bytes) -> bytes:
    """The same pickle as numpy 1.x writes it (module ``numpy.core``): protocol 2 names are text lines."""
    return data.replace(b"numpy._core.", b"numpy.core.")


@pytest.mark.parametrize("protocol", [2, 5])
def test_numpy1_module_names_load(protocol, tmp_path):
    explain = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    data = pickle.dumps(attribution(explain), protocol)
    if protocol >= 4:  # short strings carry their length, and the frame its size: rewrite both
        data = data.replace(b"\x8c\x13numpy._core.numeric", b"\x8c\x12numpy.core.numeric")
        frame_at = data.index(P.FRAME) + 1
        size = struct.unpack("<Q", data[frame_at : frame_at + 8])[0]
        data = data[:frame_at] + struct.pack("<Q", size - 1) + data[frame_at + 8 :]
    else:
        data = _as_numpy1(data)
    assert b"numpy.core." in data
    path = tmp_path / "numpy1.pkl"
    path.write_bytes(data)
    np.testing.assert_array_equal(load_attribution_pickle(path).explain, explain)


def test_ragged_or_text_explain_is_refused_by_name(tmp_path):
    path = tmp_path / "ragged.pkl"
    path.write_bytes(pickle.dumps(attribution([[1.0, 2.0], [3.0]])))
    with pytest.raises(InvalidInputError, match=r"ragged\.pkl: Explain is not a numeric matrix"):
        load_attribution_pickle(path)
    path.write_bytes(pickle.dumps(attribution([["a", "b"], ["c", "d"]])))
    with pytest.raises(InvalidInputError, match=r"Explain holds <U1 values"):
        load_attribution_pickle(path)
    path.write_bytes(pickle.dumps({**attribution(np.zeros((2, 2))), "Input": [1, 2]}))
    with pytest.raises(InvalidInputError, match="Input must be a list of sentencepiece strings"):
        load_attribution_pickle(path)


@pytest.mark.parametrize("protocol", range(6))
def test_code_in_a_refused_pickle_never_runs(protocol, tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(attribution(Reduces(os.system, f"touch {marker}")), protocol))
    with pytest.raises(InvalidInputError, match=r"evil\.pkl: refused"):
        load_attribution_pickle(path)
    assert not marker.exists()
    pickle.loads(path.read_bytes())  # the payload is live: plain pickle runs it
    assert marker.exists()
