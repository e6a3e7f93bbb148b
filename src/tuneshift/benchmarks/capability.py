"""Capability benchmarks measured through lm-evaluation-harness: ``MMLU``, ``BBH`` and ``WikiText2-nwp``.

lm-eval is the engine: each benchmark builds lm-eval task configs from lm-eval's *own* task files
(``tasks/mmlu/default/mmlu_<subject>.yaml``, ``tasks/bbh/fewshot|cot_fewshot/<task>.yaml``: prompt, few-shot
construction, generation settings, answer extraction, metric) with only the data source replaced by local JSON
files (``dataset_path: json``, no hub), and runs them with :func:`lm_eval.simple_evaluate` on the subject wrapped as
an lm-eval ``LM`` (:class:`tuneshift.models.harness.HarnessLM`). Numbers therefore equal ``lm_eval --model hf`` on
the same files (tests/benchmarks/test_capability_parity.py).

Protocol facts (deviations from Aw et al. 2023, who used InstructEval, are listed in :data:`DEVIATIONS`):

- MMLU: accuracy of the option " A".." D" with the highest log-likelihood after lm-eval's prompt; 0-shot by
  default. The dev split is not in the data file, so k-shot exemplars are the first k questions *of the same
  subject's test set* other than the question itself (lm-eval's ``first_n`` sampler with ``fewshot_split: test``
  drops the evaluated document). Categories (STEM, humanities, social sciences, other) are lm-eval's, weighted by
  size, as is the overall accuracy.
- BBH: exact match of the greedy generation with lm-eval's 3-shot answer-only prompts (Suzgun et al.'s exemplars),
  or with ``chain_of_thought`` the 3-shot CoT prompts and lm-eval's "the answer is (.*)" extraction. Categories are
  derived (:data:`tuneshift.data.bbh.CATEGORIES`: neither Aw et al. nor InstructEval publish theirs; what was
  searched is listed there).
- WikiText2-nwp: every token of each article scored once, in windows of ``window`` tokens advancing by ``stride``
  (overlapping left context); the article's first token conditioned on BOS (else EOS). ``raw`` is the mean
  next-token cross-entropy in nats per token; word perplexity is exp(total NLL / words) with words counted by
  whitespace, as lm-eval's ``word_perplexity``.

Results: per-item values (``correct(item)`` with ``prediction``, or ``loss(item)`` with ``n_tokens``) for paired
comparisons, and one score row per aggregate (``measure``: ``overall``, the categories, ``subject:<name>`` /
``task:<name>``), layer NaN. ``PRESETS["aw2023"]`` is the paper's setting as a ``score(options=...)`` mapping.
Resuming: a finished benchmark is a unit of the results store; within one, lm-eval's response cache (per model
weights and dtype, :func:`response_cache`) keeps every answered request, so an interrupted run picks up where it
stopped (``cache=False`` turns it off).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from tuneshift.benchmarks._base import BENCHMARKS, SCORE_COLUMNS, Benchmark, BenchmarkResult
from tuneshift.config import cache_root
from tuneshift.data import bbh as bbh_data
from tuneshift.data import mmlu as mmlu_data
from tuneshift.data import wikitext2 as wikitext_data
from tuneshift.errors import InvalidInputError, InvalidParameterError
from tuneshift.models.subject import ReadoutOptions

AW2023 = "Aw, Montariol, AlKhamissi, Schrimpf, Bosselut (2023). Instruction-tuning Aligns LLMs to the Human Brain."
#: The paper's setting (InstructEval: MMLU 5-shot, BBH 3-shot answer-only), as ``score(..., options=PRESETS[name])``.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "aw2023": {"MMLU": {"num_fewshot": 5}, "BBH": {"num_fewshot": 3, "chain_of_thought": False}},
}
DEVIATIONS = (
    "MMLU k-shot exemplars come from the subject's test questions (first k, never the question itself), not the "
    "dev split, which the data file lacks.",
    "Prompts, few-shot formatting and answer extraction are lm-evaluation-harness 0.4's, not InstructEval's.",
    "BBH categories are derived from Suzgun et al.'s algorithmic/NLP split and the task descriptions: neither Aw "
    "et al. nor InstructEval (declare-lab/instruct-eval@49bbd2ce) publishes a task-to-category mapping.",
    "BBH overall is the mean over examples (lm-eval's group weighting); InstructEval's bbh.py prints the unweighted "
    "mean over the 27 tasks, uses each task's first 3 test examples as exemplars (scoring the rest) with an "
    "'Answer:' prompt, and counts a generation correct when it starts with the target.",
    "BBH answer-only generations are compared without surrounding whitespace (lm-eval's remove_whitespace filter; "
    "option strip=false compares the raw generation as lm-eval's own config does).",
    "WikiText-2 NWP loss: tokenized release (with <unk>), per-article documents, overlapping windows; Aw et al. do "
    "not state their windowing.",
)


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


@dataclass(frozen=True)
class CapabilityOptions(ReadoutOptions):
    """Options every capability benchmark takes. limit: items per subject/task (0 = all; for quick looks).
    chat_template: wrap prompts in the model's chat template (lm-eval's; few-shot as multi-turn)."""

    limit: int = 0
    chat_template: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.limit < 0:
            raise InvalidParameterError("option limit", "an integer >= 0 (0 = every item)", self.limit)


@dataclass(frozen=True)
class MMLUOptions(CapabilityOptions):
    """num_fewshot: exemplars per question (same subject's test questions). subjects: comma-separated lm-eval
    subject names (empty = all 57). data: an mmlu.jsonl path (empty = the fetched file). one_pass: score the
    four letters from one forward pass (needs single-token letters; False = one pass per option, same numbers)."""

    num_fewshot: int = 0
    subjects: str = ""
    data: str = ""
    one_pass: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_fewshot < 0:
            raise InvalidParameterError("option num_fewshot", "an integer >= 0", self.num_fewshot)
        known = mmlu_data.subject_categories()
        unknown = [s for s in _names(self.subjects) if s not in known]
        if unknown:
            raise InvalidParameterError("option subjects", f"MMLU subjects among {sorted(known)}", unknown)


@dataclass(frozen=True)
class BBHOptions(CapabilityOptions):
    """num_fewshot: 0-3 of Suzgun et al.'s exemplars. chain_of_thought: CoT exemplars and answer extraction.
    tasks: comma-separated task names (empty = all 27). task_dir: a folder of ``<task>.json`` files in the release
    format (empty = the bundled ones). max_gen_toks: generation budget (lm-eval's default for CoT is 1024).
    strip: compare answer-only generations without their surrounding whitespace (lm-eval's ``remove_whitespace``
    filter); false = lm-eval's own config, which compares the raw generation — never equal for tokenizers that decode
    the answer's leading space (byte-level BPE, Gemma)."""

    num_fewshot: int = 3
    chain_of_thought: bool = False
    tasks: str = ""
    task_dir: str = ""
    max_gen_toks: int = 0
    strip: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.num_fewshot <= 3:
            raise InvalidParameterError(
                "option num_fewshot", "0, 1, 2 or 3 (BBH has three exemplars)", self.num_fewshot
            )
        for task in _names(self.tasks):
            bbh_data.TASKS.get(task)  # UnknownNameError with near matches, before any model loads


@dataclass(frozen=True)
class NWPOptions(CapabilityOptions):
    """window: tokens the model sees per window (0 = min(model context, 1024)); stride: new tokens scored per
    window (0 = window // 2); data: a WikiText test.txt path (empty = bundled)."""

    window: int = 0
    stride: int = 0
    data: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.window < 0 or self.stride < 0 or (self.window and self.stride > self.window):
            raise InvalidParameterError("options window/stride", "0 <= stride <= window", (self.window, self.stride))


# ------------------------------------------------------------------------------------------------ lm-eval tasks
def lm_eval_task_file(*parts: str) -> Path:
    """A task file shipped with lm-evaluation-harness (``tasks/<parts>``)."""
    import lm_eval

    return Path(lm_eval.__file__).parent.joinpath("tasks", *parts)


def local_task(base: Path, name: str, data_file: Path, **overrides: Any) -> dict:
    """lm-eval's task config `base` (includes resolved) reading its test split from the JSON-lines `data_file`."""
    from lm_eval.tasks._yaml_loader import load_yaml

    config = load_yaml(base, resolve_func=True)
    config.pop("tag", None)
    return {
        **config,
        "task": name,
        "dataset_path": "json",
        "dataset_name": None,
        "dataset_kwargs": {"data_files": {"test": str(data_file)}},
        "test_split": "test",
        **overrides,
    }


def mmlu_tasks(questions: pd.DataFrame, folder: Path) -> dict[str, dict]:
    """subject → lm-eval task config over that subject's questions (written to `folder` as JSON lines); few-shot
    exemplars from the same file (``fewshot_split: test``; lm-eval drops the evaluated question)."""
    tasks = {}
    for subject, group in questions.groupby("subject", sort=True):
        path = folder / f"mmlu_{subject}.jsonl"
        group[["question", "choices", "answer"]].to_json(path, orient="records", lines=True, force_ascii=False)
        base = lm_eval_task_file("mmlu", "default", f"mmlu_{subject}.yaml")
        tasks[subject] = local_task(base, f"tuneshift_mmlu_{subject}", path, fewshot_split="test")
    return tasks


#: Answer-only BBH generations compared without surrounding whitespace (``BBHOptions.strip``).
STRIP_FILTER = [{"name": "strip", "filter": [{"function": "remove_whitespace"}, {"function": "take_first"}]}]


def bbh_tasks(
    examples: pd.DataFrame, folder: Path, *, chain_of_thought: bool, max_gen_toks: int = 0, strip: bool = True
) -> dict:
    """task → lm-eval's BBH task config (answer-only ``fewshot`` or ``cot_fewshot``) over `examples`; `strip` adds
    :data:`STRIP_FILTER` to the answer-only configs (CoT extracts its answer with lm-eval's regex already)."""
    style = "cot_fewshot" if chain_of_thought else "fewshot"
    tasks = {}
    for task, group in examples.groupby("task", sort=True):
        path = folder / f"bbh_{task}.jsonl"
        group[["input", "target"]].to_json(path, orient="records", lines=True, force_ascii=False)
        config = local_task(lm_eval_task_file("bbh", style, f"{task}.yaml"), f"tuneshift_bbh_{style}_{task}", path)
        if max_gen_toks:
            config["generation_kwargs"] = {**config["generation_kwargs"], "max_gen_toks": max_gen_toks}
        if strip and not chain_of_thought:
            config["filter_list"] = STRIP_FILTER
        tasks[task] = config
    return tasks


def wikitext_task(articles: pd.DataFrame, folder: Path) -> dict:
    """An lm-eval rolling log-likelihood task over the articles (lm-eval's wikitext metrics)."""
    path = folder / "wikitext2.jsonl"
    articles[["text"]].to_json(path, orient="records", lines=True, force_ascii=False)
    metrics = [
        {"metric": "word_perplexity", "aggregation": "weighted_perplexity", "higher_is_better": False},
        {"metric": "byte_perplexity", "aggregation": "weighted_perplexity", "higher_is_better": False},
        {"metric": "bits_per_byte", "aggregation": "bits_per_byte", "higher_is_better": False},
    ]
    return {
        "task": "tuneshift_wikitext2",
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(path)}},
        "test_split": "test",
        "output_type": "loglikelihood_rolling",
        "doc_to_text": "",
        "doc_to_target": "{{text}}",
        "metric_list": metrics,
    }


