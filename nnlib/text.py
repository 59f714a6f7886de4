"""Text for character-level models: US-census first names offline, and a character vocabulary.

``load_names`` reads the name lists that ship inside the ``names`` package (PyPI, MIT licence;
the lists are the 1990 US Census frequency files, a US-government work): nothing is
downloaded. ``CharVocab`` maps characters to integer indices and back, and turns a list of
strings into the padded ``(x, y, mask)`` batches a language model trains on:

    x[n] = [".", c1, c2, ..., cL, pad, ...]      the input: the boundary, then the characters
    y[n] = [c1, c2, ..., cL, ".", pad, ...]      the target: the next character at each step
    mask[n, t] = t <= L                         True where y[n, t] is a real target

The one boundary token ``"."`` starts every sequence (as input) and ends it (as target), so a
model learns where names end; ``pad`` fills the rest of the batch and is masked out of the loss.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from importlib import resources

import numpy as np

__all__ = ["NAME_KINDS", "load_names", "CharVocab", "DATE_FORMATS", "format_date", "make_dates"]

#: The lists ``load_names`` offers, and the files of the ``names`` package they are read from.
NAME_KINDS: dict[str, tuple[str, ...]] = {
    "first": ("dist.male.first", "dist.female.first"),
    "male": ("dist.male.first",),
    "female": ("dist.female.first",),
    "last": ("dist.all.last",),
}


def _read_list(filename: str) -> list[str]:
    try:
        root = resources.files("names")
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "load_names: the 'names' package is not installed (pip install names); it ships the "
            "US-census name lists"
        ) from None
    text = (root / filename).read_text(encoding="ascii")
    # Each line: NAME  frequency(%)  cumulative(%)  rank
    return [line.split()[0] for line in text.splitlines() if line.strip()]


def load_names(kind: str = "first", *, lowercase: bool = True) -> list[str]:
    """The distinct names of one US-census list, sorted alphabetically.

    ``kind``: "first" (male and female first names together, 5,163 names), "male" (1,219),
    "female" (4,275) or "last" (88,799 surnames). Names are lowercased unless
    ``lowercase=False`` (the files hold them in capitals). Read from the ``names`` package's
    data files, offline.
    """
    if kind not in NAME_KINDS:
        raise ValueError(f"load_names: unknown kind {kind!r}; valid: {list(NAME_KINDS)}")
    found: set[str] = set()
    for filename in NAME_KINDS[kind]:
        found.update(_read_list(filename))
    return sorted(name.lower() if lowercase else name for name in found)


class CharVocab:
    """Characters <-> integer indices, with a padding token and a boundary token.

    ``itos[0]`` is ``pad`` (padding, masked out of losses), ``itos[1]`` is ``boundary`` (the
    start of every input and the end of every target), then every character that occurs in
    ``texts``, sorted. ``len(vocab)`` is V, the number of indices.
    """

    def __init__(self, texts: Iterable[str], *, boundary: str = ".", pad: str = "_") -> None:
        texts = list(texts)
        for name, token in (("boundary", boundary), ("pad", pad)):
            if not isinstance(token, str) or len(token) != 1:
                raise ValueError(f"CharVocab: {name} must be one character, got {token!r}")
        if boundary == pad:
            raise ValueError(f"CharVocab: boundary and pad must differ, both are {pad!r}")
        if not texts:
            raise ValueError("CharVocab: texts is empty")
        chars: set[str] = set()
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise ValueError(f"CharVocab: texts[{i}] is a {type(text).__name__}, not a str")
            chars.update(text)
        for name, token in (("boundary", boundary), ("pad", pad)):
            if token in chars:
                raise ValueError(
                    f"CharVocab: the {name} token {token!r} occurs in the texts; choose another"
                )
        self.pad, self.boundary = pad, boundary
        self.itos: list[str] = [pad, boundary, *sorted(chars)]
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(self.itos)}
        self.pad_index, self.boundary_index = 0, 1

    def __len__(self) -> int:
        return len(self.itos)

    def __repr__(self) -> str:
        return f"CharVocab(V={len(self)}, chars={''.join(self.itos[2:])!r})"

    def encode(self, text: str) -> np.ndarray:
        """The indices of the characters of ``text``.  Shapes: str of length L -> (L,) int64."""
        try:
            return np.array([self.stoi[c] for c in text], dtype=np.int64)
        except KeyError as exc:
            raise ValueError(
                f"CharVocab.encode: character {exc.args[0]!r} of {text!r} is not in the "
                "vocabulary"
            ) from None

    def decode(self, indices: Iterable[int]) -> str:
        """The characters of ``indices`` (pad and boundary tokens included, as characters)."""
        idx = np.asarray(list(indices) if not isinstance(indices, np.ndarray) else indices)
        if idx.size and (not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0
                         or idx.max() >= len(self)):
            raise ValueError(
                f"CharVocab.decode: indices must be integers in [0, {len(self)}), got "
                f"{idx.dtype} values" + (f" from {idx.min()} to {idx.max()}" if idx.size else "")
            )
        return "".join(self.itos[int(i)] for i in idx.ravel())

    def stream(self, texts: Sequence[str]) -> np.ndarray:
        """All texts in one stream of indices, each preceded by the boundary and the last one
        followed by it: ".emma.olivia." -> (sum of lengths + len(texts) + 1,) int64."""
        texts = list(texts)
        if not texts:
            raise ValueError("CharVocab.stream: texts is empty")
        parts = [np.array([self.boundary_index], dtype=np.int64)]
        for t in texts:
            parts += [self.encode(t), parts[0]]
        return np.concatenate(parts)

    def batch(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Padded next-character batches: (x, y, mask), each (N, T) with T = longest + 1.

        x[n] = boundary, then the characters of texts[n]; y[n] = those characters, then the
        boundary (y is x shifted left by one); past the end both hold pad_index and mask is
        False. x and y are int64, mask is bool.
        """
        texts = list(texts)
        if not texts:
            raise ValueError("CharVocab.batch: texts is empty")
        encoded = [self.encode(t) for t in texts]
        T = max(len(e) for e in encoded) + 1
        N = len(texts)
        x = np.full((N, T), self.pad_index, dtype=np.int64)
        y = np.full((N, T), self.pad_index, dtype=np.int64)
        mask = np.zeros((N, T), dtype=bool)
        for n, e in enumerate(encoded):
            L = len(e)
            x[n, 0] = self.boundary_index
            x[n, 1 : L + 1] = e
            y[n, :L] = e
            y[n, L] = self.boundary_index
            mask[n, : L + 1] = True
        return x, y, mask


