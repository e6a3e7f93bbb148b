"""WikiText-2 (Merity et al. 2016), test split in its tokenized release, bundled with tuneshift (CC BY-SA 3.0; see
``bundled/wikitext2/SOURCE.md``): 62 Wikipedia articles, 241,211 words, rare words as ``<unk>``.

Articles are the unit: each opens with a top-level heading line `` = Title = `` and runs to the next one; an article's
text is its lines joined as in the file (so the next-word loss sees headings and paragraph breaks as released).
"""

from __future__ import annotations

import gzip
import itertools
import os
import re
from importlib import resources
from pathlib import Path

import pandas as pd

from tuneshift.data._dataset import DATASETS, DatasetInfo
from tuneshift.errors import InvalidInputError

CITATION = "Merity, Xiong, Bradbury, Socher (2016). Pointer Sentinel Mixture Models. arXiv:1609.07843."
BIBTEX = """@article{merity2016pointer,
  title={Pointer Sentinel Mixture Models},
  author={Merity, Stephen and Xiong, Caiming and Bradbury, James and Socher, Richard},
  journal={arXiv preprint arXiv:1609.07843}, year={2016}
}"""
_TITLE = re.compile(r"^ = [^=].* = $")  # " = Robert Boulter = ", not " = = Career = = "


def bundled_path() -> Path:
    return Path(str(resources.files("tuneshift.data") / "bundled" / "wikitext2" / "test.txt.gz"))


def load_wikitext2(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The articles of `path` (default: the bundled test split; a plain or gzipped file in the release's layout),
    one row each: ``item`` (``wikitext2/<n>``), ``title``, ``text``, ``n_words`` (whitespace-separated words)."""
    source = Path(path) if path is not None else bundled_path()
    opener = gzip.open if source.suffix == ".gz" else open
    try:
        with opener(source, "rt", encoding="utf-8", newline="") as handle:
            lines = handle.read().splitlines(keepends=True)
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInputError(f"{source}: not a readable UTF-8 text file ({error}).") from None
    starts = [i for i, line in enumerate(lines) if _TITLE.match(line.rstrip("\n"))]
    if not starts:
        raise InvalidInputError(
            f"{source}: no article heading (a line ' = Title = '); expected WikiText's tokenized release."
        )
    # the blank line before a heading belongs to the next article, as lm-eval's wikitext splits documents
    bounds = [max(0, s - 1) if i else 0 for i, s in enumerate(starts)] + [len(lines)]
    texts = ["".join(lines[a:b]) for a, b in itertools.pairwise(bounds)]
    return pd.DataFrame(
        {
            "item": [f"wikitext2/{n}" for n in range(len(texts))],
            "title": [lines[s].strip(" =\n") for s in starts],
            "text": texts,
            "n_words": [len(text.split()) for text in texts],
        }
    )


DATASETS.add(
    "WikiText2",
    DatasetInfo(
        name="WikiText2",
        loader=lambda data_dir=None, **kwargs: load_wikitext2(**kwargs),
        description="WikiText-2 test split, tokenized release: 62 articles (bundled, CC BY-SA 3.0)",
        citation=BIBTEX,
        bundled=bundled_path(),
        license="CC BY-SA 3.0",
    ),
)