def evaluate(
    lm,
    tasks: list[dict],
    *,
    num_fewshot: int | None = None,
    chat_template: bool = False,
    limit: int = 0,
    responses: str | None = None,
) -> dict:
    """:func:`lm_eval.simple_evaluate` on inline task configs (no task index, no hub), samples kept, no bootstrap;
    `limit` evaluates the first N documents of each task (exemplars still come from the whole task); `responses`:
    lm-eval's response cache (a path prefix, see :func:`response_cache`)."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    with _no_environment_report():
        return lm_eval.simple_evaluate(
            model=lm,
            tasks=tasks,
            task_manager=TaskManager(include_defaults=False),
            num_fewshot=num_fewshot,
            limit=limit or None,
            use_cache=responses,
            apply_chat_template=chat_template,
            fewshot_as_multiturn=chat_template,
            log_samples=True,
            bootstrap_iters=0,
        )


@contextmanager
def _no_environment_report() -> Iterator[None]:
    """Skip what lm-eval's ``simple_evaluate`` adds to its results about the machine: the git commit of the working
    directory (it runs ``git``, which prints "fatal: not a git repository" outside one) and torch's environment
    report (seconds of subprocesses). tuneshift records its own provenance and never reads either."""
    from lm_eval import evaluator

    saved = evaluator.get_git_commit_hash, evaluator.add_env_info
    evaluator.get_git_commit_hash, evaluator.add_env_info = lambda: None, lambda storage: None
    try:
        yield
    finally:
        evaluator.get_git_commit_hash, evaluator.add_env_info = saved


# ------------------------------------------------------------------------------------------------ results
def aggregate_rows(values: pd.Series, groups: dict[str, pd.Series]) -> pd.DataFrame:
    """Score rows (layer NaN, one per aggregate): ``overall`` then each grouping's means, weighted by items."""
    rows = [("overall", float(values.mean()), len(values))]
    for prefix, labels in groups.items():
        means = values.groupby(labels.to_numpy(), sort=True).agg(["mean", "size"])
        rows += [(f"{prefix}{name}", float(row["mean"]), int(row["size"])) for name, row in means.iterrows()]
    return rows_frame(rows)


