"""Blank et al. 2014: fMRI time courses of language fROIs while listening to 8 Natural Stories.

Brain-Score's assembly ``Blank2014.fROI``: 1,317 TRs × 60 neuroids (5 subjects × 12 language fROIs, voxels
averaged within each fROI). Each presentation is one TR (BOLD shifted by 4 s) with the words presented during it
(``stimulus``, e.g. ``"Once upon a "``); TRs in which no new word was presented were discarded when Brain-Score
packaged the data (``data/blank2014/data_packaging.py``), so every stimulus carries text. A stimulus reads the model
at the last word presented up to its TR, with the story so far as context.

Reading order within a story is (``sentence_number_in_story``, ``part_number_in_sentence``) — Brain-Score's own
test sorts by these, since the assembly's presentation order is not guaranteed to be the reading order.
"""

from __future__ import annotations

import os
import warnings

from tuneshift.data._brainio import assembly_file, read_assembly
from tuneshift.data._dataset import DATASETS, DatasetInfo, NeuralDataset, build_dataset, passages_from_texts
from tuneshift.data._fetch import fetch_file
from tuneshift.metrics.ceiling import CEILINGS

CITATION = """@article{blank2014functional,
  title={A functional dissociation between language and multiple-demand systems revealed in patterns of BOLD
         signal fluctuations},
  author={Blank, Idan and Kanwisher, Nancy and Fedorenko, Evelina},
  journal={Journal of neurophysiology},
  volume={112},
  number={5},
  pages={1105--1118},
  year={2014},
  publisher={American Physiological Society Bethesda, MD}
}"""
ASSEMBLY = assembly_file(
    "Blank2014.fROI",
    sha1="af1e868821b897cb1684e4c8dcd33977121ef552",
    folder="Blank2014",
    version_id="qM.uLV8ltOHM297r2SaGteYMX4Vy.oHB",
)
_ORDER = ("sentence_number_in_story", "part_number_in_sentence")


def load_blank2014(data_dir: str | os.PathLike | None = None, *, download: bool = True) -> NeuralDataset:
    """Blank2014 as a :class:`NeuralDataset`: stimulus = TR, passage = story, groups = story.

    Reads ``<data_dir>/Blank2014/assy_Blank2014_fROI.nc`` (downloaded when missing). Presentations whose text is
    empty (a TR without new words, absent from the published file) are dropped with a warning and counted in
    ``meta["n_dropped_stimuli"]``.
    """
    path = fetch_file(ASSEMBLY, data_dir, download=download)
    assembly = read_assembly(path)
    assembly.require("presentation", ("stimulus", "stimulus_id", "story"))
    subject = "subject_id" if "subject_id" in assembly.neuroid else "subject_UID"
    assembly.require("neuroid", ("neuroid_id", subject, "fROI_area"))

    text = assembly.presentation["stimulus"]
    has_words = text.map(lambda t: isinstance(t, str) and bool(t.split())).to_numpy()
    n_dropped_stimuli = int((~has_words).sum())
    if n_dropped_stimuli:
        warnings.warn(f"Blank2014: dropped {n_dropped_stimuli} TRs without new words ({path}).", stacklevel=2)
        assembly = assembly.subset(has_words)
    presentation = assembly.presentation
    order_columns = ["story", *(c for c in _ORDER if c in presentation)]
    order = presentation.sort_values(order_columns, kind="stable").index.to_numpy()
    presentation, values = presentation.loc[order].reset_index(drop=True), assembly.values[order]

    passages, stimulus_passage, stimulus_word, stories = passages_from_texts(
        presentation["stimulus"].tolist(), presentation["story"].tolist(), path, presentation["stimulus_id"].tolist()
    )
    neuroids = assembly.neuroid.rename(columns={subject: "subject"})
    neuroids["subject"] = neuroids["subject"].astype(str)
    neuroids["region"] = neuroids["fROI_area"]
    return build_dataset(
        name="Blank2014",
        source=path,
        passages=passages,
        stimulus_passage=stimulus_passage,
        stimulus_word=stimulus_word,
        stimulus_id=presentation["stimulus_id"].to_numpy(),
        targets=values,
        neuroids=neuroids,
        groups=presentation["story"].astype(str).to_numpy(),
        ceiling=CEILINGS.get("Blank2014"),
        meta={
            "story": stories,
            "tr_text": presentation["stimulus"].to_numpy(),
            "presentation": presentation,
            "n_dropped_stimuli": n_dropped_stimuli,
            "citation": CITATION,
        },
    )


DATASETS.add(
    "Blank2014",
    DatasetInfo(
        name="Blank2014",
        loader=load_blank2014,
        description="8 stories, 1,317 TRs × 60 language fROIs (5 subjects), Brain-Score assembly",
        citation=CITATION,
        files=(ASSEMBLY,),
    ),
)
