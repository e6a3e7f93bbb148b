"""Tuckute et al. 2024: 1,000 baseline sentences and the left-hemisphere language network's fMRI response.

Bundled (MIT, ``bundled/tuckute2024/SOURCE.md``): responses averaged over the 5 train participants, for five LH
language fROIs and the whole network (``lang_LH_netw``, the target of Brain-Score's Tuckute2024 benchmark). As in
Brain-Score, every sentence is its own passage: the model reads one sentence, no context, and the representation
is taken at its last word.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from tuneshift.data._dataset import DATASETS, DatasetInfo, NeuralDataset, build_dataset, passages_from_texts
from tuneshift.errors import InvalidInputError, InvalidParameterError

CITATION = """@article{tuckute2024driving,
  title={Driving and suppressing the human language network using large language models},
  author={Tuckute, Greta and Sathe, Aalok and Srikant, Shashank and Taliaferro, Maya and Wang, Mingye and
          Schrimpf, Martin and Kay, Kendrick and Fedorenko, Evelina},
  journal={Nature Human Behaviour},
  volume={8},
  pages={544--561},
  year={2024},
  doi={10.1038/s41562-023-01783-7}
}"""
URL = "https://github.com/gretatuckute/drive_suppress_brains"
NETWORK = "lang_LH_netw"
FROIS = ("lang_LH_AntTemp", "lang_LH_IFG", "lang_LH_IFGorb", "lang_LH_MFG", "lang_LH_PostTemp")
TRAIN_SUBJECTS = "848-853-865-875-876"  # the participants averaged in the CSV (Brain-Score's subject_UID)
N_SENTENCES = 1000
TARGETS = {"netw": (NETWORK,), "frois": FROIS, "all": (*FROIS, NETWORK)}


def bundled_path() -> Path:
    return Path(str(resources.files("tuneshift.data") / "bundled" / "tuckute2024" / "baseline_sentences_lang_LH.csv"))


def load_tuckute2024(
    data_dir: str | os.PathLike | None = None,
    *,
    targets: Literal["netw", "frois", "all"] = "netw",
    path: str | os.PathLike | None = None,
) -> NeuralDataset:
    """The 1,000 baseline sentences with the language network's response (no download: the data ship inside).

    Parameters
    ----------
    data_dir
        Unused (the data are bundled); accepted so that every loader has the same call.
    targets
        ``"netw"``: the network average ``lang_LH_netw`` (one neuroid, Brain-Score's target); ``"frois"``: the
        five fROIs; ``"all"``: both (six neuroids).
    path
        Another CSV in the same layout (``item_id, sentence, lang_LH_AntTemp, ..., lang_LH_netw``).
    """
    if targets not in TARGETS:
        raise InvalidParameterError("targets", f"one of {sorted(TARGETS)}", targets)
    path = Path(path) if path is not None else bundled_path()
    frame = pd.read_csv(path, dtype={"item_id": str, "sentence": str}, keep_default_na=False, na_values=[""])
    columns = TARGETS[targets]
    missing = [c for c in ("item_id", "sentence", *columns) if c not in frame.columns]
    if missing:
        raise InvalidInputError(f"{path}: column(s) {', '.join(missing)} missing (found: {', '.join(frame.columns)}).")
    values = frame[list(columns)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    passages, stimulus_passage, stimulus_word, _ = passages_from_texts(
        frame["sentence"].tolist(), frame["item_id"].tolist(), path, frame["item_id"].tolist()
    )
    neuroids = pd.DataFrame(
        {
            "neuroid_id": list(columns),
            "subject": TRAIN_SUBJECTS,
            "region": list(columns),
            "hemisphere": "LH",
            "atlas": "language",
        }
    )
    return build_dataset(
        name="Tuckute2024",
        source=path,
        passages=passages,
        stimulus_passage=stimulus_passage,
        stimulus_word=stimulus_word,
        stimulus_id=frame["item_id"].to_numpy(),
        targets=values,
        neuroids=neuroids,
        groups=frame["item_id"].to_numpy(),
        ceiling=None,
        meta={"sentence": frame["sentence"].to_numpy(), "citation": CITATION, "targets": targets},
    )


DATASETS.add(
    "Tuckute2024",
    DatasetInfo(
        name="Tuckute2024",
        loader=load_tuckute2024,
        description="1,000 sentences × LH language network (fROIs + network average), 5-participant mean",
        citation=CITATION,
        bundled=bundled_path(),
        license="MIT",
    ),
)
