"""The FAQ corpus: the files staff edit in faq_data/, validated, rendered and hot-reloaded.

Every ``*.json`` file in the FAQ directory except ``schema.json`` is part of
the corpus: ``{"entries": [...]}`` and/or ``{"synonyms": {...}}`` (see
faq_data/README.md). Loading checks, and `check()` reports, each of:

* JSON syntax and the JSON Schema (faq_data/schema.json)            - error
* an id used twice                                                  - error
* a {placeholder} that config/brand.json does not define            - error
* a rendered reply over REPLY_MAX_BYTES, control characters         - error
* a word listed as the synonym of two different words               - error
* a keyword or similar question claimed by two entries              - warning:
  both entries score alike on it and the router asks the user to choose,
  which is a sane outcome, so it never blocks a reload.

What loading does with errors depends on whether a corpus is serving already:

* at the first load (`strict=False`) the bad entries and files are left out,
  everything valid loads, and the problems ride along in `Corpus.problems`;
  `corpus_source` copies them to the source's ``.error``. The bot starts
  (an empty corpus at worst: every message falls back to a human);
* on a reload (`strict=True`) any error raises `CorpusError`, so the
  `ReloadingSource` keeps the last good corpus and exposes the error.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator, Mapping

from jsonschema import Draft202012Validator

from bot.normalize import normalize
from bot.reloader import ReloadingSource

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCHEMA_NAME = "schema.json"
SCHEMA_PATH = PROJECT_ROOT / "faq_data" / SCHEMA_NAME
#: WeChat's limit on the text of a passive reply or a customer-service text message, in UTF-8 bytes.
WECHAT_TEXT_LIMIT_BYTES = 2048
#: Our own ceiling for one rendered answer (links and footer included): it leaves room for
#: what the router or an agent adds around an answer without reaching WeChat's limit.
REPLY_MAX_BYTES = 1600
#: The brand key whose text ends every answer flagged `fraud_warning`.
FOOTER_KEY = "anti_fraud_footer"
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Problem:
    file: str
    entry: str | None
    message: str
    severity: str = ERROR

    def __str__(self) -> str:
        label = "错误" if self.severity == ERROR else "警告"
        where = f"{self.file} [{self.entry}]" if self.entry else self.file
        return f"{label}  {where}: {self.message}"


class CorpusError(Exception):
    """The corpus (or the brand file) has errors; `problems` lists them."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = tuple(problems)
        shown = "; ".join(str(p) for p in self.problems[:3])
        more = len(self.problems) - 3
        super().__init__(shown + (f" (+{more})" if more > 0 else ""))


@dataclass(frozen=True)
class FaqEntry:
    id: str
    category: str
    question: str
    keywords: tuple[str, ...]
    answer: str
    similar_questions: tuple[str, ...] = ()
    #: Messages users send that this entry answers: what the model learns from.
    examples: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()
    enabled: bool = True
    fraud_warning: bool = False
    file: str = ""

    @classmethod
    def from_dict(cls, data: Mapping, file: str = "") -> "FaqEntry":
        return cls(
            id=data["id"], category=data["category"], question=data["question"],
            keywords=tuple(data["keywords"]), answer=data["answer"],
            similar_questions=tuple(data.get("similar_questions", ())),
            examples=tuple(data.get("examples", ())),
            links=tuple((link["title"], link["url"]) for link in data.get("links", ())),
            enabled=data.get("enabled", True), fraud_warning=data.get("fraud_warning", False), file=file,
        )

    def templates(self) -> Iterator[str]:
        """Every text of the entry that may hold {placeholders}."""
        yield self.question
        yield self.answer
        yield from self.keywords
        yield from self.similar_questions
        yield from self.examples
        for title, url in self.links:
            yield title
            yield url

    def training_texts(self) -> Iterator[str]:
        """What the model learns this entry from: the question, similar questions, keywords, examples."""
        yield self.question
        yield from self.similar_questions
        yield from self.keywords
        yield from self.examples

    def reply(self, brand: Mapping[str, object]) -> str:
        """The answer as sent: placeholders filled, links and the anti-fraud footer appended."""
        lines = [render(self.answer, brand)]
        lines += [f"{render(title, brand)}：{render(url, brand)}" for title, url in self.links]
        if self.fraud_warning:
            lines.append(render(str(brand[FOOTER_KEY]), brand))
        return "\n".join(lines)


#: What the bot does with a message of a non-FAQ intent (faq_data/intents.json).
INTENT_ROUTES = ("handoff", "greeting", "fallback", "scam_alert", "follow_up", "verify")


