"""Where a study's model jobs run: in this process, or on a Ray cluster. Another engine is one class here.

An executor receives :class:`ModelJob`\\ s (one model and its unfinished benchmarks, with the resources a worker needs)
and a `work` function (``work(job) -> list of outcome dicts``, one per benchmark; it never raises for a task's
failure). It runs them, then hands each job back with its outcomes — or with the exception that lost it (a worker
killed, a node gone) — as it finishes. It knows nothing about models, benchmarks or results: the study driver
(:mod:`tuneshift.study.run`) turns a lost job into failed tasks with their cause and the results store decides what
a rerun skips.

Adding an engine (Dask, Slurm job arrays, ...): subclass :class:`Executor`, implement ``submit`` and ``gather``, and
``EXECUTORS.add("name", TheClass)``; ``tuneshift study run --executor name`` then uses it.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from tuneshift._registry import Registry
from tuneshift.errors import InvalidParameterError

#: Outcomes of one job: one dict per benchmark (model, benchmark, state, seconds, error, ...).
Outcomes = list[dict[str, Any]]


@dataclass(frozen=True)
class ModelJob:
    """One model and the benchmarks still to run on it: loaded once, scored one benchmark after another.

    memory: bytes the worker needs (weights + largest activations, × 1.3), 0 when the executor does not size jobs.
    """

    model: Any  # tuneshift.study.run.ModelTask
    benchmarks: tuple[str, ...]
    memory: int = 0
    cpus: float = 1.0
    gpus: float = 0.0

    @property
    def name(self) -> str:
        return self.model.name


class Executor(ABC):
    """Runs model jobs; ``with`` it to release what it holds (a Ray connection) however the study ends.

    work: ``work(job, on_event=...) -> Outcomes``; `on_event(state, status)` is passed where the engine runs work in
        this process (per-task progress); other engines leave it out and the driver polls the status files.
    sized: whether jobs must carry their memory (the driver then estimates it; it may read model configs).
    """

    sized: ClassVar[bool] = False

    def __init__(self, work: Callable[..., Outcomes], *, on_event: Callable[[str, dict], None] | None = None):
        self.work = work
        self.on_event = on_event

    @abstractmethod
    def submit(self, job: ModelJob) -> None:
        """Queue `job` (it may start at once)."""

    @abstractmethod
    def gather(self, on_wait: Callable[[], None] = lambda: None) -> Iterator[tuple[ModelJob, Outcomes | Exception]]:
        """Each submitted job, as it finishes, with its outcomes or the exception that lost it; `on_wait` is
        called about twice a second while nothing finishes (the driver's progress)."""

    def close(self) -> None:  # noqa: B027 (an optional hook: most engines hold nothing)
        """Release the engine (default: nothing to release)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


EXECUTORS: Registry[type[Executor]] = Registry("executor")


@EXECUTORS.register("local")
class LocalExecutor(Executor):
    """Jobs one after another in this process (no Ray): the driver's own memory, one model loaded at a time."""

    def __init__(self, work: Callable[..., Outcomes], *, on_event: Callable[[str, dict], None] | None = None):
        super().__init__(work, on_event=on_event)
        self._queue: list[ModelJob] = []

    def submit(self, job: ModelJob) -> None:
        self._queue.append(job)

    def gather(self, on_wait: Callable[[], None] = lambda: None) -> Iterator[tuple[ModelJob, Outcomes | Exception]]:
        while self._queue:
            job = self._queue.pop(0)
            yield job, self.work(job, on_event=self.on_event)


@EXECUTORS.register("ray")
class RayExecutor(Executor):
    """One Ray task per job, asking for its memory, CPUs and GPUs, so Ray packs small models and isolates big ones.

    A worker process that dies mid-job (killed, out of memory, node lost) is retried `max_retries` times (default
    once: the retry's results store skips what the first attempt finished); a job lost again is handed back with
    Ray's error, so a job that kills its worker every time is never retried forever.
    address: a running cluster (``auto``, ``head:6379``); none starts a local one for this study (unless Ray is
    initialised already, e.g. by a test). init: more ``ray.init`` arguments.
    """

    sized = True

    def __init__(
        self,
        work: Callable[..., Outcomes],
        *,
        on_event: Callable[[str, dict], None] | None = None,
        address: str | None = None,
        init: dict[str, Any] | None = None,
        max_retries: int = 1,
    ):
        super().__init__(work, on_event=on_event)
        try:
            import ray
        except ImportError:
            raise InvalidParameterError(
                "executor", "an installed Ray for --executor ray", "ray", "pip install 'tuneshift[sweep]'"
            ) from None
        self._ray = ray
        self._started_here = not ray.is_initialized()
        if self._started_here:
            ray.init(
                address=address, ignore_reinit_error=True, include_dashboard=False, log_to_driver=False, **(init or {})
            )
        self._remote = ray.remote(_run_job)
        self._max_retries = max_retries
        self._jobs: dict[Any, ModelJob] = {}

    def submit(self, job: ModelJob) -> None:
        ref = self._remote.options(
            num_cpus=job.cpus,
            num_gpus=job.gpus,
            memory=job.memory or None,
            max_retries=self._max_retries,
            retry_exceptions=False,  # a Python error inside a job is a failed task already, never retried
        ).remote(self.work, job)
        self._jobs[ref] = job

    def gather(self, on_wait: Callable[[], None] = lambda: None) -> Iterator[tuple[ModelJob, Outcomes | Exception]]:
        pending = list(self._jobs)
        while pending:
            ready, pending = self._ray.wait(pending, timeout=0.5)
            on_wait()
            for ref in ready:
                job = self._jobs.pop(ref)
                try:
                    yield job, self._ray.get(ref)
                except Exception as error:  # worker died twice, node lost, ...: the driver records the cause
                    yield job, error
        on_wait()

    def close(self) -> None:
        if self._started_here and self._ray.is_initialized():
            self._ray.shutdown()


def make_executor(name: str, work: Callable[..., Outcomes], **settings: Any) -> Executor:
    """The executor registered as `name`, given only the settings it takes (None values are left out)."""
    cls = EXECUTORS.get(name)
    accepted = inspect.signature(cls.__init__).parameters
    given = {k: v for k, v in settings.items() if v is not None}
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        raise InvalidParameterError("executor", f"settings of the {name} executor", unknown, "Leave them out.")
    return cls(work, **given)


def _run_job(work: Callable[..., Outcomes], job: ModelJob) -> Outcomes:
    """What a Ray worker runs (Ray's remote functions are plain functions; `work` is often a partial)."""
    return work(job)
