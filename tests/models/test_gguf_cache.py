"""GGUF files: integrity checked by sha256 on every load, and their dequantized weights cached as safetensors."""

from __future__ import annotations

import json

import pytest
import torch

from tuneshift._io import file_hash
from tuneshift.errors import ModelNotFoundError
from tuneshift.models import catalog


def test_file_digest_is_remembered_and_recomputed_when_the_file_changes(tmp_path):
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF" + b"\0" * 100)
    first = catalog.file_digest(path)
    assert first == file_hash(path)
    sidecar = json.loads((tmp_path / "m.gguf.sha256.json").read_text())
    assert sidecar["sha256"] == first and sidecar["size"] == 104
    path.write_bytes(b"GGUF" + b"\1" * 50)  # size changes: the stored digest is not trusted
    assert catalog.file_digest(path) == file_hash(path) != first
    (tmp_path / "m.gguf.sha256.json").write_text("{truncated")
    assert catalog.file_digest(path) == file_hash(path)


def test_a_corrupted_cached_gguf_is_refused_by_name(tmp_path):
    entry = catalog.CATALOG.get("smollm2-135m-instruct")
    path = entry.gguf_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"GGUF" + b"\0" * 1000)  # a truncated download
    with pytest.raises(
        ModelNotFoundError, match=r"Q4_1\.gguf fails its sha256 check.*models fetch smollm2-135m-instruct --force"
    ):
        catalog.fetch("smollm2-135m-instruct", root=tmp_path)
    with pytest.raises(ModelNotFoundError, match="missing"):
        catalog.verify("gemma3-270m", root=tmp_path)


@pytest.mark.slow
def test_dequantized_copy_gives_the_gguf_logits(smollm2):
    from transformers import AutoModelForCausalLM

    gguf = catalog.verify("smollm2-135m-instruct", full=True)
    assert smollm2.meta["dequantized_cache"]
    direct = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32).eval()
    ids = smollm2.tokenizer("The dog sleeps on the mat.", return_tensors="pt").input_ids
    with torch.inference_mode():
        assert torch.equal(direct(ids).logits, smollm2.hf_model(ids).logits)
