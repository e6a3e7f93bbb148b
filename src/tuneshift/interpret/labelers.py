"""Labelling FFN concepts (Wu et al. 2023, ``run_chatgpt_annotate.py``): a word list → a concept summary (or "Cannot
Tell"), the assistant tasks it serves (writing / math / coding / translation / none) and its linguistic level
(phonology / morphology / syntax / semantics).

Two backends share the :class:`Labeler` interface (``label(words) -> Label``):

- :class:`ChatLabeler`: any OpenAI-compatible chat endpoint (OpenAI, vLLM, llama.cpp server, Ollama...) with the
  paper's three prompts and few-shot examples, verbatim. Few-shot examples are sent as user/assistant turns (the
  paper used system messages with ``name`` fields, which many local servers ignore). The paper ran
  gpt-3.5-turbo-0613, temperature 1.0 / top-p 0.9 for summaries and 0.0 / 0.9 for the two classifications, 5 seeds.
- :class:`LexiconLabeler`: offline and deterministic, documented word lists and spelling rules (see its docstring);
  a category applies when at least half of the words fit it — the paper's own standard for an explainable concept
  ("more than half of the given words within one clear concept").
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Protocol

from tuneshift.errors import InvalidParameterError, TuneshiftError

TASKS = ("writing", "math", "coding", "translation", "none")
LEVELS = ("phonology", "morphology", "syntax", "semantics")
CANNOT_TELL = "Cannot Tell"


@dataclass(frozen=True)
class Label:
    summary: str
    explainable: bool
    tasks: tuple[str, ...] = ()
    level: str = ""


class Labeler(Protocol):
    def label(self, words: list[str]) -> Label: ...


# --- the paper's prompts (run_chatgpt_annotate.py) -------------------------------------------------------------------

SUMMARY_PROMPT = (
    "You are a neuron interpreter for neural networks. Each neuron looks for one particular "
    "concept/topic/theme/behavior/pattern. Look at some words the neuron activates for and summarize in a single "
    "concept/topic/theme/behavior/pattern what the neuron is looking for. Don't list examples of words and keep your "
    "summary as concise as possible. If you cannot summarize more than half of the given words within one clear "
    "concept/topic/theme/behavior/pattern, you should say 'Cannot Tell'."
)
SUMMARY_EXAMPLES = (
    ("Words: January, terday, cember, April, July, September, December, Thursday, quished, November, Tuesday.",
     "dates."),
    ("Words: B., M., e., R., C., OK., A., H., D., S., J., al., p., T., N., W., G., a.C., or, St., K., a.m., L..",
     "abbrevations and acronyms."),
    ("Words: actual, literal, real, Real, optical, Physical, REAL, virtual, visual.", "perception of reality."),
    ("Words: Go, Python, C++, Java, c#, python3, cuda, java, javascript, basic.", "programing languages."),
    ("Words: 1950, 1980, 1985, 1958, 1850, 1980, 1960, 1940, 1984, 1948.", "years"),
)  # fmt: skip
TASK_PROMPT = (
    "Which of the following assistant tasks can the given concept is used for?\n\nTasks: daily writing, literary "
    "writing, professional writing, solving math problems, coding, translation. Return 'None' if it cannot be used "
    "for any of the above tasks. If it could be used for multiple tasks, list all of them and seperate with ';'."
)
TASK_EXAMPLES = (
    ("Concept: Words are social media post tags.", "daily writing"),
    ("Concept: Words are Latex code for drawing a grouped barchart.", "professional writing"),
    ("Concept: Words are foreign words or names.", "translation"),
    ("Concept: Words are numbers.", "solving math problems"),
    ("Concept: Words are URLs.", "None"),
    ("Concept: Words are Words related to configuration files and web addresses.", "coding"),
    ("Concept: Words are rhyming words.", "literary writing"),
    ("Concept: Words are programming commands and terms.", "coding"),
)
LEVEL_PROMPT = (
    "You are a linguist. Classify the provided concept into one of the following categories: Phonology, Morphology, "
    "Syntax, and Semantic."
)
LEVEL_EXAMPLES = (
    ("Concept: Words are dates.", "Semantic"),
    ("Concept: Words are perception of reality.", "Semantic"),
    ("Concept: Words are abbrevations and acronyms.", "Morphology"),
    ("Concept: Words are related to actions or activities.", "Syntax"),
    ("Concept: words are medical abbrivations.", "Semantic"),
    ("Concept: Words are URLs.", "Morphology"),
    ("Concept: Words are verbs.", "Syntax"),
    ("Concept: Words are adjective.", "Syntax"),
    ("Concept: Words are rhyming words.", "Phonology"),
    ("Concept: Words are programing languges.", "Semantic"),
)


def parse_summary(text: str) -> tuple[str, bool]:
    """(summary, explainable): the paper drops "word"/"related to" noise and cuts at the first period; a reply
    containing "cannot tell" (any case) is not explainable."""
    clean = " ".join(text.strip().split())
    if "cannot tell" in clean.lower():
        return CANNOT_TELL, False
    return clean.rstrip("."), True


def parse_tasks(text: str) -> tuple[str, ...]:
    """Task categories named in a reply, as the paper's analysis matches them (substring, any case): "daily /
    literary / professional writing" → writing, "solving math problems" → math; "None" → none."""
    lower = text.lower()
    return tuple(task for task in TASKS if task in lower)


