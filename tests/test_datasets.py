"""Tests for nnlib.datasets: the downloader, against small fake IDX and CIFAR-binary files served
on 127.0.0.1 (never the internet): hash checks, the cache, offline use of a copy already on
the machine, and parsing without unpickling."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import tarfile
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import nnlib.datasets as D
from nnlib.datasets import DatasetSpec, FileSpec, dataset_available, load_dataset

ROLES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
         "t10k-labels-idx1-ubyte")


def idx_bytes(a: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, a.ndim]) + np.array(a.shape, dtype=">u4").tobytes()
    return header + a.astype(np.uint8).tobytes()


def gz(data: bytes, mtime: int = 0) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=mtime) as f:
        f.write(data)
    return buf.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Server:
    """http.server on 127.0.0.1 in a thread, serving one directory and counting requests."""

    def __init__(self, root: Path) -> None:
        self.paths: list[str] = []
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                outer.paths.append(self.path)
                super().do_GET()

            def log_message(self, *args: object) -> None:
                pass

        handler = functools.partial(Handler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    server = Server(root)
    yield root, server
    server.close()


@pytest.fixture
def tiny(served, monkeypatch):
    """A fake IDX dataset "tiny" (3 train and 2 test images of 4 x 5) served on 127.0.0.1."""
    root, server = served
    rng = np.random.default_rng(0)
    arrays = {
        ROLES[0]: rng.integers(0, 256, (3, 4, 5)), ROLES[1]: np.array([7, 0, 3]),
        ROLES[2]: rng.integers(0, 256, (2, 4, 5)), ROLES[3]: np.array([1, 9]),
    }
    files = []
    for role, a in arrays.items():
        raw = idx_bytes(a)
        blob = gz(raw)
        (root / f"{role}.gz").write_bytes(blob)
        files.append(FileSpec(f"{role}.gz", f"sha256:{sha256(blob)}", sha256(raw)))
    spec = DatasetSpec(base_url=server.url, files=tuple(files), kind="idx")
    monkeypatch.setitem(D.DATASETS, "tiny", spec)
    return spec, arrays, server, root


def test_download_checks_caches_and_the_second_call_stays_offline(tiny, tmp_path):
    spec, arrays, server, _ = tiny
    home = tmp_path / "home"
    assert not dataset_available("tiny", data_home=home)
    (X, y), (Xt, yt) = load_dataset("tiny", data_home=home)
    assert X.dtype == np.uint8 and X.shape == (3, 1, 4, 5) and Xt.shape == (2, 1, 4, 5)
    np.testing.assert_array_equal(X[:, 0], arrays[ROLES[0]])
    np.testing.assert_array_equal(Xt[:, 0], arrays[ROLES[2]])
    assert y.dtype == np.int64 and y.tolist() == [7, 0, 3] and yt.tolist() == [1, 9]
    assert sorted(server.paths) == sorted(f"/{r}.gz" for r in ROLES)
    assert dataset_available("tiny", data_home=home)
    assert sorted(p.name for p in (home / "tiny").iterdir()) == sorted(f"{r}.gz" for r in ROLES)
    # Second call: from the cache, no request; also with download=False, and with no server.
    load_dataset("tiny", data_home=home)
    load_dataset("tiny", data_home=home, download=False)
    assert len(server.paths) == 4
    server.close()
    (X2, _), _ = load_dataset("tiny", data_home=home)
    np.testing.assert_array_equal(X2, X)


def test_a_wrong_published_hash_fails_clearly_and_keeps_nothing(tiny, tmp_path, monkeypatch):
    spec, _, _, _ = tiny
    bad = replace(spec.files[1], known_hash="sha256:" + "0" * 64)
    monkeypatch.setitem(D.DATASETS, "tiny", replace(spec, files=(spec.files[0], bad,
                                                                 *spec.files[2:])))
    home = tmp_path / "home"
    with pytest.raises(ValueError, match=r"load_dataset: tiny: train-labels-idx1-ubyte.gz "
                                         r"downloaded from http://127.0.0.1:\d+/.* hash check"):
        load_dataset("tiny", data_home=home)
    assert not (home / "tiny" / "train-labels-idx1-ubyte.gz").exists()


def test_wrong_contents_fail_clearly_and_keep_nothing(tiny, tmp_path, monkeypatch):
    spec, _, _, _ = tiny
    bad = replace(spec.files[0], content_sha256="f" * 64)
    monkeypatch.setitem(D.DATASETS, "tiny", replace(spec, files=(bad, *spec.files[1:])))
    home = tmp_path / "home"
    with pytest.raises(ValueError, match=r"contents of train-images-idx3-ubyte.gz .* SHA-256"):
        load_dataset("tiny", data_home=home)
    assert not (home / "tiny" / "train-images-idx3-ubyte.gz").exists()


def test_a_copy_on_the_machine_is_used_without_the_network(tiny, tmp_path, monkeypatch):
    """A system package's copy (Debian's dataset-fashion-mnist: the same contents compressed
    differently, so only the contents' hash can match) is read in place, with no request and
    nothing written to the cache."""
    spec, arrays, server, root = tiny
    system = tmp_path / "usr-share-datasets-tiny"
    system.mkdir()
    for role in ROLES:
        data = gzip.decompress((root / f"{role}.gz").read_bytes())
        other = gz(data, mtime=1234567)
        assert other != (root / f"{role}.gz").read_bytes()
        (system / f"{role}.gz").write_bytes(other)
    monkeypatch.setitem(D.DATASETS, "tiny", replace(spec, system_dirs=(str(system),)))
    home = tmp_path / "home"
    assert dataset_available("tiny", data_home=home)
    (X, y), _ = load_dataset("tiny", data_home=home, download=False)
    np.testing.assert_array_equal(X[:, 0], arrays[ROLES[0]])
    assert server.paths == [] and not (home / "tiny").exists()


def test_a_tampered_cached_file_is_fetched_again(tiny, tmp_path):
    _, arrays, server, _ = tiny
    home = tmp_path / "home"
    load_dataset("tiny", data_home=home)
    target = home / "tiny" / "train-images-idx3-ubyte.gz"
    target.write_bytes(gz(b"\x00\x00\x08\x03" + b"\x00" * 12))
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_dataset("tiny", data_home=home, download=False)
    (X, _), _ = load_dataset("tiny", data_home=home)
    np.testing.assert_array_equal(X[:, 0], arrays[ROLES[0]])
    assert server.paths.count("/train-images-idx3-ubyte.gz") == 2


def test_missing_data_without_download(tiny, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"load_dataset: tiny is not on this machine.*"
                                                r"load_dataset\('tiny', download=True\)"):
        load_dataset("tiny", data_home=tmp_path / "home", download=False)


def test_a_file_that_is_not_idx_is_refused(served, tmp_path, monkeypatch):
    root, server = served
    files = []
    for role in ROLES:
        raw = b"\x00\x01\x08\x03" + b"\x00" * 12 if role == ROLES[0] else idx_bytes(np.zeros(1))
        blob = gz(raw)
        (root / f"{role}.gz").write_bytes(blob)
        files.append(FileSpec(f"{role}.gz", f"sha256:{sha256(blob)}", sha256(raw)))
    monkeypatch.setitem(D.DATASETS, "bad", DatasetSpec(server.url, tuple(files), "idx"))
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz is not an IDX file"):
        load_dataset("bad", data_home=tmp_path / "home")


def test_cifar_binary_is_read_without_unpickling_or_extracting(served, tmp_path, monkeypatch):
    """The binary archive's six batches are read from the tar in memory: a pickled member and a
    member named ../evil are ignored, and nothing is written outside the cache."""
    root, server = served
    rng = np.random.default_rng(1)
    batches = {}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        for name in D._CIFAR_MEMBERS:
            records = rng.integers(0, 256, (2, 3073)).astype(np.uint8)
            records[:, 0] %= 10
            batches[name] = records
            add(f"cifar-10-batches-bin/{name}", records.tobytes())
        add("cifar-10-batches-bin/batches.meta.txt", b"airplane\n")
        add("cifar-10-batches-py/data_batch_1", b"\x80\x04pickle-would-run-code-here")
        add("../evil", b"nothing may be written here")
    blob = buf.getvalue()
    (root / "cifar-10-binary.tar.gz").write_bytes(blob)
    spec = replace(D.DATASETS["cifar10"], base_url=server.url,
                   files=(FileSpec("cifar-10-binary.tar.gz", f"sha256:{sha256(blob)}"),))
    monkeypatch.setitem(D.DATASETS, "cifar10", spec)
    home = tmp_path / "home"
    (X, y), (Xt, yt) = load_dataset("cifar10", data_home=home)
    assert X.shape == (10, 3, 32, 32) and Xt.shape == (2, 3, 32, 32) and X.dtype == np.uint8
    first = batches["data_batch_1.bin"]
    np.testing.assert_array_equal(X[0].reshape(-1), first[0, 1:])
    np.testing.assert_array_equal(y[:2], first[:, 0])
    np.testing.assert_array_equal(yt, batches["test_batch.bin"][:, 0])
    assert not (tmp_path / "evil").exists() and not (home / "evil").exists()
    assert [p.name for p in (home / "cifar10").iterdir()] == ["cifar-10-binary.tar.gz"]
    load_dataset("cifar10", data_home=home)
    assert server.paths == ["/cifar-10-binary.tar.gz"]


def test_unknown_names_and_arguments():
    with pytest.raises(ValueError, match=r"load_dataset: unknown dataset 'imagenet'.*'mnist'"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="load_dataset: download must be True or False"):
        load_dataset("mnist", download="yes")  # type: ignore[arg-type]


def test_the_registry_pins_every_file():
    for name, spec in D.DATASETS.items():
        assert spec.base_url.startswith("https://"), name
        for f in spec.files:
            algorithm, _, digest = f.known_hash.partition(":")
            assert (algorithm, len(digest)) in {("sha256", 64), ("md5", 32)}, (name, f.name)
            assert f.content_sha256 is None or len(f.content_sha256) == 64
    assert D.DATASETS["cifar10"].files[0].name == "cifar-10-binary.tar.gz"  # not the pickles
    assert "/usr/share/datasets/fashion-mnist" in D.DATASETS["fashion-mnist"].system_dirs
    assert all(f.content_sha256 for f in D.DATASETS["fashion-mnist"].files)


def test_data_home_default(monkeypatch, tmp_path):
    monkeypatch.setenv("NNLIB_DATA", str(tmp_path))
    assert D.get_data_home() == tmp_path
    assert D.get_data_home("/x") == Path("/x")


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_debian_fashion_mnist_offline(tmp_path):
    (X, y), (Xt, yt) = load_dataset("fashion-mnist", data_home=tmp_path, download=False)
    assert X.shape == (60000, 1, 28, 28) and Xt.shape == (10000, 1, 28, 28)
    assert np.bincount(y).tolist() == [6000] * 10 and y[:10].tolist() == [9, 0, 0, 3, 0, 2, 7,
                                                                           2, 5, 5]