def rows_frame(rows: list[tuple[str, float, int]]) -> pd.DataFrame:
    """SCORE_COLUMNS rows (model/benchmark filled by the runner, no ceiling) with ``measure`` and ``n``."""
    frame = pd.DataFrame(rows, columns=["measure", "raw", "n"])
    frame["model"] = ""
    frame["benchmark"] = ""
    frame["layer"] = np.nan
    frame["ceiling"] = np.nan
    frame["normalized"] = frame["raw"]
    return frame[[*SCORE_COLUMNS, "measure", "n"]]


def _item_values(frame: pd.DataFrame, name: str, values: np.ndarray, coords: list[str], **extra) -> xr.Dataset:
    ds = xr.Dataset(
        {name: ("item", values), **{k: ("item", np.asarray(v)) for k, v in extra.items()}},
        coords={
            "item": frame["item"].to_numpy(dtype=str),
            **{c: ("item", frame[c].to_numpy(dtype=str)) for c in coords},
        },
    )
    ds.attrs.update(paired_unit="item", measure=name)
    return ds


def _lm(subject, *, batch_size: int, **kwargs):
    """The subject as an lm-eval LM (a loaded language model: hub id, directory, GGUF, catalog name, tuned)."""
    from tuneshift.models.harness import HarnessLM

    if not (hasattr(subject, "hf_model") and hasattr(subject, "tokenizer")):
        raise InvalidParameterError(
            "subject", "a loaded language model (capability benchmarks run the model itself)", subject.name
        )
    return HarnessLM(subject, batch_size=batch_size, **kwargs)