def parse_level(text: str) -> str:
    """The linguistic level named first in a reply ("Semantic" → semantics), "" when none is named."""
    lower = text.lower()
    found = [(lower.find(level[:-1] if level == "semantics" else level), level) for level in LEVELS]
    found = [(position, level) for position, level in found if position >= 0]
    return min(found)[1] if found else ""


def chat_completions_url(base_url: str) -> str:
    """``<base>/chat/completions`` when the base ends in /v1 (OpenAI style), else ``<base>/v1/chat/completions``."""
    base = base_url.rstrip("/")
    return f"{base}/chat/completions" if base.endswith("/v1") else f"{base}/v1/chat/completions"


def is_loopback(host: str | None) -> bool:
    """True for ``localhost`` (and ``*.localhost``) and loopback addresses (127.0.0.0/8, ::1)."""
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Follow no redirect: urllib would re-send the request, Authorization header included, to wherever the
    answer points. Returning None makes urllib raise the 3xx as an HTTPError, which :meth:`ChatLabeler.chat`
    refuses by name."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_RefuseRedirects)


class ChatLabeler:
    """The paper's three-step annotation through an OpenAI-compatible ``/v1/chat/completions`` endpoint.

    base_url: e.g. ``https://api.openai.com/v1`` or ``http://127.0.0.1:8000``; ``https`` is required except for
    loopback hosts (the key and the prompts would cross the network in clear). model: the served model name.
    api_key_env: environment variable holding the key (sent as a Bearer token when set; local servers need none).
    The key is read at each request, never stored on the object, logged or written, and never sent anywhere but
    `base_url`'s origin: redirects are not followed (an endpoint that answers with one is refused by name).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str = "OPENAI_API_KEY",
        summary_temperature: float = 1.0,
        classify_temperature: float = 0.0,
        top_p: float = 0.9,
        seed: int | None = None,
        timeout: float = 60.0,
        retries: int = 2,
    ):
        parts = urllib.parse.urlsplit(base_url)
        if parts.username or parts.password:
            raise InvalidParameterError(
                "base_url",
                "a URL without user:password@",
                f"{parts.scheme}://{parts.hostname}/...",
                f"Put the key in the environment variable named by api_key_env (${api_key_env}) instead.",
            )
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidParameterError("base_url", "an http(s) URL", base_url, "e.g. http://127.0.0.1:8000/v1")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise InvalidParameterError(
                "base_url",
                "an https URL (plain http only for a server on this machine: localhost, 127.0.0.1, ::1)",
                base_url,
                "Use https://, or reach the server through an SSH tunnel to localhost.",
            )
        self.url = chat_completions_url(base_url)
        self.model = model
        self.api_key_env = api_key_env
        self.summary_temperature = summary_temperature
        self.classify_temperature = classify_temperature
        self.top_p = top_p
        self.seed = seed
        self.timeout = timeout
        self.retries = retries

    def chat(self, system: str, examples: tuple[tuple[str, str], ...], query: str, temperature: float) -> str:
        """One chat completion: system prompt, few-shot turns, the query → the first choice's text."""
        messages = [{"role": "system", "content": system}]
        for user, assistant in examples:
            messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
        messages.append({"role": "user", "content": query})
        body = {"model": self.model, "messages": messages, "temperature": temperature, "top_p": self.top_p}
        if self.seed is not None:
            body["seed"] = self.seed
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(self.url, data=json.dumps(body).encode(), headers=headers, method="POST")
        for attempt in range(self.retries + 1):
            try:
                with _OPENER.open(request, timeout=self.timeout) as response:
                    reply = json.loads(response.read().decode("utf8"))
                return reply["choices"][0]["message"]["content"] or ""
            except urllib.error.HTTPError as error:
                if 300 <= error.code < 400:
                    raise TuneshiftError(
                        f"chat endpoint {self.url} answered with a redirect (HTTP {error.code}) to "
                        f"{error.headers.get('Location', '(no Location)')}; refused: the request and its API key are "
                        "not re-sent to another address. Pass the final address as --endpoint if you trust it."
                    ) from None
                if attempt == self.retries or (error.code < 500 and error.code != 429):
                    raise TuneshiftError(
                        f"chat endpoint {self.url} answered HTTP {error.code} {error.reason}. Check --endpoint, "
                        f"the model name and ${self.api_key_env}."
                    ) from None
                time.sleep(0.5 * 2**attempt)
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                if attempt == self.retries:
                    raise TuneshiftError(
                        f"chat endpoint {self.url} failed after {self.retries + 1} tries: {error}. Check --endpoint, "
                        f"that the server is running, and ${self.api_key_env}."
                    ) from error
                time.sleep(0.5 * 2**attempt)
            except (KeyError, IndexError, TypeError, json.JSONDecodeError) as error:
                raise TuneshiftError(
                    f"chat endpoint {self.url} did not answer in the OpenAI chat format (choices[0].message.content)"
                ) from error
        raise AssertionError("unreachable")

    def label(self, words: list[str]) -> Label:
        reply = self.chat(SUMMARY_PROMPT, SUMMARY_EXAMPLES, f"Words: {', '.join(words)}.", self.summary_temperature)
        summary, explainable = parse_summary(reply)
        if not explainable:
            return Label(summary, False)
        concept = f"Concept: Words are {summary.lower()}"
        tasks = parse_tasks(self.chat(TASK_PROMPT, TASK_EXAMPLES, concept, self.classify_temperature))
        level = parse_level(self.chat(LEVEL_PROMPT, LEVEL_EXAMPLES, concept, self.classify_temperature))
        return Label(summary, True, tasks, level)


