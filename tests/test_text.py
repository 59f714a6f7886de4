"""nnlib.text: the US-census names read offline from the `names` package, and CharVocab."""

from __future__ import annotations

import numpy as np
import pytest

import nnlib
from nnlib.text import NAME_KINDS, CharVocab, load_names


def test_first_names_are_the_census_lists_deduplicated_lowercased_and_sorted():
    first = load_names()
    assert len(first) == 5163
    assert first == sorted(set(first))
    assert {"james", "mary", "emma", "olivia"} <= set(first)
    assert all(n.isalpha() and n.islower() for n in first)
    male, female = load_names("male"), load_names("female")
    assert (len(male), len(female)) == (1219, 4275)
    assert set(first) == set(male) | set(female)
    assert len(set(male) & set(female)) == 1219 + 4275 - 5163  # names on both lists
    assert load_names("first", lowercase=False)[:2] == ["AARON", "ABBEY"]
    assert len(load_names("last")) == 88799


def test_load_names_reads_the_package_files_not_the_network(monkeypatch):
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("load_names opened a socket")

    monkeypatch.setattr(socket, "socket", no_network)
    assert len(load_names("male")) == 1219


def test_unknown_kind_is_named():
    with pytest.raises(ValueError, match=r"^load_names: unknown kind 'middle'; valid: "):
        load_names("middle")
    assert list(NAME_KINDS) == ["first", "male", "female", "last"]


def test_vocab_layout_encode_decode_round_trip():
    v = CharVocab(["emma", "bob"])
    assert v.itos == ["_", ".", "a", "b", "e", "m", "o"]
    assert len(v) == 7 and v.pad_index == 0 and v.boundary_index == 1
    assert v.stoi["a"] == 2 and v.stoi["o"] == 6
    np.testing.assert_array_equal(v.encode("emma"), [4, 5, 5, 2])
    assert v.encode("emma").dtype == np.int64
    assert v.decode(v.encode("bobemma")) == "bobemma"
    assert v.decode(np.array([1, 3, 6, 3, 1, 0])) == ".bob._"
    assert v.decode([]) == ""
    assert "V=7" in repr(v)
    assert nnlib.CharVocab is CharVocab and nnlib.load_names is load_names


def test_batch_is_shifted_padded_and_masked():
    v = CharVocab(["ab", "c", "abc"])
    x, y, mask = v.batch(["ab", "c"])
    a, b, c = v.stoi["a"], v.stoi["b"], v.stoi["c"]
    np.testing.assert_array_equal(x, [[1, a, b], [1, c, 0]])
    np.testing.assert_array_equal(y, [[a, b, 1], [c, 1, 0]])
    np.testing.assert_array_equal(mask, [[True, True, True], [True, True, False]])
    assert x.dtype == y.dtype == np.int64 and mask.dtype == bool
    # y is x shifted left by one wherever the mask holds
    np.testing.assert_array_equal(y[:, :-1][mask[:, 1:]], x[:, 1:][mask[:, 1:]])
    x1, y1, m1 = v.batch(["abc"])
    assert x1.shape == y1.shape == m1.shape == (1, 4) and m1.all()


def test_stream_joins_the_texts_with_boundaries():
    v = CharVocab(["ab", "c"])
    np.testing.assert_array_equal(v.stream(["ab", "c"]), [1, 2, 3, 1, 4, 1])
    assert v.decode(v.stream(["ab", "c", "ab"])) == ".ab.c.ab."


