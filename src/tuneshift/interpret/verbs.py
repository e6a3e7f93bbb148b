"""Verb lists of the attention-head analysis (Wu et al. 2023, Table 3): the paper's instruction verbs, and the
most frequent English verbs that they are compared with."""

from __future__ import annotations

import functools

#: The paper's instruction verbs (``analysis_bilinear_interpret.py``: instruct1 ∪ instruct2).
INSTRUCTION_VERBS = (
    "act", "analyze", "clarify", "classify", "compose", "correct", "create", "demonstrate", "describe", "design",
    "detect", "develop", "edit", "estimate", "evaluate", "explain", "find", "follow", "format", "generate", "give",
    "have", "help", "identify", "interpret", "make", "output", "predict", "recommend", "repeat", "retrieve", "revise",
    "say", "solve", "summarize", "tell", "translate", "write",
)  # fmt: skip

#: Closed-class words excluded from the frequent verbs (the paper excludes NLTK's English stop words; this is the
#: part of that list that can be a verb form or is frequent enough to pass the -ing test by accident).
STOP_WORDS = frozenset(
    "a about above after again against all am an and any are as at be been before being below between both but by "
    "can could did do does doing down during each few for from further had has have having he her here hers him his "
    "how i if in into is it its just me might more most must my no nor not now of off on once only or other our out "
    "over own same she should so some such than that the their them then there these they this those through to too "
    "under until up very was we were what when where which while who whom why will with would you your thing".split()
)


def _is_verb_by_ing(word: str, freq) -> bool:
    """A word is taken as a verb when its present participle is in use: the -ing form (e-drop, ie→y, final
    consonant doubled or not) is at least 1% as frequent as the word itself in wordfreq's English list."""
    stems = {word + "ing"}
    if word.endswith("ie"):
        stems.add(word[:-2] + "ying")
    elif word.endswith("e") and not word.endswith(("ee", "ye", "oe")):
        stems.add(word[:-1] + "ing")
    if len(word) >= 3 and word[-1] not in "aeiouwxy" and word[-2] in "aeiou" and word[-3] not in "aeiou":
        stems.add(word + word[-1] + "ing")
    base = freq(word)
    return base > 0 and max(freq(stem) for stem in stems) >= 0.01 * base


@functools.cache
def frequent_verbs(n: int = 3000, exclude: tuple[str, ...] = INSTRUCTION_VERBS, scan: int = 30000) -> tuple[str, ...]:
    """The ``n`` most frequent English verbs by wordfreq, instruction verbs and stop words excluded.

    The paper takes the first lemma of every WordNet verb synset, ranked by wordfreq. WordNet is not available
    here, so part of speech is decided by a documented heuristic instead: alphabetic lemma-looking words (not
    ending in -ing/-ed/-s forms that are themselves inflections) whose -ing form is in use (:func:`_is_verb_by_ing`).
    Like WordNet's verb lemmas this includes noun-verbs such as "work" and "state".
    """
    from wordfreq import top_n_list, word_frequency

    freq = functools.partial(word_frequency, lang="en")
    excluded = set(exclude) | STOP_WORDS
    verbs = []
    for word in top_n_list("en", scan):
        if len(word) < 3 or not word.isalpha() or word in excluded or word.endswith(("ing", "ed")):
            continue
        if word.endswith("s") and freq(word[:-1]) > freq(word):
            continue  # a plural or third-person form of a more frequent lemma
        if _is_verb_by_ing(word, freq):
            verbs.append(word)
            if len(verbs) == n:
                break
    return tuple(verbs)