# --- offline lexicon labeller ---------------------------------------------------------------------------------------

#: Programming keywords, common identifiers and formats (Python, C-family, JavaScript, web, shell).
CODING_WORDS = frozenset(
    "def return function class import from var let const int float str string bool boolean null nil none true false "
    "print self this public private protected void static async await lambda elif else if for while try except "
    "catch throw new typeof json html css http https url api sql select insert python java javascript js cpp php "
    "ruby rust golang npm pip git github div span href src img args kwargs params config init main std cout println "
    "printf len dict list array struct enum namespace module package regex xml yaml bash sudo linux docker server "
    "database query debug compile runtime variable parameter method object instance loop index integer script "
    "code coding program programming localhost stdout stderr tensor numpy pandas react node".split()
)
#: Numbers, operators and mathematical vocabulary.
MATH_WORDS = frozenset(
    "sum plus minus times divide divided multiply multiplied equation equations equal equals fraction ratio percent "
    "percentage average mean median probability derivative integral matrix vector theorem proof angle triangle "
    "square circle radius degree degrees number numbers digit digits calculate solve formula algebra geometry "
    "calculus zero one two three four five six seven eight nine ten eleven twelve hundred thousand million billion "
    "half double triple log sin cos tan sqrt exp pi infinity variable function graph slope area volume total "
    "maximum minimum odd even prime".split()
)
#: Genres, parts of texts, correspondence and rhetoric: what writing tasks are made of.
WRITING_WORDS = frozenset(
    "story stories poem poems poetry essay letter email novel chapter paragraph sentence narrative character plot "
    "rhyme verse tone style title author article blog post tweet caption headline dear sincerely regards draft "
    "summary introduction conclusion dialogue scene metaphor theme describe write writing written wrote reader "
    "audience hashtag slogan lyrics song speech report review".split()
)
#: Closed-class English words (determiners, pronouns, prepositions, conjunctions, auxiliaries, modals).
FUNCTION_WORDS = frozenset(
    "a an the this that these those my your his her its our their mine yours hers ours theirs i me you he him she "
    "it we us they them who whom whose which what whoever in on at by for with about against between into through "
    "during before after above below to from up down of off over under again further then once and but or nor so "
    "yet because although while if unless since until as than whether either neither both each every all any few "
    "more most other some such no not only own same too very is am are was were be been being have has had having "
    "do does did doing will would shall should can could may might must ought there here when where why how".split()
)
PREFIXES = ("un", "re", "dis", "pre", "non", "over", "under", "mis", "sub", "inter", "anti", "de", "en", "im", "in")
SUFFIXES = (
    "ing", "ed", "ly", "tion", "sion", "ness", "able", "ible", "ful", "less", "ous", "ive", "al", "er",
    "est", "ist", "ism", "ize", "ise", "ity", "mente", "ment", "es", "s",
)  # fmt: skip
FOREIGN_LANGS = ("fr", "de", "es", "it", "pt", "nl", "ru")  # zh/ja need jieba/MeCab; other scripts are caught anyway
_IDENTIFIER = re.compile(r"^[a-z]+[A-Z][A-Za-z]*$|^[A-Za-z]+_[A-Za-z_]+$|^\w+\.(py|js|ts|cpp|h|java|json|html|css|md)$")
_CODE_SYMBOL = re.compile(r"[{}<>\[\];]|=>|==|::|\(\)|//|/\*|</|/>")
_NUMBER = re.compile(r"^[+-]?\d+([.,]\d+)*%?$")
_MATH_SYMBOL = re.compile(r"^[+\-*/=^%<>≤≥∑√π∞±×÷]+$")
_RIME = re.compile(r"[aeiouy]+[^aeiouy]*$")


