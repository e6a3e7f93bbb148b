"""Never run repository code (issue 25): a model folder whose config asks for its own Python files is refused in
one line, whatever is on stdin, and every transformers loading call passes ``trust_remote_code=False``."""

from __future__ import annotations

import ast
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import transformers

import tuneshift
from tuneshift.errors import RemoteCodeError
from tuneshift.models import _guard, load_model
from tuneshift.models.load import describe_model

YES = "y\n" * 2000  # every prompt transformers could show answered "yes"


def hostile_folder(root: Path, marker: Path) -> Path:
    """A model folder with an unknown model_type whose auto_map points at a .py file that writes `marker`."""
    folder = root / "custom-model"
    folder.mkdir()
    auto_map = {"AutoConfig": "modeling_evil.EvilConfig", "AutoModelForCausalLM": "modeling_evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps({"model_type": "evilnet", "auto_map": auto_map}))
    (folder / "modeling_evil.py").write_text(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n")
    return folder


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Caches and transformers' module folder under tmp_path, and no hub."""
    env = {
        "TUNESHIFT_CACHE": str(tmp_path / "cache"),
        "TUNESHIFT_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_MODULES_CACHE": str(tmp_path / "hf-modules"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


#: Runs `tuneshift ARGS...` for each JSON argument list on stdin's first line, in one process (the imports take most
#: of a CLI call's time), with the rest of stdin — the "y" answers — left for any prompt; prints the exit codes.
DRIVER = """
import json, sys
from tuneshift.cli.main import main
codes = []
for argv in json.loads(sys.stdin.readline()):
    sys.argv = ["tuneshift", *argv]
    try:
        main()
    except SystemExit as done:
        codes.append(done.code)
    sys.stderr.write("\\n--- end of command ---\\n")
print(json.dumps(codes))
"""


def test_cli_refuses_repository_code_in_one_line_with_yes_on_stdin(tmp_path, isolated):
    marker = tmp_path / "MARKER"
    folder = hostile_folder(tmp_path, marker)
    commands = [["models", "info", str(folder)], ["score", "--model", str(folder), "--out", str(tmp_path / "o")]]
    done = subprocess.run(
        [sys.executable, "-c", DRIVER],
        input=json.dumps(commands) + "\n" + YES,
        capture_output=True,
        text=True,
        env={**os.environ, **isolated},
        timeout=600,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [1, 1], done.stderr
    outputs = done.stderr.split("--- end of command ---")[:2]
    for output in outputs:
        lines = output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), lines
        assert "config.json has model_type 'evilnet' with auto_map → modeling_evil.py" in lines[0]
        assert "tuneshift never runs repository code" in lines[0] and "supported family" in lines[0]
    assert not marker.exists()


def test_transformers_itself_refuses_with_the_loading_kwargs(tmp_path, isolated, monkeypatch):
    """Past tuneshift's own config check, the one place's trust_remote_code=False stops transformers' prompt."""
    marker = tmp_path / "MARKER"
    folder = hostile_folder(tmp_path, marker)
    monkeypatch.setattr(sys, "stdin", io.StringIO(YES))
    with pytest.raises(ValueError, match="trust_remote_code"):
        transformers.AutoConfig.from_pretrained(folder, **_guard.loading_kwargs())
    assert not marker.exists()


def test_custom_tokenizer_code_is_refused_by_name(tiny_model_dirs, tmp_path, isolated, monkeypatch):
    """A supported architecture whose tokenizer_config.json points at its own tokenizer class in a .py file."""
    marker = tmp_path / "MARKER"
    folder = shutil.copytree(tiny_model_dirs["llama"], tmp_path / "llama")
    settings = json.loads((folder / "tokenizer_config.json").read_text())
    settings.update(tokenizer_class="EvilTokenizer", auto_map={"AutoTokenizer": ["evil_tokenizer.EvilTokenizer", None]})
    (folder / "tokenizer_config.json").write_text(json.dumps(settings))
    (folder / "evil_tokenizer.py").write_text(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n")
    monkeypatch.setattr(sys, "stdin", io.StringIO(YES))
    with pytest.raises(RemoteCodeError, match=r"the tokenizer of .*llama needs its repository's own Python code"):
        load_model(folder)
    assert not marker.exists()


def test_a_cached_hub_model_with_custom_code_is_refused(tmp_path, isolated, monkeypatch):
    """A hub id whose cached snapshot asks for its own code: transformers, told trust_remote_code=False, refuses
    without a prompt, and the refusal is translated into one line."""
    marker = tmp_path / "MARKER"
    repo = tmp_path / "hub" / "models--some-org--custom-model"
    revision = "0" * 40
    shutil.copytree(hostile_folder(tmp_path, marker), repo / "snapshots" / revision)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(sys, "stdin", io.StringIO(YES))
    with pytest.raises(RemoteCodeError, match=r"^some-org/custom-model needs its repository's own Python code"):
        load_model("some-org/custom-model")
    assert not marker.exists()


def test_every_loading_call_passes_trust_remote_code_false(tiny_model_dirs, monkeypatch):
    """Record the keyword arguments of every transformers loading call that load_model and describe_model make."""
    seen: list[tuple[str, dict]] = []
    classes = (transformers.AutoConfig, transformers.AutoTokenizer, transformers.AutoModelForCausalLM)
    for cls in classes:
        for method in ("from_pretrained", "from_config"):
            if not hasattr(cls, method):
                continue
            original = getattr(cls, method).__func__

            def recorder(klass, *args, _original=original, _name=f"{cls.__name__}.{method}", **kwargs):
                seen.append((_name, kwargs))
                return _original(klass, *args, **kwargs)

            monkeypatch.setattr(cls, method, classmethod(recorder))
    load_model(tiny_model_dirs["llama"])
    load_model(tiny_model_dirs["llama"], random_init=True)
    describe_model(tiny_model_dirs["llama"])
    names = {name for name, _ in seen}
    assert {
        "AutoConfig.from_pretrained",
        "AutoTokenizer.from_pretrained",
        "AutoModelForCausalLM.from_pretrained",
    } <= names
    assert "AutoModelForCausalLM.from_config" in names
    assert all(kwargs.get("trust_remote_code") is False for _, kwargs in seen), seen


def test_loading_calls_in_the_source_go_through_the_one_place():
    """Every ``*.from_pretrained``/``*.from_config`` call of a transformers class in src/tuneshift spreads
    ``_guard.loading_kwargs(...)`` (directly, or through a name assigned from it in the same module). PEFT adapter
    loading (``peft.PeftModel.from_pretrained``) reads weights and JSON only and is not a transformers call."""
    offenders = []
    for path in sorted(Path(tuneshift.__file__).parent.rglob("*.py")):
        source = path.read_text()
        if "from_pretrained" not in source and "from_config" not in source:
            continue
        tree = ast.parse(source, filename=str(path))
        nodes = list(ast.walk(tree))
        guarded = {
            target.id
            for node in nodes
            if isinstance(node, ast.Assign) and _calls_loading_kwargs(node.value)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for call in [node for node in nodes if isinstance(node, ast.Call)]:
            func = call.func
            if not (isinstance(func, ast.Attribute) and func.attr in ("from_pretrained", "from_config")):
                continue
            if ast.unparse(func.value).startswith("peft."):
                continue
            spread = [kw.value for kw in call.keywords if kw.arg is None]
            if not any(_calls_loading_kwargs(v) or (isinstance(v, ast.Name) and v.id in guarded) for v in spread):
                offenders.append(f"{path.name}:{call.lineno}: {ast.unparse(call)[:100]}")
    assert not offenders, "route these through tuneshift.models._guard.loading_kwargs:\n" + "\n".join(offenders)


def _calls_loading_kwargs(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and ast.unparse(node.func).endswith("loading_kwargs")