def response_cache(subject, enabled: bool) -> str | None:
    """lm-eval's response cache for this model's weights and dtype (``<cache_root>/lm-eval/``): every answered
    request is kept, so an interrupted MMLU/BBH run resumes where it stopped and a rerun with other aggregates costs
    nothing. None when `enabled` is False (``cache=False``, ``--no-cache``)."""
    if not enabled:
        return None
    folder = cache_root() / "lm-eval"
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder / f"{subject.fingerprint}-{subject.variant.get('dtype', '')}")


def check_letters(tokenizer, context: str = "Answer:") -> None:
    """Refuse a tokenizer that splits an answer letter " A".." D" after `context` into several tokens: MMLU's
    one-pass scoring reads one token per option (the fix: ``one_pass=False``, one pass per option)."""
    base = tokenizer(context, add_special_tokens=False)["input_ids"]
    split = {}
    for letter in mmlu_data.LETTERS:
        whole = tokenizer(context + " " + letter, add_special_tokens=False)["input_ids"]
        if whole[: len(base)] != base or len(whole) - len(base) != 1:
            split[letter] = tokenizer.convert_ids_to_tokens(whole[len(base) :] if whole[: len(base)] == base else whole)
    if split:
        raise InvalidInputError(
            f"This tokenizer does not encode each answer letter after {context!r} as one token ({split}); MMLU's "
            "one-pass scoring needs that. Score with the MMLU option one_pass=false (one forward pass per option: "
            "the same numbers, four times the cost)."
        )


def run_mmlu(subject, options: MMLUOptions, *, cache: bool = True, progress: bool = True) -> BenchmarkResult:
    questions = mmlu_data.load_mmlu(options.data or None)
    if options.subjects:
        questions = questions[questions["subject"].isin(_names(options.subjects))]
    if options.one_pass:
        check_letters(subject.tokenizer)
    lm = _lm(subject, batch_size=options.batch_size, one_pass=options.one_pass, show_progress=progress)
    with tempfile.TemporaryDirectory(prefix="tuneshift-mmlu-") as folder:
        tasks = mmlu_tasks(questions, Path(folder))
        output = evaluate(
            lm,
            list(tasks.values()),
            num_fewshot=options.num_fewshot,
            chat_template=options.chat_template,
            limit=options.limit,
            responses=response_cache(subject, cache),
        )
    frame = _samples(_first(questions, "subject", options.limit), "subject", tasks, output)
    choice = np.array([np.argmax([r[0] for r in s["filtered_resps"]]) for s in frame["sample"]])
    correct = choice == frame["answer"].to_numpy()
    values = _item_values(
        frame, "correct", correct, ["subject", "category"], prediction=np.array(mmlu_data.LETTERS)[choice]
    )
    scores = aggregate_rows(pd.Series(correct, dtype=float), {"": frame["category"], "subject:": frame["subject"]})
    return BenchmarkResult(scores, values=values, details=_details(options, lm, len(frame)))