def test_on_the_real_names():
    first = load_names()
    v = CharVocab(first)
    assert len(v) == 28 and "".join(v.itos[2:]) == "abcdefghijklmnopqrstuvwxyz"
    x, y, mask = v.batch(first)
    assert x.shape == (5163, 12) and mask.sum() == sum(len(n) + 1 for n in first)
    assert (y[mask] != v.pad_index).all() and (y[~mask] == v.pad_index).all()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: CharVocab([]), r"^CharVocab: texts is empty"),
        (lambda: CharVocab(["a.b"]), r"^CharVocab: the boundary token '\.' occurs"),
        (lambda: CharVocab(["a_b"]), r"^CharVocab: the pad token '_' occurs"),
        (lambda: CharVocab(["ab"], pad="."), r"^CharVocab: boundary and pad must differ"),
        (lambda: CharVocab(["ab"], boundary="<s>"), r"^CharVocab: boundary must be one char"),
        (lambda: CharVocab(["ab", 3]), r"^CharVocab: texts\[1\] is a int"),
        (lambda: CharVocab(["ab"]).encode("abz"), r"^CharVocab.encode: character 'z'"),
        (lambda: CharVocab(["ab"]).decode([0, 9]), r"^CharVocab.decode: indices must be"),
        (lambda: CharVocab(["ab"]).decode([0.5]), r"^CharVocab.decode: indices must be"),
        (lambda: CharVocab(["ab"]).batch([]), r"^CharVocab.batch: texts is empty"),
        (lambda: CharVocab(["ab"]).stream([]), r"^CharVocab.stream: texts is empty"),
    ],
)
def test_errors_name_the_function(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --- dates -------------------------------------------------------------------------------------


def test_format_date_writes_every_format_of_its_table():
    import datetime

    from nnlib.text import DATE_FORMATS, format_date

    for fmt, example in DATE_FORMATS.items():
        assert format_date(datetime.date(2021, 4, 3), fmt) == example
    assert format_date(datetime.date(1999, 12, 11), "month dth yyyy") == "december 11th 1999"
    assert format_date(datetime.date(1999, 12, 22), "month dth yyyy") == "december 22nd 1999"
    assert format_date(datetime.date(2000, 2, 29), "Weekday, Month d, yyyy") == \
        "Tuesday, February 29, 2000"
    with pytest.raises(ValueError, match="format_date: unknown format"):
        format_date(datetime.date(2000, 1, 1), "%d/%m/%y")
    with pytest.raises(ValueError, match="format_date: day must be"):
        format_date("2000-01-01", "dd/mm/yyyy")


def test_make_dates_pairs_human_texts_with_their_iso_dates():
    import datetime

    from nnlib.text import DATE_FORMATS, format_date, make_dates

    human, iso = make_dates(2000, rng=np.random.default_rng(0))
    assert len(human) == len(iso) == 2000
    for h, i in zip(human, iso, strict=True):
        day = datetime.date.fromisoformat(i)
        assert 1950 <= day.year <= 2049 and len(i) == 10
        assert h in {format_date(day, f) for f in DATE_FORMATS}
    used = {f for h, i in zip(human, iso, strict=True) for f in DATE_FORMATS
            if format_date(datetime.date.fromisoformat(i), f) == h}
    assert used == set(DATE_FORMATS)
    assert len(set(iso)) > 1900   # drawn over 36,524 days
    again = make_dates(2000, rng=np.random.default_rng(0))
    assert again == (human, iso)
    other = make_dates(5, rng=np.random.default_rng(2))
    assert make_dates(5, rng=np.random.default_rng(1)) != other
    one_year = make_dates(50, rng=np.random.default_rng(3), first_year=2020, last_year=2020)[1]
    assert all(i.startswith("2020-") for i in one_year)


@pytest.mark.parametrize(("kwargs", "pattern"), [
    (dict(n=0), "n must be a positive integer"),
    (dict(n=True), "n must be a positive integer"),
    (dict(n=3, rng=None), "rng must be a numpy Generator"),
    (dict(n=3, first_year=2000, last_year=1999), "need 1 <= first_year"),
])
def test_make_dates_refuses_bad_arguments(kwargs, pattern):
    from nnlib.text import make_dates

    kwargs = {"rng": np.random.default_rng(0), **kwargs}
    with pytest.raises(ValueError, match=f"make_dates: {pattern}"):
        make_dates(**kwargs)
