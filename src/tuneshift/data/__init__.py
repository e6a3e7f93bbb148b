"""Neural datasets: stimuli as words in passages, responses as a NaN-free (stimuli × neuroids) matrix.

Every dataset is registered in :data:`DATASETS` and loads into a :class:`NeuralDataset`::

    from tuneshift.data import DATASETS, load_pereira2018
    ds = DATASETS.get("Pereira2018.384sentences").load()
    ds = load_pereira2018(experiment="243sentences")

Files are looked up in ``data_dir`` (argument) → ``$TUNESHIFT_DATA`` → ``~/.cache/tuneshift/data`` and downloaded
(sha1-checked) when missing; where they cannot be downloaded, a DataNotFoundError names the file, its URL and the
exact path to put it at. Tuckute2024 and Natural Stories (reading times) ship with the package.

Every load re-checks a file cheaply (size and mtime against the sha1 recorded at fetch) and refuses one that fails,
naming it and the command that fetches it again; :func:`verify` hashes every file in full::

    from tuneshift.data import verify
    bad = [check.path for check in verify("Wehbe2014") if not check.ok]
"""

from tuneshift.data import bbh, mmlu, wikitext2  # capability data: MMLU (fetched), BBH, WikiText2 (bundled)
from tuneshift.data._dataset import DATASETS, DatasetInfo, NeuralDataset, verify
from tuneshift.data._fetch import FileCheck, RemoteFile, fetch_file, sha1sum
from tuneshift.data.blank2014 import load_blank2014
from tuneshift.data.fedorenko2016 import load_fedorenko2016
from tuneshift.data.naturalstories import load_naturalstories
from tuneshift.data.pereira2018 import load_pereira2018
from tuneshift.data.tuckute2024 import load_tuckute2024
from tuneshift.data.wehbe2014 import load_wehbe2014

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "FileCheck",
    "NeuralDataset",
    "RemoteFile",
    "bbh",
    "fetch_file",
    "load_blank2014",
    "load_fedorenko2016",
    "load_naturalstories",
    "load_pereira2018",
    "load_tuckute2024",
    "load_wehbe2014",
    "mmlu",
    "sha1sum",
    "verify",
    "wikitext2",
]