def run_bbh(subject, options: BBHOptions, *, cache: bool = True, progress: bool = True) -> BenchmarkResult:
    examples = bbh_data.load_bbh(_names(options.tasks) or None, task_dir=options.task_dir or None)
    lm = _lm(subject, batch_size=options.batch_size, show_progress=progress)
    with tempfile.TemporaryDirectory(prefix="tuneshift-bbh-") as folder:
        tasks = bbh_tasks(
            examples,
            Path(folder),
            chain_of_thought=options.chain_of_thought,
            max_gen_toks=options.max_gen_toks,
            strip=options.strip,
        )
        output = evaluate(
            lm,
            list(tasks.values()),
            num_fewshot=options.num_fewshot,
            chat_template=options.chat_template,
            limit=options.limit,
            responses=response_cache(subject, cache),
        )
    frame = _samples(_first(examples, "task", options.limit), "task", tasks, output)
    correct = np.array([bool(s["exact_match"]) for s in frame["sample"]])
    prediction = np.array([str(s["filtered_resps"][0]) for s in frame["sample"]])
    values = _item_values(frame, "correct", correct, ["task", "category"], prediction=prediction)
    scores = aggregate_rows(pd.Series(correct, dtype=float), {"": frame["category"], "task:": frame["task"]})
    return BenchmarkResult(scores, values=values, details=_details(options, lm, len(frame)))