def _zipf(word: str, lang: str = "en") -> float:
    from wordfreq import zipf_frequency

    return zipf_frequency(word, lang)


def _rime(word: str) -> str:
    """Spelled rime: the last vowel group and its coda, a silent final e kept with them ("night" → "ight", "side" →
    "ide"); "" when shorter than 3 letters or the whole word (too weak a rhyme to count)."""
    stem, silent_e = (word[:-1], "e") if word.endswith("e") and len(word) > 3 else (word, "")
    match = _RIME.search(stem)
    rime = match.group(0) + silent_e if match else ""
    return rime if 3 <= len(rime) < len(word) else ""


def _is_fragment(word: str) -> bool:
    """An alphabetic string that is a word in none of the languages checked: a sub-word piece such as "cember"."""
    lower = word.lower()
    return word.isalpha() and _zipf(lower) < 1 and max(_zipf(lower, lang) for lang in FOREIGN_LANGS) < 1


def _is_closed_class(word: str) -> bool:
    return word.lower() in FUNCTION_WORDS or (bool(word) and all(not ch.isalnum() for ch in word))


class LexiconLabeler:
    """Offline, deterministic labeller from word lists and spelling rules; a category needs ≥ ``min_share`` of the
    words (default one half, the paper's explainability standard).

    Tasks (a concept can serve several):
      coding — programming keywords/identifiers (:data:`CODING_WORDS`), camelCase/snake_case names, file names,
      code symbols; math — numbers, operators, :data:`MATH_WORDS`; translation — words that are not English but are
      words of another major language (wordfreq Zipf ≥ 3 in one of :data:`FOREIGN_LANGS` and at least 1 above its
      English Zipf, i.e. ten times more frequent there) or in a non-Latin script; writing — :data:`WRITING_WORDS` or
      descriptive adjectives/adverbs (common English words
      ending in -ly/-ful/-ous/-ive/-less). None of them → "none".
    Levels (first rule that applies):
      phonology — the words rhyme: they share a spelled rime (last vowel group + coda, e.g. -ight) that is not a
      morphological suffix; morphology — they share an affix (:data:`PREFIXES`, :data:`SUFFIXES`) or a stem of ≥ 4
      letters, are case variants of each other, abbreviations (2–5 capitals), or sub-word fragments (alphabetic,
      Zipf < 1 in every language checked); syntax — closed-class function words (:data:`FUNCTION_WORDS`) or
      punctuation; semantics — the words share a task domain other than "none" (numbers, code, foreign words,
      writing terms are meaning-based groupings, as the paper's examples "dates" and "programming languages").
    Nothing applies → "Cannot Tell". Topical groups outside the lexicons (e.g. animals) are missed, so this labeller
    gives a lower bound on semantics and on explainability; use :class:`ChatLabeler` for the paper's protocol.
    """

    def __init__(self, min_share: float = 0.5):
        if not 0 < min_share <= 1:
            raise InvalidParameterError("min_share", "a fraction in (0, 1]", min_share)
        self.min_share = min_share

    def _share(self, words: list[str], test) -> float:
        return sum(bool(test(word)) for word in words) / len(words)

    def _tasks(self, words: list[str]) -> tuple[str, ...]:
        def coding(w: str) -> bool:
            return w.lower() in CODING_WORDS or bool(_IDENTIFIER.match(w) or _CODE_SYMBOL.search(w))

        def math(w: str) -> bool:
            return w.lower() in MATH_WORDS or bool(_NUMBER.match(w) or _MATH_SYMBOL.match(w))

        def translation(w: str) -> bool:
            if any(ch.isalpha() and ord(ch) > 0x24F for ch in w):  # beyond Latin Extended: another script
                return True
            lower = w.lower()
            foreign = max(_zipf(lower, lang) for lang in FOREIGN_LANGS) if w.isalpha() else 0.0
            return foreign >= 3 and foreign >= _zipf(lower) + 1

        def writing(w: str) -> bool:
            lower = w.lower()
            descriptive = lower.endswith(("ly", "ful", "ous", "ive", "less")) and _zipf(lower) >= 3
            return lower in WRITING_WORDS or descriptive

        tests = {"writing": writing, "math": math, "coding": coding, "translation": translation}
        tasks = tuple(task for task, test in tests.items() if self._share(words, test) >= self.min_share)
        return tasks or ("none",)

    def _level(self, words: list[str], tasks: tuple[str, ...]) -> tuple[str, str]:
        """(level, reason) or ("", "")."""
        alpha = [w.lower() for w in words if w.isalpha()]
        need = self.min_share * len(words)
        if alpha:
            for affix in sorted(SUFFIXES, key=len, reverse=True):
                if sum(w.endswith(affix) and len(w) > len(affix) + 2 for w in alpha) >= max(need, 2):
                    return "morphology", f"words with the suffix -{affix}"
            for affix in sorted(PREFIXES, key=len, reverse=True):
                if sum(w.startswith(affix) and len(w) > len(affix) + 2 for w in alpha) >= max(need, 2):
                    return "morphology", f"words with the prefix {affix}-"
            rimes = [rime for w in alpha if (rime := _rime(w))]
            top = max(set(rimes), key=rimes.count, default="")
            if top and rimes.count(top) >= max(need, 3):
                return "phonology", f"rhyming words (-{top})"
            stems = [w[:4] for w in alpha if len(w) >= 4]
            stem = max(set(stems), key=stems.count, default="")
            if stem and stems.count(stem) >= max(need, 2):
                return "morphology", f"forms of the stem {stem}-"
        if len({w.lower() for w in words}) <= len(words) / 2:
            return "morphology", "case variants of the same words"
        if self._share(words, lambda w: 2 <= len(w) <= 5 and w.isalpha() and w.isupper()) >= self.min_share:
            return "morphology", "abbreviations and acronyms"
        if self._share(words, _is_fragment) >= self.min_share:
            return "morphology", "sub-word fragments"
        if self._share(words, _is_closed_class) >= self.min_share:
            return "syntax", "function words and punctuation"
        if tasks != ("none",):
            return "semantics", "/".join(tasks) + " vocabulary"
        return "", ""

    def label(self, words: list[str]) -> Label:
        words = [w.strip() for w in words if w.strip()]
        if not words:
            return Label(CANNOT_TELL, False)
        tasks = self._tasks(words)
        level, reason = self._level(words, tasks)
        if not level:
            return Label(CANNOT_TELL, False)
        return Label(reason, True, tasks, level)
