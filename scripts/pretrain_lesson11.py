"""Pretrain lesson 11's source network: the 8x8 digits 0-4, reproducibly.

    python scripts/pretrain_lesson11.py [--out PATH]

Data: scikit-learn's digits, split exactly as lesson 06 splits them (train_val_test_split with
val_fraction=0.15, test_fraction=0.15, rng=default_rng(1)); the source task is the digits 0-4 of
the training part (validation part: reported only). No digit of the test part, and no digit
5-9, is ever seen. Images are the pixels / 16 in [0, 1], shape (N, 1, 8, 8).

Network: nncourse.pretrained.digits_cnn(5), initialised from default_rng(SEED), trained with
Adam (lr 3e-3) for EPOCHS epochs of batches of 32, each epoch on the digits moved at random by
up to one pixel (lesson 08's random_shift), shifts and shuffles drawn from default_rng(SEED + 1),
in float64 on one BLAS thread (a fixed order of floating-point operations), then stored as
float32. Augmentation makes the features less specific to the five source digits: without it
their frozen features were no better for the digits 5-9 than those of a random network.

Output: an uncompressed .npz (np.load with allow_pickle=False reads it) whose zip entries are
written in state-dict order with a fixed timestamp, so the file, and its SHA-256, are the same
on every run. Prints the validation accuracy, the size and the SHA-256 to pin in
nncourse/pretrained.py.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nnlib  # noqa: E402
from nncourse.pretrained import SOURCE_CLASSES, WEIGHTS_PATH, digits_cnn  # noqa: E402
from nnlib.data import load_digits, train_val_test_split  # noqa: E402

SEED = 11
EPOCHS = 30


def source_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, y_train, X_val, y_val) of the source task: images (N, 1, 8, 8), labels 0-4."""
    X, y = load_digits()
    X_tr, y_tr, X_va, y_va, _, _ = train_val_test_split(
        X, y, val_fraction=0.15, test_fraction=0.15, rng=np.random.default_rng(1))
    keep_tr, keep_va = np.isin(y_tr, SOURCE_CLASSES), np.isin(y_va, SOURCE_CLASSES)
    return (X_tr[keep_tr].reshape(-1, 1, 8, 8), y_tr[keep_tr],
            X_va[keep_va].reshape(-1, 1, 8, 8), y_va[keep_va])


def train() -> tuple[dict[str, np.ndarray], float]:
    """The trained state dict (float32 arrays, int64 counters) and the validation accuracy."""
    X_tr, y_tr, X_va, y_va = source_data()
    with threadpool_limits(limits=1, user_api="blas"):
        net = digits_cnn(len(SOURCE_CLASSES), rng=np.random.default_rng(SEED), dtype=np.float64)
        optimizer = nnlib.Adam(net.parameters(), lr=3e-3)
        rng = np.random.default_rng(SEED + 1)
        for _ in range(EPOCHS):
            # lesson 08's augmentation: every epoch sees each digit moved by up to one pixel
            X_epoch = nnlib.random_shift(X_tr, 1, rng=rng)
            nnlib.fit(net, nnlib.CrossEntropyLoss(), optimizer, X_epoch, y_tr, epochs=1,
                      batch_size=32, rng=rng, verbose=False)
        val_acc = nnlib.accuracy(nnlib.predict(net, X_va), y_va)
    state = {k: (v.astype(np.float32) if v.dtype.kind == "f" else v)
             for k, v in net.state_dict().items()}
    return state, val_acc


def npz_bytes(state: dict[str, np.ndarray]) -> bytes:
    """An uncompressed .npz of ``state`` with fixed entry timestamps: the same bytes every run."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in state.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.array(array, order="C"), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH, help="where to write the .npz")
    args = parser.parse_args(argv)
    state, val_acc = train()
    data = npz_bytes(state)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(f"source validation accuracy (digits 0-4): {val_acc:.4f}")
    print(f"wrote {args.out} ({len(data)} bytes)")
    print(f"sha256 {hashlib.sha256(data).hexdigest()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