def run_nwp(subject, options: NWPOptions, *, cache: bool = True, progress: bool = True) -> BenchmarkResult:
    articles = wikitext_data.load_wikitext2(options.data or None)
    if options.limit:
        articles = articles.head(options.limit)
    window = options.window or min(subject.max_length, 1024)
    lm = _lm(
        subject,
        batch_size=options.batch_size,
        max_length=window,
        rolling_stride=options.stride or max(1, window // 2),
        show_progress=progress,
    )
    with tempfile.TemporaryDirectory(prefix="tuneshift-wikitext-") as folder:
        task = wikitext_task(articles, Path(folder))
        output = evaluate(lm, [task], chat_template=False)
    samples = output["samples"][task["task"]]
    texts = [s["arguments"][0][0] for s in sorted(samples, key=lambda s: s["doc_id"])]
    nll = -np.array([s["filtered_resps"][0] for s in sorted(samples, key=lambda s: s["doc_id"])], dtype=float)
    tokens = np.array([lm.token_counts[text] for text in texts])
    words = articles["n_words"].to_numpy()
    values = _item_values(articles, "loss", nll / tokens, ["title"], n_tokens=tokens, n_words=words)
    values.attrs["weight"] = "n_tokens"  # the score is the token-weighted mean of the per-article losses
    loss = float(nll.sum() / tokens.sum())
    scores = rows_frame(
        [
            ("loss", loss, int(tokens.sum())),
            ("word_perplexity", math.exp(nll.sum() / words.sum()), int(words.sum())),
            ("token_perplexity", math.exp(loss), int(tokens.sum())),
        ]
    )
    details = {**_details(options, lm, len(articles)), "window": window, "stride": lm.rolling_stride}
    return BenchmarkResult(scores, values=values, details=details)


def _first(items: pd.DataFrame, unit: str, limit: int) -> pd.DataFrame:
    """The items lm-eval evaluates with `limit`: the first `limit` of each subject/task (all when 0)."""
    return items.groupby(unit, sort=False).head(limit) if limit else items


def _samples(items: pd.DataFrame, unit: str, tasks: dict[str, dict], output: dict) -> pd.DataFrame:
    """`items` in task order with lm-eval's logged sample of each (``sample`` column), matched by doc_id."""
    parts = []
    for name, config in tasks.items():
        group = items[items[unit] == name].reset_index(drop=True)
        samples = sorted(output["samples"][config["task"]], key=lambda s: s["doc_id"])
        if len(samples) != len(group):
            raise InvalidInputError(f"lm-eval returned {len(samples)} results for {len(group)} items of {name}.")
        parts.append(group.assign(sample=samples))
    return pd.concat(parts, ignore_index=True)


def _details(options: CapabilityOptions, lm, n_items: int) -> dict:
    return {"n_items": n_items, "forward_rows": lm.forward_rows, "chat_template": options.chat_template}


def _register(
    identifier: str,
    run,
    options: type[CapabilityOptions],
    description: str,
    citation: str,
    files,
    *,
    higher_is_better: bool = True,
    version: int = 1,
) -> None:
    BENCHMARKS.add(
        identifier,
        Benchmark(
            identifier,
            "capability",
            run,
            available=lambda: all(path.is_file() for path in files()),
            description=description,
            options=options,
            files=files,
            version=version,
            citation=citation,
            in_default=False,
            higher_is_better=higher_is_better,
        ),
    )


_register(
    "MMLU",
    run_mmlu,
    MMLUOptions,
    "MMLU accuracy (lm-eval prompt, options scored by log-likelihood): overall, 4 categories, 57 subjects",
    f"{mmlu_data.CITATION} Protocol: {AW2023}",
    lambda: [mmlu_data.default_path()],
)
_register(
    "BBH",
    run_bbh,
    BBHOptions,
    "BIG-Bench Hard exact match (lm-eval 3-shot prompts, greedy): overall, 5 categories, 27 tasks",
    f"{bbh_data.CITATION} Protocol: {AW2023}",
    lambda: sorted(bbh_data.bundled_dir().glob("*.json.gz")),
    version=2,  # 2: answer-only generations stripped (strip=True): version-1 results are recomputed
)
_register(
    "WikiText2-nwp",
    run_nwp,
    NWPOptions,
    "Next-word-prediction loss on WikiText-2 test (nats/token, overlapping windows) and word perplexity",
    f"{wikitext_data.CITATION} Protocol: {AW2023}",
    lambda: [wikitext_data.bundled_path()],
    higher_is_better=False,  # a loss (nats/token): lower is better
)


# ------------------------------------------------------------------------------------------------ for the study
#: score-row measure → property column, per benchmark (the names study/properties.py reads: mmlu, bbh, nwp_loss)
PROPERTY_COLUMNS = {
    "MMLU": {"overall": "mmlu", **{c: f"mmlu_{c}" for c in ("stem", "humanities", "social_sciences", "other")}},
    "BBH": {"overall": "bbh", **{c: f"bbh_{c}" for c in sorted(set(bbh_data.CATEGORIES.values()))}},
    "WikiText2-nwp": {"loss": "nwp_loss", "word_perplexity": "nwp_word_perplexity"},
}


def measured_properties(out_dir: str | Path) -> pd.DataFrame:
    """One row per model scored in `out_dir` with the capability properties measured there: ``mmlu`` and its four
    categories, ``bbh`` and its five, ``nwp_loss`` (nats/token), plus ``measured_by`` (the benchmark labels used).

    Where a model has several units of one benchmark (e.g. MMLU 0-shot and 5-shot), the unit with the benchmark's
    default options (label = id) wins, else the first by label; the study merges these over imported properties
    ("measured beats imported"). Only the units are read: nothing in `out_dir` is written (it may be read-only)."""
    from tuneshift.benchmarks.store import ResultStore

    records: dict[str, dict[str, Any]] = {}
    units = ResultStore(out_dir, read_only=True).units()
    identifiers = [unit.provenance.get("benchmark_id", unit.benchmark.split(" [")[0]) for unit in units]
    for unit, identifier in sorted(
        zip(units, identifiers, strict=True), key=lambda p: (p[0].benchmark != p[1], p[0].benchmark)
    ):
        columns = PROPERTY_COLUMNS.get(identifier)
        record = records.setdefault(unit.model, {"model": unit.model, "measured_by": []})
        if columns is None or any(name in record for name in columns.values()):
            continue
        rows = unit.scores.set_index("measure")["raw"] if "measure" in unit.scores else pd.Series(dtype=float)
        record.update({column: float(rows[m]) for m, column in columns.items() if m in rows})
        record["measured_by"].append(unit.benchmark)
    table = pd.DataFrame([r for r in records.values() if r["measured_by"]])
    if not table.empty:
        table["measured_by"] = table["measured_by"].str.join("; ")
    return table
