"""The language-network localizer: statistics against scipy, a planted sentence unit found at the top, masks and
ablation hooks that touch only the chosen units, the base/tuned comparison and the command."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from tuneshift.errors import InvalidInputError, InvalidParameterError
from tuneshift.localize import Localization, load_localizer, localize, parse_top, select_top
from tuneshift.localize.ablate import ablated, ablation_surprisal
from tuneshift.localize.localizer import stimulus_responses, unit_statistics
from tuneshift.localize.pairs import compare_networks
from tuneshift.localize.stimuli import LocalizerStimuli
from tuneshift.localize.view import UnitView, random_mask
from tuneshift.models import blocks_of, load_model
from tuneshift.models.readout import read_out

PLANTED = 5  # the hidden dimension made sentence-selective by construction
SENTENCE_WORDS = "the dog sleeps on a valley that is surrounded by moors and you would come to".split()
NONWORDS = ["qz", "xv", "jk", "zq", "vw", "kj", "wx", "qv"]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNESHIFT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TUNESHIFT_ACTIVATIONS", str(tmp_path / "cache" / "activations"))


@pytest.fixture(scope="module")
def stimuli() -> LocalizerStimuli:
    """24 six-word 'sentences' of corpus words and 24 lists of letter-pair non-words (seeded)."""
    rng = np.random.default_rng(0)
    sentences = [list(rng.choice(SENTENCE_WORDS, 6)) for _ in range(24)]
    nonwords = [list(rng.choice(NONWORDS, 6)) for _ in range(24)]
    return LocalizerStimuli(
        passages=[[str(w) for w in p] for p in sentences + nonwords],
        is_sentence=np.repeat([True, False], 24),
        source=np.repeat(["test"], 48),
    )


def _token_ids(model, passages) -> set[int]:
    return {i for p in passages for i in model.tokenizer(" ".join(p))["input_ids"]}


@pytest.fixture
def planted_model(tiny_model_dirs, stimuli):
    """Tiny LLaMA whose unit PLANTED reads a value in [0.5, 1.5] on tokens that only sentences contain and 0
    elsewhere, at every block output: the embedding column says so and every block's attention and FFN write nothing
    to that dimension. (Graded values keep the sentences' variance, hence t, finite.)"""
    model = load_model(tiny_model_dirs["llama"])
    sentences = [p for p, s in zip(stimuli.passages, stimuli.is_sentence, strict=True) if s]
    nonwords = [p for p, s in zip(stimuli.passages, stimuli.is_sentence, strict=True) if not s]
    sentence_only = sorted(_token_ids(model, sentences) - _token_ids(model, nonwords))
    assert sentence_only  # the construction needs tokens only sentences have
    with torch.no_grad():
        embedding = model.hf_model.get_input_embeddings().weight
        embedding[:, PLANTED] = 0.0
        embedding[sentence_only, PLANTED] = torch.linspace(0.5, 1.5, len(sentence_only))
        for block in blocks_of(model.hf_model):
            block.self_attn.o_proj.weight[PLANTED] = 0.0
            block.mlp.down_proj.weight[PLANTED] = 0.0
    return model


def test_welch_t_p_and_q_equal_scipy_on_random_activations():
    rng = np.random.default_rng(1)
    responses = rng.normal(size=(3, 50, 40)) * rng.uniform(0.5, 3, size=(3, 1, 40))
    is_sentence = np.arange(50) < 23  # unequal groups: Welch's df differs from n - 2
    responses[:, is_sentence] += rng.normal(0, 0.5, size=(3, 1, 40))
    got = unit_statistics(responses, is_sentence)
    expected = stats.ttest_ind(responses[:, is_sentence], responses[:, ~is_sentence], axis=1, equal_var=False)
    greater = stats.ttest_ind(
        responses[:, is_sentence], responses[:, ~is_sentence], axis=1, equal_var=False, alternative="greater"
    )
    np.testing.assert_allclose(got["t"], expected.statistic, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got["df"], expected.df, rtol=1e-6)
    np.testing.assert_allclose(got["p"], greater.pvalue, rtol=1e-6, atol=1e-12)
    # BH by hand over all 120 units: q_(i) = min_{j >= i} p_(j) m / j
    p = got["p"].reshape(-1)
    order = np.argsort(p)
    ranked = np.minimum.accumulate((p[order] * p.size / np.arange(1, p.size + 1))[::-1])[::-1]
    q = np.empty_like(p)
    q[order] = np.minimum(ranked, 1)
    np.testing.assert_allclose(got["q"].reshape(-1), q, rtol=1e-12)


def test_constant_units_get_nan_t_and_are_never_selected():
    responses = np.zeros((1, 10, 3))
    responses[0, :, 1] = np.arange(10.0)
    got = unit_statistics(responses, np.arange(10) < 5)
    assert np.isnan(got["t"][0, 0]) and got["p"][0, 0] == 1.0
    assert select_top(got["t"], 1.0).tolist() == [[False, True, False]]


def test_selection_counts_model_wide_and_per_layer():
    t = np.array([[5.0, 1.0, 0.0, -1.0], [4.0, 3.0, 2.0, 6.0]])
    assert select_top(t, 0.25).tolist() == [[True, False, False, False], [False, False, False, True]]
    assert select_top(t, 0.25, "layer").tolist() == [[True, False, False, False], [False, False, False, True]]
    assert select_top(t, 0.5, "layer").sum(axis=1).tolist() == [2, 2]
    assert select_top(t, 0.5).sum(axis=1).tolist() == [1, 3]
    assert parse_top("1%") == pytest.approx(0.01) and parse_top("0.05") == pytest.approx(0.05)
    with pytest.raises(InvalidParameterError, match="top"):
        parse_top("150%")


def test_bundled_stimuli_are_the_brainscore_localizer():
    stim = load_localizer()
    assert (stim.n_sentences, stim.n_nonwords) == (240, 240)
    assert {len(p) for p in stim.passages} == {12}
    assert stim.passages[0] == "just the barest suggestion of a heel is found on teenage pumps".split()
    assert all(w == w.lower() for p in stim.passages for w in p)


def test_bad_stimulus_file_is_refused_by_row(tmp_path):
    header = ",".join(f"stim{i}" for i in range(1, 15))
    (tmp_path / "langloc_fmri_run1_stim_set1.csv").write_text(f"{header}\n1,{','.join(['w'] * 12)},X\n")
    with pytest.raises(InvalidInputError, match="row 2: condition is not S or N"):
        load_localizer(tmp_path)


def test_planted_sentence_unit_is_found_at_the_top(planted_model, stimuli):
    network = localize(planted_model, top=0.01, stimuli=stimuli, progress=False)
    assert network.layers.tolist() == [1, 2]
    assert network.n_units == 1  # 1 % of 2 x 32 units rounds to one
    assert np.nonzero(network.mask)[1].tolist() == [PLANTED]
    # the planted unit tops every layer, far above the best random unit
    assert np.argmax(network.t, axis=1).tolist() == [PLANTED, PLANTED]
    others = np.delete(network.t, PLANTED, axis=1)
    assert network.t[:, PLANTED].min() > 2 * np.nanmax(others)
    assert network.q[:, PLANTED].max() < 1e-6
    # non-words never contain the planted tokens: their mean response is exactly 0
    np.testing.assert_array_equal(network.mean_nonwords[:, PLANTED], 0.0)
    per_layer = network.select(0.05, "layer")
    assert per_layer.mask[:, PLANTED].all() and per_layer.mask.sum(axis=1).tolist() == [2, 2]
    assert network.describe()["n_distinct_dimensions"] == 1


def test_mean_pooling_is_the_mean_over_each_stimulus_tokens(tiny_models, stimuli):
    model = tiny_models["gpt2"]
    responses = stimulus_responses(model, stimuli, "mean", [1, 2], cache=False, progress=False)
    last = stimulus_responses(model, stimuli, "last", [1, 2], cache=False, progress=False)
    blocks = blocks_of(model.hf_model)
    captured: dict[int, torch.Tensor] = {}

    def keep(index: int):
        return lambda module, args, out: captured.__setitem__(index, out[0] if isinstance(out, tuple) else out)

    for index in (0, 30):
        handles = [block.register_forward_hook(keep(i)) for i, block in enumerate(blocks)]
        ids = model.tokenizer(" ".join(stimuli.passages[index]), return_tensors="pt")["input_ids"]
        with torch.no_grad():
            model.hf_model(ids)
        for handle in handles:
            handle.remove()
        for pos, layer in enumerate([1, 2]):
            states = captured[layer - 1][0].double().numpy()
            np.testing.assert_allclose(responses[pos, index], states.mean(axis=0), rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(last[pos, index], states[-1], rtol=1e-4, atol=1e-5)


def test_statistics_are_cached_and_reread(planted_model, stimuli, tmp_path):
    first = localize(planted_model, stimuli=stimuli, progress=False)
    assert len(list((tmp_path / "cache" / "localize").glob("*.npz"))) == 1
    again = localize(planted_model, stimuli=stimuli, progress=False)
    np.testing.assert_array_equal(first.t, again.t)
    out = first.save(tmp_path / "out")
    loaded = Localization.load(out)
    np.testing.assert_array_equal(loaded.mask, first.mask)
    np.testing.assert_array_equal(loaded.q, first.q)
    assert (out / "depth.png").stat().st_size > 1000
    assert pd.read_csv(out / "layers.csv")["n_selected"].sum() == first.n_units


def test_ablation_hooks_change_only_the_chosen_units(tiny_models, stimuli):
    model = tiny_models["llama"]
    passages = stimuli.passages[:6]
    intact = read_out(model, passages, layers=[1, 2], cache=False, progress=False).activations
    mask = np.zeros((2, model.hidden_size), dtype=bool)
    mask[0, [3, 7]] = True  # layer 1 only
    for values in (None, np.full(mask.shape, 0.25)):
        with ablated(model, [1, 2], mask, values):
            hit = read_out(model, passages, layers=[1, 2], cache=False, progress=False).activations
        expected = 0.0 if values is None else 0.25
        np.testing.assert_allclose(hit[0][:, mask[0]], expected)
        np.testing.assert_array_equal(hit[0][:, ~mask[0]], intact[0][:, ~mask[0]])
        assert np.abs(hit[1] - intact[1]).max() > 1e-4  # later blocks see the ablated stream
    again = read_out(model, passages, layers=[1, 2], cache=False, progress=False).activations
    np.testing.assert_array_equal(again, intact)  # hooks are removed on exit


def test_ablation_surprisal_rows(tiny_models, stimuli):
    model = tiny_models["llama"]
    mask = np.zeros((2, model.hidden_size), dtype=bool)
    mask[1, :4] = True
    table = ablation_surprisal(model, stimuli.passages[:4], [1, 2], mask, n_random=2, progress=False)
    assert table["condition"].tolist() == ["none", "network", "random", "random"]
    assert table["n_units"].tolist() == [0, 4, 4, 4]
    assert table.loc[0, "delta_bits"] == 0.0 and table.loc[1, "delta_bits"] != 0.0
    assert (table["words"] == 4 * 5).all()  # 6 words per passage, the first has no surprisal
    kept = ablation_surprisal(
        model, stimuli.passages[:2], [1, 2], mask, n_random=1, exclude_dimensions=[0, 1], progress=False
    )
    assert kept["n_units"].tolist() == [0, 2, 2]


def test_unit_view_restricts_representations_to_the_mask(tiny_models, stimuli):
    model = tiny_models["gpt2"]
    passages = stimuli.passages[:5]
    full = read_out(model, passages, layers=[1, 2], cache=False, progress=False).activations
    mask = np.zeros((2, model.hidden_size), dtype=bool)
    mask[0, [1, 4]] = True
    mask[1, [0]] = True
    combined = UnitView(model, [1, 2], mask)
    rep, _ = combined.representations(passages, cache=False, progress=False)
    assert combined.layers == [-1] and rep.shape == (1, 30, 3)
    np.testing.assert_array_equal(rep[0], np.stack([full[0][:, 1], full[0][:, 4], full[1][:, 0]], axis=1))
    per_layer = UnitView(model, [1, 2], mask, combine=False)
    zeroed, _ = per_layer.representations(passages, cache=False, progress=False)
    np.testing.assert_array_equal(zeroed[:, :, ~mask[1] & ~mask[0]], 0.0)
    np.testing.assert_array_equal(zeroed[0][:, mask[0]], full[0][:, mask[0]])
    other = UnitView(model, [1, 2], random_mask(mask, 0), label="random-0")
    assert len({model.fingerprint, combined.fingerprint, per_layer.fingerprint, other.fingerprint}) == 4
    with pytest.raises(InvalidParameterError, match="mask"):
        UnitView(model, [1, 2], np.zeros((2, model.hidden_size), dtype=bool))


def test_random_masks_match_the_network_size():
    mask = np.zeros((4, 50), dtype=bool)
    mask[1, :7] = True
    mask[3, :2] = True
    anywhere = random_mask(mask, 3)
    depth = random_mask(mask, 3, "layer")
    assert anywhere.sum() == 9 and depth.sum(axis=1).tolist() == [0, 7, 0, 2]
    np.testing.assert_array_equal(random_mask(mask, 3), anywhere)  # seeded
    assert not np.array_equal(random_mask(mask, 4), anywhere)
    allowed = np.ones(50, dtype=bool)
    allowed[:45] = False  # only 5 dimensions per layer may be drawn
    for match in ("model", "layer"):
        limited = random_mask(np.eye(4, 50, dtype=bool), 1, match, allowed)
        assert limited.sum() == 4 and not limited[:, :45].any()


def test_outlier_dimensions_are_the_massive_activations():
    unit_mean = np.random.default_rng(0).normal(size=(3, 100))
    unit_mean[1, 7] = 500.0
    unit_mean[2, 42] = -300.0
    zeros = np.zeros_like(unit_mean)
    network = Localization("m", "f", np.array([1, 2, 3]), zeros + 1, *[zeros] * 5, unit_mean)
    assert network.outlier_dimensions().tolist() == [7, 42]


def test_compare_networks_overlap_and_selectivity_change():
    def network(t, mask):
        t = np.asarray(t, dtype=float)
        zeros = np.zeros_like(t)
        return Localization(
            "m", "f", np.array([1, 2]), t, zeros, zeros, zeros, zeros, zeros, zeros, mask=np.asarray(mask)
        )

    base = network([[3, 1, 0], [2, 0, 1]], [[True, True, False], [True, False, False]])
    tuned = network([[4, 2, 1], [0, 0, 6]], [[True, False, False], [False, False, True]])
    table = compare_networks(base, tuned)
    assert table["layer"].tolist() == ["1", "2", "all"]
    np.testing.assert_allclose(table["jaccard"], [1 / 2, 0.0, 1 / 4])
    np.testing.assert_allclose(table["delta_mean_t"], [1.0, 1.0, 1.0])
    np.testing.assert_allclose(table["network_t_base"], [2.0, 2.0, 2.0])
    np.testing.assert_allclose(table.loc[0, "t_map_r"], 1.0)
    with pytest.raises(InvalidInputError, match="architecture"):
        compare_networks(base, network([[1, 2]], [[True, False]]))


def test_command_writes_the_network_and_its_controls(tiny_model_dirs, tmp_path):
    import typer
    from typer.testing import CliRunner

    from tuneshift.cli.localize import localize as command

    app = typer.Typer()
    app.command()(command)
    out = tmp_path / "net"
    args = ["--model", str(tiny_model_dirs["llama"]), "--out", str(out), "--top", "2%", "--no-progress"]
    result = CliRunner().invoke(
        app, [*args, "--ablate", "--stories", "1,2", "--words-per-story", "20", "--n-random", "2"]
    )
    assert result.exit_code == 0, result.output
    layers = pd.read_csv(out / "layers.csv")
    assert layers["layer"].tolist() == [1, 2] and layers["n_selected"].sum() == round(0.02 * 64)
    ablation = pd.read_csv(out / "ablation.csv")
    assert ablation["condition"].tolist() == ["none", "network", "random", "random"]
    assert (ablation["words"] == 2 * 19).all()
    assert ablation["futrell_r"].between(0, 1).all()
    bad = CliRunner().invoke(app, [*args, "--ablate", "--stories", "11"])
    assert bad.exit_code != 0 and "stories" in str(bad.exception)


def test_network_scores_share_one_readout_and_the_benchmark_protocol(tiny_models):
    from tuneshift.benchmarks.neural import PROTOCOLS, layer_features
    from tuneshift.data import DATASETS
    from tuneshift.localize.scoring import score_network
    from tuneshift.metrics import encoding_score

    model = tiny_models["gpt2"]
    t = np.random.default_rng(2).normal(size=(2, model.hidden_size))
    network = Localization("m", "f", np.array([1, 2]), t, *[np.zeros_like(t)] * 6, top=0.05)
    table = score_network(model, network, "Tuckute2024-linear", n_random=2, all_units=False, progress=False)
    assert table["units"].tolist() == ["network", "random", "random"]
    assert table["n_units"].tolist() == [3, 3, 3] and table["seed"].tolist()[1:] == [0, 1]
    dataset = DATASETS.get("Tuckute2024").load()
    features, layers = layer_features(model, dataset, cache=True, progress=False)
    layer_pos, unit = np.nonzero(network.mask)
    own = features[np.asarray(layers).searchsorted(network.layers[layer_pos]), :, unit].T
    protocol = PROTOCOLS["Tuckute2024-linear"]
    expected = encoding_score(own, dataset.targets, regression=protocol.regression, cv=protocol.cv).score
    assert table.loc[0, "raw"] == pytest.approx(float(expected), abs=1e-12)
    with pytest.raises(InvalidParameterError, match="neural benchmark"):
        score_network(model, network, "Futrell2018-pearsonr", progress=False)


def test_units_view_from_a_saved_network_and_its_random_control(tiny_models, planted_model, stimuli, tmp_path):
    from tuneshift.localize.view import units_view

    network = localize(planted_model, top=0.05, stimuli=stimuli, progress=False)
    saved = network.save(tmp_path / "net")
    view = units_view(tiny_models["llama"], str(saved))
    np.testing.assert_array_equal(view.mask, network.mask)
    control = units_view(tiny_models["llama"], f"{saved}:random:2")
    assert control.label == "random:2" and control.n_units == network.n_units
    assert not np.array_equal(control.mask, network.mask)
    with pytest.raises(InvalidParameterError, match="units"):
        units_view(tiny_models["llama"], f"{saved}:random:x")
