"""Fedorenko et al. 2016: ECoG high-gamma responses of language-responsive electrodes, word by word.

Brain-Score's assembly ``Fedorenko2016.language``: 416 presentations (52 sentences × 8 words, each word its own
presentation, ``word_num`` 0–7 within ``sentence_id``) × 97 electrodes of 5 subjects (``subject_UID``). A stimulus
is one word; its passage is its sentence, so the model reads the sentence up to that word.
"""

from __future__ import annotations

import os

import numpy as np

from tuneshift.data._brainio import assembly_file, read_assembly
from tuneshift.data._dataset import DATASETS, DatasetInfo, NeuralDataset, build_dataset
from tuneshift.data._fetch import fetch_file
from tuneshift.errors import InvalidInputError

CITATION = """@article{fedorenko2016neural,
  title={Neural correlate of the construction of sentence meaning},
  author={Fedorenko, Evelina and Scott, Terri L and Brunner, Peter and Coon, William G and Pritchett, Brianna and
          Schalk, Gerwin and Kanwisher, Nancy},
  journal={Proceedings of the National Academy of Sciences},
  volume={113},
  number={41},
  pages={E6256--E6262},
  year={2016},
  publisher={National Acad Sciences}
}"""
ASSEMBLY = assembly_file(
    "Fedorenko2016.language",
    sha1="2966b6d78e972a72068aa6907377483f427e8d9a",
    folder="Fedorenko2016",
    version_id="qvB7YZfEjbXEE64bODNLlQlZKWGpgPhy",
)


def load_fedorenko2016(data_dir: str | os.PathLike | None = None, *, download: bool = True) -> NeuralDataset:
    """Fedorenko2016 as a :class:`NeuralDataset`: stimulus = word, passage = sentence, groups = sentence_id.

    Reads ``<data_dir>/Fedorenko2016/assy_Fedorenko2016_language.nc`` (downloaded when missing). No published
    ceiling (Brain-Score computes an extrapolation ceiling over subjects).
    """
    path = fetch_file(ASSEMBLY, data_dir, download=download)
    assembly = read_assembly(path)
    assembly.require("presentation", ("stimulus_id", "word", "word_num", "sentence_id"))
    assembly.require("neuroid", ("neuroid_id", "subject_UID"))
    presentation = assembly.presentation
    words = presentation["word"].map(lambda w: w.strip() if isinstance(w, str) else "")
    if (empty := words == "").any():
        raise InvalidInputError(
            f"{path}: stimulus {presentation['stimulus_id'][empty].iloc[0]!r} has no word; every presentation "
            "needs its word."
        )
    sentence_ids = sorted(presentation["sentence_id"].unique())
    passage_of = {sentence: i for i, sentence in enumerate(sentence_ids)}
    stimulus_passage = presentation["sentence_id"].map(passage_of).to_numpy()
    stimulus_word = presentation["word_num"].to_numpy().astype(np.int64)
    passages = []
    for sentence in sentence_ids:
        rows = presentation[presentation["sentence_id"] == sentence].sort_values("word_num")
        if rows["word_num"].tolist() != list(range(len(rows))):
            raise InvalidInputError(
                f"{path}: sentence_id {sentence} has word_num {rows['word_num'].tolist()}, expected 0..{len(rows) - 1} "
                "once each."
            )
        passages.append(words[rows.index].tolist())
    neuroids = assembly.neuroid.rename(columns={"subject_UID": "subject"})
    neuroids["subject"] = neuroids["subject"].astype(str)
    neuroids["region"] = "language"
    return build_dataset(
        name="Fedorenko2016",
        source=path,
        passages=passages,
        stimulus_passage=stimulus_passage,
        stimulus_word=stimulus_word,
        stimulus_id=presentation["stimulus_id"].astype(str).to_numpy(),
        targets=assembly.values,
        neuroids=neuroids,
        groups=presentation["sentence_id"].to_numpy(),
        ceiling=None,
        meta={"word": words.to_numpy(), "presentation": presentation, "citation": CITATION},
    )


DATASETS.add(
    "Fedorenko2016",
    DatasetInfo(
        name="Fedorenko2016",
        loader=load_fedorenko2016,
        description="ECoG, 52 eight-word sentences word by word × 97 language electrodes (5 subjects)",
        citation=CITATION,
        files=(ASSEMBLY,),
    ),
)
