"""`tuneshift tune`: matched instruction-tuned models, with and without the instruction text (Aw et al. 2023's
ablation), made from any base model: supervised fine-tuning, LoRA by default, resumable."""

from tuneshift.tune.checkpoints import is_checkpoint, list_checkpoints, load_checkpoint, read_manifest
from tuneshift.tune.data import BUNDLED, READERS, Dataset, Example, bundled_path, load_dataset
from tuneshift.tune.encode import Encoded, encode, prompt_text
from tuneshift.tune.train import (
    RECORD,
    TrainingDivergedError,
    TuneOptions,
    TuneResult,
    encode_dataset,
    lora_targets,
    prepare,
    step_examples,
    tune,
)

__all__ = [
    "BUNDLED",
    "READERS",
    "RECORD",
    "Dataset",
    "Encoded",
    "Example",
    "TrainingDivergedError",
    "TuneOptions",
    "TuneResult",
    "bundled_path",
    "encode",
    "encode_dataset",
    "is_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "load_dataset",
    "lora_targets",
    "prepare",
    "prompt_text",
    "read_manifest",
    "step_examples",
    "tune",
]