# ---------------------------------------------------------------------------------------------
# Dates written by humans, for sequence-to-sequence models
# ---------------------------------------------------------------------------------------------

_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
           "september", "october", "november", "december")
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

#: The formats ``format_date`` writes (the example is 3 April 2021). Numeric formats are
#: day-first only, so that every text names one date; no two-digit years.
DATE_FORMATS: dict[str, str] = {
    "d month yyyy": "3 april 2021",
    "Month d, yyyy": "April 3, 2021",
    "dd/mm/yyyy": "03/04/2021",
    "d Mon yyyy": "3 Apr 2021",
    "Weekday, Month d, yyyy": "Saturday, April 3, 2021",
    "yyyy.mm.dd": "2021.04.03",
    "dd-MON-yyyy": "03-APR-2021",
    "month dth yyyy": "april 3rd 2021",
}


def _ordinal(d: int) -> str:
    suffix = "th" if 11 <= d % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(d % 10, "th")
    return f"{d}{suffix}"


def format_date(day: datetime.date, fmt: str) -> str:
    """``day`` written in the format named ``fmt`` (a key of ``DATE_FORMATS``), in English
    whatever the locale (month and weekday names are spelled here, not by strftime)."""
    if not isinstance(day, datetime.date):
        raise ValueError(f"format_date: day must be a datetime.date, got {type(day).__name__}")
    month, weekday = _MONTHS[day.month - 1], _DAYS[day.weekday()]
    d, m, y = day.day, day.month, day.year
    texts = {
        "d month yyyy": f"{d} {month} {y}",
        "Month d, yyyy": f"{month.capitalize()} {d}, {y}",
        "dd/mm/yyyy": f"{d:02d}/{m:02d}/{y:04d}",
        "d Mon yyyy": f"{d} {month[:3].capitalize()} {y}",
        "Weekday, Month d, yyyy": f"{weekday.capitalize()}, {month.capitalize()} {d}, {y}",
        "yyyy.mm.dd": f"{y:04d}.{m:02d}.{d:02d}",
        "dd-MON-yyyy": f"{d:02d}-{month[:3].upper()}-{y:04d}",
        "month dth yyyy": f"{month} {_ordinal(d)} {y}",
    }
    if fmt not in texts:
        raise ValueError(f"format_date: unknown format {fmt!r}; expected one of "
                         f"{list(DATE_FORMATS)}")
    return texts[fmt]


def make_dates(n: int, *, rng: np.random.Generator, first_year: int = 1950,
               last_year: int = 2049) -> tuple[list[str], list[str]]:
    """``n`` random dates between 1 January ``first_year`` and 31 December ``last_year``
    (uniform over the days), each written in a random format of ``DATE_FORMATS`` -> (the human
    texts, the same dates in ISO ``YYYY-MM-DD``), generated offline with ``datetime``."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"make_dates: n must be a positive integer, got {n!r}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"make_dates: rng must be a numpy Generator, got {type(rng).__name__}")
    if not (isinstance(first_year, int) and isinstance(last_year, int)
            and 1 <= first_year <= last_year <= 9999):
        raise ValueError(f"make_dates: need 1 <= first_year <= last_year <= 9999, got "
                         f"{first_year!r} and {last_year!r}")
    start = datetime.date(first_year, 1, 1).toordinal()
    stop = datetime.date(last_year, 12, 31).toordinal()
    days = rng.integers(start, stop + 1, size=int(n))
    formats = list(DATE_FORMATS)
    which = rng.integers(0, len(formats), size=int(n))
    dates = [datetime.date.fromordinal(int(d)) for d in days]
    return ([format_date(d, formats[int(f)]) for d, f in zip(dates, which, strict=True)],
            [d.isoformat() for d in dates])