@dataclass(frozen=True)
class Intent:
    """A non-FAQ intent: handoff, a greeting, out-of-scope, scam, victim; learnt from its examples."""
    id: str
    route: str
    examples: tuple[str, ...]
    reply: str = ""
    file: str = ""
    #: The FAQ entry that answers a message of this intent when its route has nothing to act on
    #: (a verify question that names no contact gets the guide to telling real staff from fake).
    answer_with: str = ""

    @classmethod
    def from_dict(cls, data: Mapping, file: str = "") -> "Intent":
        return cls(data["id"], data["route"], tuple(data["examples"]), data.get("reply", ""), file,
                   data.get("answer_with", ""))


def render(template: str, values: Mapping[str, object], strict: bool = True) -> str:
    """Fill {name} placeholders from `values`; a missing name raises KeyError unless not strict."""
    def fill(match: re.Match) -> str:
        name = match.group(1)
        if name in values:
            return str(values[name])
        if strict:
            raise KeyError(name)
        return match.group(0)

    return PLACEHOLDER.sub(fill, template)


def shown_path(path: Path) -> str:
    """A path as staff see it: relative to the project when inside it."""
    try:
        return str(Path(path).resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def corpus_files(faq_dir: str | Path) -> list[Path]:
    """The corpus files of a directory, in a stable order."""
    return sorted(p for p in Path(faq_dir).glob("*.json") if p.name != SCHEMA_NAME and p.is_file())


def read_brand(path: str | Path) -> dict[str, object]:
    """config/brand.json as a dict; CorpusError if unreadable or not an object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorpusError([Problem(shown_path(Path(path)), None, f"品牌信息文件读不了：{exc}")]) from exc
    if not isinstance(data, dict):
        raise CorpusError([Problem(shown_path(Path(path)), None, "品牌信息文件应该是一个 JSON 对象")])
    return data


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def _entry_label(data: Mapping, index: int) -> str:
    entries = data.get("entries")
    item = entries[index] if isinstance(entries, list) and index < len(entries) else None
    if isinstance(item, dict) and isinstance(item.get("id"), str):
        return item["id"]
    return f"第{index + 1}条"


def _schema_problems(data: object, file: str) -> tuple[list[Problem], set[int], bool]:
    """Schema violations, the indexes of the entries they hit, and whether the file as a whole is usable."""
    problems, bad_entries, usable = [], set(), True
    for error in _validator().iter_errors(data):
        path = list(error.absolute_path)
        if len(path) >= 2 and path[0] == "entries" and isinstance(path[1], int):
            bad_entries.add(path[1])
            entry, where = _entry_label(data, path[1]), "/".join(map(str, path[2:])) or "整条"
        else:
            usable, entry, where = False, None, "/".join(map(str, path)) or "文件"
        problems.append(Problem(file, entry, f"格式不对（{where}）：{error.message}"))
    return problems, bad_entries, usable


def _entry_problems(entry: FaqEntry, brand: Mapping[str, object]) -> list[Problem]:
    problems = []

    def add(message: str) -> None:
        problems.append(Problem(entry.file, entry.id, message))

    missing = sorted({name for text in entry.templates() for name in PLACEHOLDER.findall(text)} - brand.keys())
    for name in missing:
        add(f"占位符 {{{name}}} 在品牌信息（config/brand.json）里没有")
    if entry.fraud_warning and FOOTER_KEY not in brand:
        add(f"fraud_warning 需要品牌信息里的 {FOOTER_KEY}，但没有找到")
    if _CONTROL.search(entry.answer) or _CONTROL.search(entry.question):
        add("回复或问题里有控制字符（会让微信的 XML 解析失败）")
    for keyword in entry.keywords:
        if not normalize(keyword):
            add(f"关键词「{keyword}」去掉标点和表情后是空的")
    if problems:
        return problems
    try:
        size = len(entry.reply(brand).encode("utf-8"))
    except KeyError as exc:  # a placeholder inside the brand's own footer text
        add(f"占位符 {{{exc.args[0]}}} 在品牌信息里没有（出现在 {FOOTER_KEY} 里）")
        return problems
    if size > REPLY_MAX_BYTES:
        add(f"回复有 {size} 字节（UTF-8，含链接和提醒），超过上限 {REPLY_MAX_BYTES} 字节"
            f"（微信文本上限 {WECHAT_TEXT_LIMIT_BYTES} 字节）；请精简或拆成两条")
    return problems


def _merge_synonyms(table: dict[str, list[str]], owners: dict[str, tuple[str, str]],
                    synonyms: Mapping[str, list[str]], file: str) -> list[Problem]:
    """Add one file's synonyms to `table`; a word that would mean two things is an error."""
    problems = []
    for canonical, variants in synonyms.items():
        for variant in variants:
            word = normalize(variant)
            claimed = owners.get(word)
            if claimed and normalize(claimed[0]) != normalize(canonical):
                problems.append(Problem(file, None, f"同义词「{variant}」同时属于「{claimed[0]}」（{claimed[1]}）和「{canonical}」"))
                continue
            owners[word] = (canonical, file)
            table.setdefault(canonical, []).append(variant)
    for canonical in table:
        claimed = owners.get(normalize(canonical))
        if claimed and normalize(claimed[0]) != normalize(canonical):
            problems.append(Problem(file, None, f"「{canonical}」既是标准词，又是「{claimed[0]}」的同义词"))
    return problems


def _shared_texts(entries: list[FaqEntry], intents: list[Intent], brand: Mapping[str, object]) -> list[Problem]:
    """Warnings for a keyword, question or example that two intents claim (the model cannot tell them apart)."""
    owners: dict[str, str] = {}
    problems = []
    labelled = [(e.file, e.id, render(t, brand, strict=False)) for e in entries if e.enabled
                for t in e.training_texts()]
    labelled += [(i.file, i.id, t) for i in intents for t in i.examples]
    for file, owner, text in labelled:
        key = normalize(text) or text.strip()
        first = owners.setdefault(key, owner)
        if first != owner:
            problems.append(Problem(file, owner, f"「{text}」也是 {first} 的例句：同一句话不能属于两个意图", WARNING))
    return problems


@dataclass
class Collected:
    """Everything read from the corpus files, and every problem found on the way."""
    entries: list[FaqEntry]
    synonyms: dict
    intents: list[Intent]
    hard_negatives: list[tuple[str, str]]
    problems: list[Problem]


def collect(faq_dir: str | Path, brand: Mapping[str, object]) -> Collected:
    """Read every corpus file: the valid entries and intents, the merged synonyms, and every problem found."""
    found_all = Collected([], {}, [], [], [])
    entries, intents, problems = found_all.entries, found_all.intents, found_all.problems
    synonym_owners: dict[str, tuple[str, str]] = {}
    seen: dict[str, str] = {}
    files = corpus_files(faq_dir)
    if not files:
        problems.append(Problem(shown_path(Path(faq_dir)), None, "目录里没有问答文件（*.json）"))
    for path in files:
        file = shown_path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            problems.append(Problem(file, None, f"不是有效的 JSON：{exc}"))
            continue
        found, bad_entries, usable = _schema_problems(data, file)
        problems += found
        if not usable:
            continue
        problems += _merge_synonyms(found_all.synonyms, synonym_owners, data.get("synonyms", {}), file)
        for index, raw in enumerate(data.get("entries", ())):
            if index in bad_entries:
                continue
            entry = FaqEntry.from_dict(raw, file=file)
            found = _entry_problems(entry, brand)
            if entry.id in seen:
                found.append(Problem(file, entry.id, f"id 重复：{seen[entry.id]} 里已经有这个 id"))
            problems += found
            if not found:
                seen[entry.id] = file
                entries.append(entry)
        for raw in data.get("intents", ()):
            intent = Intent.from_dict(raw, file=file)
            if intent.id in seen:
                problems.append(Problem(file, intent.id, f"id 重复：{seen[intent.id]} 里已经有这个 id"))
                continue
            missing = sorted(set(PLACEHOLDER.findall(intent.reply)) - brand.keys())
            if missing:
                problems.append(Problem(file, intent.id, f"占位符 {{{missing[0]}}} 在品牌信息（config/brand.json）里没有"))
                continue
            seen[intent.id] = file
            intents.append(intent)
        found_all.hard_negatives += [(item["text"], item["intent"]) for item in data.get("hard_negatives", ())]
    known = set(seen)
    for intent in intents:
        if intent.answer_with and intent.answer_with not in {e.id for e in entries}:
            problems.append(Problem(intent.file, intent.id, f"answer_with 指向不存在的问答 {intent.answer_with}"))
    for text, label in found_all.hard_negatives:
        if label not in known:
            problems.append(Problem(shown_path(Path(faq_dir)), label, f"反例「{text}」指向不存在的意图 {label}"))
    found_all.hard_negatives = [(t, l) for t, l in found_all.hard_negatives if l in known]
    problems += _shared_texts(entries, intents, brand)
    if files and not any(e.enabled for e in entries):
        problems.append(Problem(shown_path(Path(faq_dir)), None, "没有一条可用的问答"))
    return found_all


class Corpus:
    """The loaded corpus: FAQ entries and other intents by id, rendered replies, and the model trained on them."""

    def __init__(self, entries: Iterable[FaqEntry], synonyms: Mapping[str, list[str]] | None,
                 brand: Mapping[str, object], problems: Iterable[Problem] = (),
                 intents: Iterable[Intent] = (), hard_negatives: Iterable[tuple[str, str]] = ()):
        self.entries = {e.id: e for e in entries}
        self.synonyms = dict(synonyms or {})
        self.intents = {i.id: i for i in intents}
        self.hard_negatives = tuple(hard_negatives)
        self.brand = dict(brand)
        self.problems = tuple(problems)
        active = [e for e in self.entries.values() if e.enabled]
        self._replies = {e.id: e.reply(self.brand) for e in active}
        self._questions = {e.id: render(e.question, self.brand) for e in active}
        self._model = None

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == ERROR)

    def __len__(self) -> int:
        return len(self._replies)

    def __contains__(self, faq_id: str) -> bool:
        return faq_id in self._replies

    def reply(self, faq_id: str) -> str:
        return self._replies[faq_id]

    def question(self, faq_id: str) -> str:
        return self._questions[faq_id]

    def intent_reply(self, intent_id: str) -> str:
        """A non-FAQ intent's reply with the brand filled in ("" when it has none)."""
        intent = self.intents.get(intent_id)
        return render(intent.reply, self.brand, strict=False) if intent else ""

    def answered_with(self, intent_id: str) -> str | None:
        """The FAQ entry a non-FAQ intent falls back on (`answer_with`), when it is served."""
        intent = self.intents.get(intent_id)
        return intent.answer_with if intent and intent.answer_with in self else None

    def route_of(self, label: str) -> str:
        """The route a model label leads to: faq for an entry, the intent's route otherwise."""
        if label in self._replies:
            return "faq"
        intent = self.intents.get(label)
        return intent.route if intent else "fallback"

    def labelled_texts(self) -> Iterator[tuple[str, str]]:
        """(text, intent id) for every example the model learns from: entries, intents, hard negatives.

        A disabled entry is learnt too (the router leaves it out of every reading): switching an
        entry off or on again needs no retraining, so it is served at once.
        """
        for entry in self.entries.values():
            for text in entry.training_texts():
                yield render(text, self.brand, strict=False), entry.id
        for intent in self.intents.values():
            for text in intent.examples:
                yield text, intent.id
        for text, label in self.hard_negatives:
            if label in self.entries or label in self.intents:
                yield text, label

    def serves(self, label: str) -> bool:
        """An enabled entry or an intent: a label the router may act on."""
        return label in self._replies or label in self.intents

    @property
    def model(self):
        """The intent model trained on this corpus (trained, or loaded from var/, on first use)."""
        if self._model is None:
            from bot.understanding import default_store
            self._model = default_store().model_for(self)
        return self._model

    @model.setter
    def model(self, value) -> None:
        self._model = value


