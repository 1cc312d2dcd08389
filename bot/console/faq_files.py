"""Checked, atomic edits of the FAQ files staff also edit by hand (plain Python, no Flask).

An edit replaces one entry (a dict, every field kept as given: fields the
console does not know survive), adds one, or removes one (undo of an add).
Before anything is written the changed file is put next to copies of the other
corpus files in a scratch directory and `bot.faq.check` — the function
`python -m bot faq check` runs — is run over it: an error the corpus did not
have before refuses the save; warnings are shown. The preview is a unified diff
of the file.

Concurrency: each entry has a version (a hash of its JSON); a save names the
version it was based on and is refused with `Conflict` if the entry changed
since. Saves hold a file lock, so two processes never interleave a
read-modify-write. The file is written to a temporary file in the same
directory and renamed over the old one (readers, including the hot reload, see
the old or the new file, never half of one); the old file is kept in the
backup directory first.
"""
from __future__ import annotations

import difflib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bot.faq import ERROR, Problem, check, corpus_files, shown_path


class Conflict(Exception):
    """The entry changed since the editor read it; `current` is what is there now (None: gone)."""

    def __init__(self, current: dict | None):
        self.current = current
        super().__init__("entry changed since it was read")


class Refused(Exception):
    """The edit would add errors to the corpus; `problems` lists them."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems[:3]))


def dumps(value, indent: int = 0) -> str:
    """JSON in the layout of faq_data/: objects one key a line, short flat lists on one line, long ones
    (examples) one item a line, so a staff edit is a one-line diff."""
    pad = "  " * indent

    def flat(v) -> bool:
        return not isinstance(v, (dict, list)) or (
            isinstance(v, dict) and all(not isinstance(x, (dict, list)) for x in v.values()))

    if isinstance(value, dict) and value:
        items = [f"{pad}  {json.dumps(k, ensure_ascii=False)}: {dumps(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and not all(flat(v) for v in value):
        return "[\n" + ",\n".join(f"{pad}  {dumps(v, indent + 1)}" for v in value) + f"\n{pad}]"
    if isinstance(value, list):
        one_line = "[" + ", ".join(json.dumps(v, ensure_ascii=False) for v in value) + "]"
        if len(one_line) <= LINE_WIDTH:
            return one_line
        return "[\n" + ",\n".join(f"{pad}  {json.dumps(v, ensure_ascii=False)}" for v in value) + f"\n{pad}]"
    return json.dumps(value, ensure_ascii=False)


#: A flat list longer than this (in characters, on one line) is written one item a line.
LINE_WIDTH = 100


def version_of(entry: dict | None) -> str:
    if entry is None:
        return "absent"
    return hashlib.sha256(json.dumps(entry, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Located:
    file: str            # file name inside the FAQ directory
    index: int
    entry: dict

    @property
    def version(self) -> str:
        return version_of(self.entry)


@dataclass
class Proposal:
    """An edit, checked, not yet written."""
    file: str
    faq_id: str
    before: dict | None
    after: dict | None
    old_text: str
    new_text: str
    problems: list[Problem] = field(default_factory=list)      # every problem of the changed corpus
    new_errors: list[Problem] = field(default_factory=list)    # errors the corpus did not have

    @property
    def diff(self) -> str:
        return "".join(difflib.unified_diff(self.old_text.splitlines(True), self.new_text.splitlines(True),
                                            f"{self.file}（现在）", f"{self.file}（保存后）", n=2))

    @property
    def ok(self) -> bool:
        return not self.new_errors


@dataclass(frozen=True)
class Saved:
    file: str
    faq_id: str
    before: dict | None
    after: dict | None
    backup: str


class FaqFiles:
    def __init__(self, faq_dir: str | Path, brand_file: str | Path, backup_dir: str | Path):
        self.dir = Path(faq_dir)
        self.brand_file = Path(brand_file)
        self.backup_dir = Path(backup_dir)

    # --- reading ------------------------------------------------------------------------------
    def files(self) -> list[str]:
        """Corpus files that hold (or may hold) entries, by name."""
        names = []
        for path in corpus_files(self.dir):
            data = self._read(path.name)[0]
            if isinstance(data, dict) and ("entries" in data or "synonyms" not in data):
                names.append(path.name)
        return names

    def _read(self, name: str) -> tuple[object, str]:
        path = self.dir / name
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            return None, ""
        try:
            return json.loads(text), text
        except json.JSONDecodeError:
            return None, text

    def entries(self) -> list[Located]:
        out = []
        for path in corpus_files(self.dir):
            data = self._read(path.name)[0]
            items = data.get("entries") if isinstance(data, dict) else None
            for index, entry in enumerate(items if isinstance(items, list) else ()):
                if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                    out.append(Located(path.name, index, entry))
        return out

    def find(self, faq_id: str) -> Located | None:
        return next((e for e in self.entries() if e.entry["id"] == faq_id), None)

    # --- checking -----------------------------------------------------------------------------
    def propose(self, faq_id: str, after: dict | None, base_version: str, file: str | None = None) -> Proposal:
        """Check replacing entry `faq_id` (at `base_version`) by `after` (None: remove it);
        a new entry goes to `file`. Raises Conflict if the entry is not at `base_version`."""
        if after is not None and after.get("id") != faq_id:
            raise ValueError("an entry keeps its id")  # ids are stable: statistics and dialogue state use them
        found = self.find(faq_id)
        if version_of(found.entry if found else None) != base_version:
            raise Conflict(found.entry if found else None)
        name = found.file if found else file
        if name not in self.files():
            raise ValueError(f"not a corpus file: {name!r}")
        data, old_text = self._read(name)
        if not isinstance(data, dict):
            raise Refused([Problem(self._shown(name), None, "这个文件现在不是有效的 JSON，请先在服务器上修好")])
        entries = list(data.get("entries", []))
        if found and after is None:
            del entries[found.index]
        elif found:
            entries[found.index] = after
        elif after is not None:
            entries.append(after)
        new_data = dict(data)
        new_data["entries"] = entries
        proposal = Proposal(name, faq_id, found.entry if found else None, after, old_text, dumps(new_data) + "\n")
        self._check(proposal)
        return proposal

    def _shown(self, name: str) -> str:
        return shown_path(self.dir / name)

    def _check(self, proposal: Proposal) -> None:
        """The checks of `faq check`, over the corpus as it would be after the edit."""
        before = check(self.dir, self.brand_file)
        with tempfile.TemporaryDirectory(prefix="faq-check-") as scratch:
            for path in corpus_files(self.dir):
                shutil.copyfile(path, Path(scratch) / path.name)
            (Path(scratch) / proposal.file).write_text(proposal.new_text, encoding="utf-8")
            prefix = shown_path(Path(scratch))
            after = [Problem(self._shown(p.file[len(prefix) + 1:]) if p.file.startswith(prefix + "/") else p.file,
                             p.entry, p.message, p.severity) for p in check(scratch, self.brand_file)]
        known = {(p.file, p.entry, p.message) for p in before if p.severity == ERROR}
        proposal.problems = after
        proposal.new_errors = [p for p in after if p.severity == ERROR and (p.file, p.entry, p.message) not in known]

    # --- writing ------------------------------------------------------------------------------
    @contextmanager
    def _locked(self):
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        with open(self.backup_dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def save(self, faq_id: str, after: dict | None, base_version: str, file: str | None = None,
             who: str = "") -> Saved:
        """Check and write the edit (see propose); Conflict or Refused when it may not be written."""
        with self._locked():
            proposal = self.propose(faq_id, after, base_version, file)
            if not proposal.ok:
                raise Refused(proposal.new_errors)
            path = self.dir / proposal.file
            stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{time.time_ns() % 10**6:06d}"
            backup = self.backup_dir / f"{stamp}-{who or 'anon'}-{proposal.file}"
            shutil.copy2(path, backup)
            _write_atomically(path, proposal.new_text)
        return Saved(proposal.file, faq_id, proposal.before, proposal.after, backup.name)


def _write_atomically(path: Path, text: str) -> None:
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
