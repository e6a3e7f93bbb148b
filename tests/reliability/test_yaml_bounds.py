"""Bounded YAML (issue 25): alias bombs, duplicate keys, huge files and absurd counts are refused quickly, in little
memory, with one short line naming the file and line."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tuneshift._yaml import MAX_BYTES, MAX_NODES, clip, parse_yaml
from tuneshift.errors import InvalidInputError
from tuneshift.study import load_zoo
from tuneshift.study.run import load_study

LIMIT = 500 * 2**20  # address space of the process that parses the bomb


def _bomb(indent: str) -> str:
    """Billion laughs: 9 levels of 9 aliases each, 9^9 ≈ 3.9e8 leaves when expanded."""
    lines = [f"{indent}a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{indent}{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


_PARSE = """
import json, resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
from tuneshift.study.run import load_study
start = time.perf_counter()
try:
    load_study(sys.argv[1])
    message = None
except Exception as error:
    message = f"{{type(error).__name__}}: {{error}}"
seconds = time.perf_counter() - start
print(json.dumps({{"message": message, "seconds": seconds,
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def _refused_in_subprocess(path: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _PARSE.format(limit=LIMIT), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("where", ["benchmark_options", "options", "zoo field"])
def test_alias_bomb_refused_under_500_mb_in_under_2_s(tmp_path, where):
    study = tmp_path / "study.yaml"
    head = "models: [t5-small]\nbenchmarks: [Futrell2018-pearsonr]\n"
    if where == "zoo field":
        zoo = tmp_path / "zoo.yaml"
        zoo.write_text("models:\n  t5-small:\n    notes:\n" + _bomb("      "))
        study.write_text(head + "zoo: [zoo.yaml]\n")
        bomb = zoo
    else:
        study.write_text(head + f"{where}:\n" + _bomb("  "))
        bomb = study
    assert 450 < bomb.stat().st_size < 560  # the probe's 490-byte file, give or take the field's name
    result = _refused_in_subprocess(study)
    assert result["message"].startswith(f"InvalidInputError: {bomb}:")
    assert "aliases are not accepted" in result["message"] and len(result["message"]) < 300
    assert result["seconds"] < 2.0, result


def test_duplicate_keys_refused_with_file_and_both_lines(tmp_path):
    zoo = tmp_path / "zoo.yaml"
    zoo.write_text("models:\n  mine:\n    spec: /models/mine\n    params_b: 0.1\n    params_b: 7\n")
    with pytest.raises(InvalidInputError, match=rf"^{zoo}:5: duplicate key 'params_b' \(first at line 4\)"):
        load_zoo([zoo])
    study = tmp_path / "study.yaml"
    study.write_text("models: [t5-small]\nbenchmarks: [Futrell2018-pearsonr]\nmodels: [t5-large]\n")
    with pytest.raises(InvalidInputError, match=rf"^{study}:3: duplicate key 'models' \(first at line 1\)"):
        load_study(study)


def test_52_mb_file_of_duplicate_names_gives_one_short_line(tmp_path):
    path = tmp_path / "study.yaml"
    line = "  - {name: same-model-name-repeated-over-and-over, spec: /models/x}\n"
    with path.open("w") as handle:
        handle.write("benchmarks: [Futrell2018-pearsonr]\nmodels:\n")
        handle.write(line * (52_000_000 // len(line) + 1))
    start = time.perf_counter()
    with pytest.raises(InvalidInputError) as error:
        load_study(path)
    assert time.perf_counter() - start < 1.0
    message = str(error.value)
    assert len(message) < 250 and message.startswith(f"{path}: 52,") and f"at most {MAX_BYTES:,}" in message


def test_980k_models_refused_by_the_value_count_quickly(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text("benchmarks: [Futrell2018-pearsonr]\nmodels: [" + ",".join(["m"] * 980_000) + "]\n")
    assert path.stat().st_size < MAX_BYTES  # under the size limit: the count is what refuses it
    start = time.perf_counter()
    with pytest.raises(InvalidInputError, match=rf"more than {MAX_NODES:,} values"):
        load_study(path)
    assert time.perf_counter() - start < 2.0


def test_quoted_input_is_clipped_and_nesting_and_encoding_checked(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(f"models: [t5-small]\nbenchmarks: [Futrell2018-pearsonr]\noptions: {{dtype: {'k' * 100_000}}}\n")
    with pytest.raises(InvalidInputError, match=r":3: options.dtype 'k+… \(100,000 characters\)") as error:
        load_study(path)
    assert len(str(error.value)) < 400
    with pytest.raises(InvalidInputError, match="nested more than 64 levels"):
        parse_yaml("a: " + "[" * 100 + "]" * 100, "deep.yaml")
    path.write_bytes(b"models: [caf\xe9]\nbenchmarks: [Futrell2018-pearsonr]\n")
    with pytest.raises(InvalidInputError, match=rf"^{path}:1: not UTF-8"):
        load_study(path)
    assert clip(list(range(10**6))) == "<list of 1000000 items>"
