"""Lesson 11's pretrained weights: made by scripts/pretrain_lesson11.py, byte for byte, small,
pickle-free, pinned by SHA-256, and loadable into the architecture they were trained on."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import nnlib
from nncourse.pretrained import (
    SOURCE_CLASSES,
    WEIGHTS_PATH,
    WEIGHTS_SHA256,
    _read_weights,
    digits_cnn,
    read_weights,
)

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "pretrain_lesson11.py"


def test_the_shipped_file_has_the_pinned_hash_and_is_small():
    data = WEIGHTS_PATH.read_bytes()
    assert hashlib.sha256(data).hexdigest() == WEIGHTS_SHA256
    assert len(data) < 100_000  # well under 1 MB


def test_the_archive_holds_plain_arrays_only():
    with zipfile.ZipFile(WEIGHTS_PATH) as archive:
        names = archive.namelist()
        assert all(n.endswith(".npy") for n in names)
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    # allow_pickle=False: an object array would raise here
    with np.load(WEIGHTS_PATH, allow_pickle=False) as f:
        for name in f.files:
            assert f[name].dtype != object


def test_weights_load_into_the_architecture_and_classify_the_source_digits():
    net = digits_cnn(len(SOURCE_CLASSES), rng=np.random.default_rng(0))
    before = net[0].weight.data.copy()
    net.load_state_dict(read_weights())
    assert not np.array_equal(net[0].weight.data, before)
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import pretrain_lesson11
    finally:
        sys.path.remove(str(SCRIPT.parent))
    _, _, X_val, y_val = pretrain_lesson11.source_data()
    assert nnlib.accuracy(nnlib.predict(net, X_val.astype(np.float32)), y_val) >= 0.97
    assert set(np.unique(y_val)) == set(SOURCE_CLASSES)


def test_a_changed_file_is_refused(tmp_path):
    bad = tmp_path / "w.npz"
    data = bytearray(WEIGHTS_PATH.read_bytes())
    data[-100] ^= 1
    bad.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="SHA-256"):
        _read_weights(bad, WEIGHTS_SHA256)


@pytest.mark.slow
def test_rerunning_the_script_reproduces_the_file_byte_for_byte(tmp_path):
    out = tmp_path / "again.npz"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert hashlib.sha256(out.read_bytes()).hexdigest() == WEIGHTS_SHA256, proc.stdout
    assert out.read_bytes() == WEIGHTS_PATH.read_bytes()