def _brand(brand: Mapping[str, object] | str | Path, strict: bool) -> tuple[dict, list[Problem]]:
    if isinstance(brand, Mapping):
        return dict(brand), []
    try:
        return read_brand(brand), []
    except CorpusError as exc:
        if strict:
            raise
        return {}, list(exc.problems)


def check(faq_dir: str | Path, brand: Mapping[str, object] | str | Path) -> list[Problem]:
    """Every problem of the corpus (errors and warnings); `brand` is the dict or its file."""
    values, problems = _brand(brand, strict=False)
    return problems + collect(faq_dir, values).problems


def load_corpus(faq_dir: str | Path, brand: Mapping[str, object] | str | Path, strict: bool = False) -> Corpus:
    """Load the corpus; with `strict`, any error raises CorpusError instead of being skipped."""
    values, problems = _brand(brand, strict)
    found = collect(faq_dir, values)
    problems += found.problems
    errors = [p for p in problems if p.severity == ERROR]
    if strict and errors:
        raise CorpusError(errors)
    return Corpus(found.entries, found.synonyms, values, problems, found.intents, found.hard_negatives)


def corpus_source(settings) -> ReloadingSource[Corpus]:
    """The corpus of BOT_FAQ_DIR + BOT_BRAND_FILE, reloaded when either changes (see module doc)."""
    faq_dir, brand_file = Path(settings.BOT_FAQ_DIR), Path(settings.BOT_BRAND_FILE)
    served: list[Corpus] = []

    def list_files() -> list[Path]:
        return [*corpus_files(faq_dir), brand_file]

    def load() -> Corpus:
        corpus = load_corpus(faq_dir, brand_file, strict=bool(served))
        corpus.model  # train (or load) now: an edit the model cannot learn from never serves
        served[:] = [corpus]
        return corpus

    source = ReloadingSource(list_files, load, interval=settings.BOT_RELOAD_INTERVAL, name="FAQ corpus")
    first = served[0]
    if first.errors:
        source.error = str(CorpusError(first.errors))
        log.error("FAQ corpus loaded without the entries that have errors: %s", source.error)
    return source
