"""The data resolver finds, checks and reads image data offline, and says so when it cannot.

Every test runs in a sandbox: no DGM_DATA_DIR, the cache in a temporary folder, no system
folders, downloads forbidden (DGM_OFFLINE=1) and every mirror pointed at a closed local port.
Download tests serve files made here from a local HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import copy
import functools
import gzip
import hashlib
import os
import re
import socket
import struct
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
from support import ROOT

from dgm_lib import data

SHARED = Path(os.environ.get("DGM_DATA_DIR") or ROOT.parent / "shared" / "data")  # ../shared
NPZ = SHARED / "binarized_mnist.npz"
PAPERS = SHARED.parent / "papers.md"
needs_npz = pytest.mark.skipif(not NPZ.is_file(), reason=f"no {NPZ} (set DGM_DATA_DIR)")

IDX_TYPE_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D}


# ----------------------------------------------------------------------------- helpers


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_idx(path: Path, array: np.ndarray) -> Path:
    """The IDX layout written byte by byte: 0, 0, type code, ndim, big-endian sizes, data."""
    header = bytes([0, 0, IDX_TYPE_CODES[array.dtype.type], array.ndim])
    header += struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(payload) if path.suffix == ".gz" else payload)
    return path


def write_idx_set(folder: Path, n: int, seed: int, label: int | None = None) -> dict:
    """Small train and t10k IDX files in ``folder``; returns {split: (images, labels)}."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    made = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (
            np.full(n, label, np.uint8)
            if label is not None
            else rng.integers(0, 10, n, dtype=np.uint8)
        )
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
        made[split] = (images, labels)
    return made


def trust(monkeypatch: pytest.MonkeyPatch, name: str, *paths: Path) -> None:
    """Register the files' own hashes as the published ones (small stand-ins for real files)."""
    for path in paths:
        monkeypatch.setitem(data.SHA256[name], path.name, sha256(path))


def trust_folder(monkeypatch: pytest.MonkeyPatch, name: str, folder: Path) -> None:
    trust(monkeypatch, name, *sorted(folder.glob("*.gz")))


def write_amat(path: Path, bits: np.ndarray) -> Path:
    """The .amat text format through numpy's own writer: 784 '0'/'1' per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, bits.reshape(len(bits), 784), fmt="%d", delimiter=" ")
    return path


def write_npz(path: Path, **splits: np.ndarray) -> Path:
    packed = {k: np.packbits(v.reshape(len(v), 784), axis=1) for k, v in splits.items()}
    np.savez(path, **packed)
    return path


def random_bits(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, (n, 28, 28), dtype=np.uint8)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


class QuietHandler(SimpleHTTPRequestHandler):
    """Serves a folder; under /truncate/ it promises 1000 bytes, sends 10 and hangs up."""

    def do_GET(self) -> None:
        if self.path.startswith("/truncate/"):
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(autouse=True)
def sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    cache_home = tmp_path / "xdg"
    monkeypatch.delenv("DGM_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    monkeypatch.setenv("DGM_OFFLINE", "1")
    monkeypatch.setattr(data, "SYSTEM_DIRS", {})
    closed = closed_port_url()
    monkeypatch.setattr(data, "MIRRORS", {"binarized_mnist": (closed,), "mnist": (closed,)})
    monkeypatch.setattr(data, "SHA256", copy.deepcopy(data.SHA256))
    return cache_home


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "www"
    root.mkdir()
    httpd = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root))
    )
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_port}/"
    httpd.shutdown()
    httpd.server_close()


# ----------------------------------------------------------------------------- the real files


@needs_npz
@pytest.mark.parametrize(("split", "n"), [("train", 50_000), ("valid", 10_000), ("test", 10_000)])
def test_shared_binarized_mnist_has_published_hash_sizes_and_binary_pixels(
    split: str, n: int
) -> None:
    assert sha256(NPZ) == data.SHA256["binarized_mnist"]["binarized_mnist.npz"]
    ds = data.load("binarized_mnist", split, data_dir=SHARED)
    assert ds.images.shape == (n, 28, 28) and ds.images.dtype == np.uint8
    assert set(np.unique(ds.images)) == {0, 1}
    assert ds.labels is None and ds.max_value == 1 and ds.source == str(NPZ)
    assert 0.1 < ds.images.mean() < 0.2  # MNIST strokes cover about 13% of the pixels


@needs_npz
def test_checksum_table_matches_the_published_sources() -> None:
    readme = (SHARED / "README.md").read_text()
    published_npz = re.search(r"sha256 of this file: `([0-9a-f]{64})`", readme)
    assert published_npz is not None
    assert data.SHA256["binarized_mnist"]["binarized_mnist.npz"] == published_npz[1]
    if not PAPERS.is_file():
        pytest.skip(f"no {PAPERS} to compare the .amat and IDX hashes with")
    table = dict(
        re.findall(r"^\| (\S+) \| [\d,]+ \| sha256 ([0-9a-f]{64})", PAPERS.read_text(), re.M)
    )
    ours = {
        f: h
        for files in data.SHA256.values()
        for f, h in files.items()
        if f.endswith((".amat", ".gz"))
    }
    assert len(ours) == 7 and ours == table


@needs_npz
def test_npz_test_split_written_as_amat_is_the_canonical_file_and_reads_back(
    tmp_path: Path,
) -> None:
    bits = np.unpackbits(np.load(NPZ, allow_pickle=False)["test"], axis=1)[:, :784]
    amat = write_amat(tmp_path / "binarized_mnist_test.amat", bits)
    assert sha256(amat) == data.SHA256["binarized_mnist"]["binarized_mnist_test.amat"]
    ds = data.load("binarized_mnist", "test", data_dir=tmp_path)
    assert ds.source == str(amat)
    np.testing.assert_array_equal(ds.images.reshape(-1, 784), bits)


# ----------------------------------------------------------------------------- formats


def test_amat_rows_round_trip_through_the_resolver(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bits = (
        np.unpackbits(np.load(NPZ, allow_pickle=False)["valid"][:5], axis=1)[:, :784].reshape(
            -1, 28, 28
        )
        if NPZ.is_file()
        else random_bits(5, seed=0)
    )
    amat = write_amat(tmp_path / "binarized_mnist" / "binarized_mnist_valid.amat", bits)
    trust(monkeypatch, "binarized_mnist", amat)
    ds = data.load("binarized_mnist", "valid", data_dir=tmp_path)
    np.testing.assert_array_equal(ds.images, bits)
    assert ds.origin == "data_dir" and ds.source == str(amat)


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("0 " * 783 + "2\n", "784 '0'/'1'"),
        ("0," * 783 + "0\n", "784 '0'/'1'"),
        ("0 " * 783 + "0 ", "784 '0'/'1'"),
        ("0 " * 100 + "0\n", "whole number"),
    ],
)
def test_amat_reader_rejects_malformed_text(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str, fault: str
) -> None:
    amat = tmp_path / "binarized_mnist_test.amat"
    amat.write_text(text)
    trust(monkeypatch, "binarized_mnist", amat)
    with pytest.raises(ValueError, match=re.escape(fault)) as err:
        data.load("binarized_mnist", "test", data_dir=tmp_path)
    assert str(amat) in str(err.value)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32])
@pytest.mark.parametrize("suffix", [".gz", ""])
def test_read_idx_round_trips_every_type_raw_and_gzipped(
    tmp_path: Path, dtype: type, suffix: str
) -> None:
    values = np.random.default_rng(1).integers(-100, 100, (3, 4, 5)).astype(dtype)
    got = data.read_idx(write_idx(tmp_path / f"x-idx3{suffix}", values))
    assert got.dtype == np.dtype(dtype).newbyteorder("=") and got.flags.writeable
    np.testing.assert_array_equal(got, values)


def _corrupt(kind: str, good: bytes) -> bytes:
    if kind == "magic":
        return b"\x01\x00" + good[2:]
    if kind == "type code":
        return good[:2] + b"\x07" + good[3:]
    if kind == "truncated":
        return good[:-7]
    return good + b"\x00"  # trailing bytes


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("magic", "is not an IDX file: magic number '01000803'"),
        ("type code", "is not an IDX file"),
        (
            "truncated",
            "header promises shape (2, 28, 28) of uint8, 1584 bytes in all, but it holds 1577",
        ),
        ("trailing", "but it holds 1585 bytes"),
        ("gzip", "corrupt gzip file"),
    ],
)
def test_read_idx_rejects_corrupt_files_naming_file_and_fault(
    tmp_path: Path, kind: str, message: str
) -> None:
    good = write_idx(tmp_path / "good", np.zeros((2, 28, 28), np.uint8)).read_bytes()
    path = tmp_path / "bad-images-idx3-ubyte.gz"
    if kind == "gzip":
        path.write_bytes(gzip.compress(good)[:-12])
    else:
        path.write_bytes(gzip.compress(_corrupt(kind, good)))
    with pytest.raises(ValueError, match=re.escape(message)) as err:
        data.read_idx(path)
    assert str(path) in str(err.value)


def test_idx_images_and_labels_must_agree(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    folder = tmp_path / "mnist"
    write_idx_set(folder, n=4, seed=0)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(3, np.uint8))
    trust_folder(monkeypatch, "mnist", folder)
    with pytest.raises(ValueError, match=r"labels of shape \(4,\) to match train-images"):
        data.load("mnist", data_dir=tmp_path)


def test_local_file_with_wrong_checksum_raises_naming_file_and_hashes(tmp_path: Path) -> None:
    write_idx_set(tmp_path / "mnist", n=2, seed=0)
    path = tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz"
    published = data.SHA256["mnist"]["t10k-images-idx3-ubyte.gz"]
    with pytest.raises(
        data.ChecksumError, match=f"{re.escape(str(path))}.*{sha256(path)}.*{published}"
    ):
        data.load("mnist", "test", data_dir=tmp_path)


# ----------------------------------------------------------------------------- downloads


def test_download_fetches_checked_files_into_the_cache(
    monkeypatch: pytest.MonkeyPatch, sandbox: Path, server: tuple[Path, str]
) -> None:
    www, url = server
    made = write_idx_set(www, n=6, seed=3)
    trust_folder(monkeypatch, "mnist", www)
    bits = random_bits(4, seed=4)
    trust(monkeypatch, "binarized_mnist", write_amat(www / "binarized_mnist_valid.amat", bits))
    monkeypatch.setitem(data.MIRRORS, "mnist", (closed_port_url(), url))  # first mirror is down
    monkeypatch.setitem(data.MIRRORS, "binarized_mnist", (url,))
    monkeypatch.delenv("DGM_OFFLINE")

    ds = data.load("mnist", "test")
    assert ds.origin == "download" and ds.source == url + "t10k-images-idx3-ubyte.gz"
    np.testing.assert_array_equal(ds.images, made["test"][0])
    np.testing.assert_array_equal(ds.labels, made["test"][1])
    cached = sandbox / "dgm_lib" / "mnist"
    assert files_under(sandbox) == [
        cached / "t10k-images-idx3-ubyte.gz",
        cached / "t10k-labels-idx1-ubyte.gz",
    ]
    assert all(p.read_bytes() == (www / p.name).read_bytes() for p in files_under(sandbox))
    assert data.load("mnist", "test", download=False).origin == "cache"

    ds = data.load("binarized_mnist", "valid")
    assert ds.origin == "download" and ds.source == url + "binarized_mnist_valid.amat"
    np.testing.assert_array_equal(ds.images, bits)


def test_download_with_wrong_checksum_raises_and_leaves_no_file(
    monkeypatch: pytest.MonkeyPatch, sandbox: Path, server: tuple[Path, str]
) -> None:
    www, url = server
    write_idx_set(www, n=3, seed=0)
    monkeypatch.setitem(data.MIRRORS, "mnist", (url,))
    monkeypatch.delenv("DGM_OFFLINE")
    served = sha256(www / "train-images-idx3-ubyte.gz")
    expected = data.SHA256["mnist"]["train-images-idx3-ubyte.gz"]
    with pytest.raises(
        data.ChecksumError, match=f"sha256 {served}, expected {expected}; nothing was saved"
    ):
        data.load("mnist", "train")
    assert (sandbox / "dgm_lib" / "mnist").is_dir() and files_under(sandbox) == []


def test_interrupted_download_leaves_no_file(
    monkeypatch: pytest.MonkeyPatch, sandbox: Path, server: tuple[Path, str]
) -> None:
    _, url = server
    monkeypatch.setitem(data.MIRRORS, "mnist", (url + "truncate/",))
    monkeypatch.delenv("DGM_OFFLINE")
    with pytest.raises(data.DataNotFoundError, match="connection closed after 10 of 1000 bytes"):
        data.load("mnist", "train")
    assert files_under(sandbox) == []


def test_missing_data_without_network_names_every_folder_and_the_variable(
    monkeypatch: pytest.MonkeyPatch, sandbox: Path, tmp_path: Path
) -> None:
    monkeypatch.delenv("DGM_OFFLINE")
    start = time.perf_counter()
    with pytest.raises(data.DataNotFoundError) as err:
        data.load("binarized_mnist", "test", data_dir=tmp_path)
    assert time.perf_counter() - start < 5.0
    message = str(err.value)
    for folder in (
        tmp_path,
        tmp_path / "binarized_mnist",
        sandbox / "dgm_lib",
        sandbox / "dgm_lib" / "binarized_mnist",
    ):
        assert f"{folder}  [" in message
    assert (
        "DGM_DATA_DIR is not set" in message
        and "set the environment variable DGM_DATA_DIR" in message
    )
    assert "Download: failed" in message and "Connection refused" in message
    assert "binarized_mnist.npz or binarized_mnist_test.amat" in message


def test_offline_flag_forbids_downloads_and_says_so(
    server: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    www, url = server
    write_idx_set(www, n=2, seed=0)
    trust_folder(monkeypatch, "mnist", www)
    monkeypatch.setitem(data.MIRRORS, "mnist", (url,))
    with pytest.raises(data.DataNotFoundError, match=r"Download: not attempted \(DGM_OFFLINE=1\)"):
        data.load("mnist")
    monkeypatch.delenv("DGM_OFFLINE")
    with pytest.raises(data.DataNotFoundError, match=r"Download: not attempted \(download=False\)"):
        data.load("mnist", download=False)
    assert data.load("mnist").origin == "download"


# ----------------------------------------------------------------------------- resolver order

LEVELS = ("data_dir", "DGM_DATA_DIR", "cache", "system folder")


@pytest.mark.parametrize("first", range(len(LEVELS)), ids=LEVELS)
def test_resolver_prefers_data_dir_then_env_then_cache_then_system(
    monkeypatch: pytest.MonkeyPatch, sandbox: Path, tmp_path: Path, first: int
) -> None:
    folders = (
        tmp_path / "arg" / "fashion_mnist",
        tmp_path / "env" / "fashion-mnist",
        sandbox / "dgm_lib" / "fashion_mnist",
        tmp_path / "usr" / "share" / "datasets" / "fashion-mnist",
    )
    for level in range(first, len(LEVELS)):
        write_idx_set(folders[level], n=2, seed=level, label=level)
    if first <= 1:
        monkeypatch.setenv("DGM_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setitem(data.SYSTEM_DIRS, "fashion_mnist", (str(folders[3]),))
    data_dir = tmp_path / "arg" if first == 0 else None
    ds = data.load("fashion_mnist", "test", data_dir=data_dir)
    assert ds.origin == LEVELS[first]
    assert ds.source == str(folders[first] / "t10k-images-idx3-ubyte.gz")
    assert (ds.labels == first).all() and ds.max_value == 255


# ----------------------------------------------------------------------------- auto


def _provide(monkeypatch: pytest.MonkeyPatch, root: Path, name: str) -> None:
    if name == "binarized_mnist":
        trust(monkeypatch, name, write_npz(root / "binarized_mnist.npz", train=random_bits(3, 5)))
    elif name == "mnist":
        write_idx_set(root / "mnist", n=3, seed=6)
        trust_folder(monkeypatch, "mnist", root / "mnist")
    elif name == "fashion_mnist":
        write_idx_set(root / "fashion_mnist", n=3, seed=7)


@pytest.mark.parametrize("first", data.AUTO_ORDER)
def test_auto_takes_the_first_available_set_and_prints_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str], first: str
) -> None:
    available = data.AUTO_ORDER[data.AUTO_ORDER.index(first) :]
    for name in available:
        _provide(monkeypatch, tmp_path, name)
    ds = data.load("auto", data_dir=tmp_path)
    lines = capsys.readouterr().out.splitlines()
    assert ds.name == first and len(lines) == 1
    assert (
        lines[0].startswith(f"data: {first} train (")
        and f"from {Path(ds.source).name} ({ds.origin}" in lines[0]
    )
    for skipped in data.AUTO_ORDER[: data.AUTO_ORDER.index(first)]:
        assert f"{skipped}: not in " in lines[0]
    assert ds.max_value == 1 and set(np.unique(ds.images)) <= {0, 1}
    assert (ds.binarization is None) == (first == "binarized_mnist")


def test_auto_downloads_fixed_binarized_mnist_before_trying_local_mnist(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    server: tuple[Path, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    www, url = server
    bits = random_bits(3, seed=8)
    trust(monkeypatch, "binarized_mnist", write_amat(www / "binarized_mnist_test.amat", bits))
    monkeypatch.setitem(data.MIRRORS, "binarized_mnist", (url,))
    monkeypatch.delenv("DGM_OFFLINE")
    _provide(monkeypatch, tmp_path, "mnist")
    ds = data.load("auto", "test", data_dir=tmp_path)
    assert ds.name == "binarized_mnist" and ds.origin == "download"
    np.testing.assert_array_equal(ds.images, bits)
    assert capsys.readouterr().out.strip().endswith("(download)")


def test_auto_without_network_stops_downloading_after_one_failure(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DGM_OFFLINE")
    attempts: list[str] = []
    real_urlopen = urllib.request.urlopen

    def counting_urlopen(url: str, **kwargs: object) -> object:
        attempts.append(url)
        return real_urlopen(url, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", counting_urlopen)
    start = time.perf_counter()
    ds = data.load("auto", "test")
    assert time.perf_counter() - start < 5.0
    assert ds.name == "digits" and len(attempts) == 1
    line = capsys.readouterr().out.strip()
    assert "binarized_mnist: not in 2 folders; download failed (" in line
    assert "mnist: not in 1 folder; no download (no network)" in line


@pytest.mark.parametrize("name", ["binarized_mnist", "mnist"])
def test_an_explicit_name_never_falls_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str
) -> None:
    _provide(monkeypatch, tmp_path, "fashion_mnist")
    assert data.load("fashion_mnist", data_dir=tmp_path).name == "fashion_mnist"
    with pytest.raises(data.DataNotFoundError, match="DGM_DATA_DIR"):
        data.load(name, data_dir=tmp_path)


# ----------------------------------------------------------------------------- binarisation


def test_threshold_binarization_is_exact() -> None:
    x = np.arange(256, dtype=np.float32) / 255  # every MNIST grey level
    got = np.asarray(data.binarize_threshold(x))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, [1.0 if v > 0.5 else 0.0 for v in x.tolist()])
    assert got[127] == 0 and got[128] == 1
    np.testing.assert_array_equal(
        data.binarize_threshold(jnp.array([0.2, 0.3, 0.31]), 0.3), [0, 0, 1]
    )


def test_stochastic_binarization_is_deterministic_and_unbiased() -> None:
    p = np.array([0.0, 0.05, 0.2, 0.5, 0.7, 0.95, 1.0], np.float32)
    x = np.broadcast_to(p, (20_000, p.size))
    key = jax.random.key(0)
    b = np.asarray(data.binarize_stochastic(key, x))
    np.testing.assert_array_equal(b, np.asarray(data.binarize_stochastic(key, x)))
    np.testing.assert_array_equal(b, np.asarray(jax.jit(data.binarize_stochastic)(key, x)))
    assert not np.array_equal(b, np.asarray(data.binarize_stochastic(jax.random.key(1), x)))
    assert set(np.unique(b)) == {0.0, 1.0}
    assert (b[:, 0] == 0).all() and (b[:, -1] == 1).all()
    for j in range(1, p.size - 1):
        test = scipy.stats.binomtest(int(b[:, j].sum()), len(b), float(p[j]))
        assert test.pvalue > 1e-4, (p[j], b[:, j].mean())


def test_load_binarizes_grayscale_and_leaves_binary_sets_alone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _provide(monkeypatch, tmp_path, "mnist")
    _provide(monkeypatch, tmp_path, "binarized_mnist")
    gray = data.load("mnist", data_dir=tmp_path)
    thresholded = data.load("mnist", data_dir=tmp_path, binarize="threshold")
    np.testing.assert_array_equal(thresholded.images, gray.images > 127)
    assert thresholded.max_value == 1 and thresholded.binarization == "threshold 0.5"
    key = jax.random.key(3)
    a = data.load("mnist", data_dir=tmp_path, binarize="stochastic", key=key)
    b = data.load("mnist", data_dir=tmp_path, binarize="stochastic", key=key)
    np.testing.assert_array_equal(a.images, b.images)
    assert ((a.images == 1) <= (gray.images > 0)).all() and (
        (a.images == 0) <= (gray.images < 255)
    ).all()
    fixed = data.load("binarized_mnist", data_dir=tmp_path)
    again = data.load("binarized_mnist", data_dir=tmp_path, binarize="stochastic", key=key)
    np.testing.assert_array_equal(fixed.images, again.images)
    assert again.binarization is None


# ----------------------------------------------------------------------------- digits, helpers


def test_digits_load_offline_and_split_sklearn_digits_in_order() -> None:
    from sklearn.datasets import load_digits

    oracle = load_digits()
    train, test = data.load("digits", "train"), data.load("digits", "test")
    assert (len(train), len(test)) == (1437, 360) and train.images.shape[1:] == (8, 8)
    np.testing.assert_array_equal(np.concatenate([train.images, test.images]), oracle.images)
    np.testing.assert_array_equal(np.concatenate([train.labels, test.labels]), oracle.target)
    assert train.max_value == 16 == oracle.images.max() and train.origin == "scikit-learn"


def test_as_float_and_flatten_keep_every_pixel_in_raster_order() -> None:
    ds = data.load("digits", "test")
    x = data.as_float(ds)
    assert x.dtype == np.float32 and x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_array_equal(x * 16, ds.images)
    flat = data.flatten(ds.images)
    n, h, w = ds.images.shape
    assert all(
        flat[i, r * w + c] == ds.images[i, r, c]
        for i in (0, n - 1)
        for r in range(h)
        for c in range(w)
    )
    assert data.flatten(jnp.asarray(x)).shape == (n, h * w)


# ----------------------------------------------------------------------------- argument checks


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"name": "cifar10"},
            ValueError,
            "argument 'name' must be one of 'binarized_mnist', 'mnist', 'fashion_mnist', 'digits', 'auto'",
        ),
        (
            {"name": "mnist", "split": "valid"},
            ValueError,
            "argument 'split' must be one of 'train', 'test' for 'mnist'",
        ),
        ({"name": "binarized_mnist", "split": "training"}, ValueError, "'train', 'valid', 'test'"),
        (
            {"name": "auto", "split": "valid"},
            ValueError,
            "argument 'split' must be one of 'train', 'test' for 'auto'",
        ),
        (
            {"name": "digits", "binarize": "otsu"},
            ValueError,
            "'binarize' must be None, 'threshold', 'stochastic'",
        ),
        ({"name": "digits", "binarize": "stochastic"}, ValueError, "needs argument 'key'"),
        (
            {"name": "digits", "binarize": "stochastic", "key": 42},
            TypeError,
            "argument 'key' must be a single random key",
        ),
        (
            {"name": "digits", "binarize": "threshold", "key": jax.random.key(0)},
            ValueError,
            "'key' is used only",
        ),
        (
            {"name": "digits", "download": "yes"},
            TypeError,
            "argument 'download' must be True or False",
        ),
        ({"name": "mnist", "data_dir": 3}, TypeError, "argument 'data_dir' must be a folder path"),
        (
            {"name": "mnist", "data_dir": "FILE"},
            ValueError,
            "argument 'data_dir' must be an existing folder",
        ),
        ({"name": "mnist", "data_dir": "MISSING"}, ValueError, "does not exist"),
    ],
)
def test_load_rejects_bad_arguments_naming_them_and_the_choices(
    tmp_path: Path, kwargs: dict, error: type, message: str
) -> None:
    (tmp_path / "FILE").write_text("not a folder")
    if kwargs.get("data_dir") in ("FILE", "MISSING"):
        kwargs = {**kwargs, "data_dir": tmp_path / kwargs["data_dir"]}
    with pytest.raises(error, match=re.escape(message)):
        data.load(**kwargs)


GRAY = np.full((2, 4, 4), 0.5, np.float32)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda: data.binarize_threshold(GRAY.astype(np.uint8)),
            TypeError,
            "binarize_threshold: argument 'images' must be a floating-point array",
        ),
        (
            lambda: data.binarize_threshold(np.float32(0.5)),
            ValueError,
            "binarize_threshold: argument 'images' must have shape (..., pixels)",
        ),
        (
            lambda: data.binarize_threshold(GRAY, 1.5),
            ValueError,
            "binarize_threshold: argument 'threshold' must be in [0, 1]",
        ),
        (
            lambda: data.binarize_threshold(GRAY, "0.5"),
            TypeError,
            "binarize_threshold: argument 'threshold' must be a float",
        ),
        (
            lambda: data.binarize_stochastic(jax.random.key(0), GRAY.astype(np.uint8)),
            TypeError,
            "binarize_stochastic: argument 'images' must be a floating-point array",
        ),
        (
            lambda: data.binarize_stochastic(jax.random.key(0), np.float32(0.5)),
            ValueError,
            "binarize_stochastic: argument 'images' must have shape (..., pixels)",
        ),
        (
            lambda: data.binarize_stochastic(0, GRAY),
            TypeError,
            "binarize_stochastic: argument 'key' must be a single random key",
        ),
        (
            lambda: data.binarize_stochastic(jax.random.split(jax.random.key(0)), GRAY),
            TypeError,
            "argument 'key' must be a single random key",
        ),
        (
            lambda: data.flatten(np.zeros((2, 784))),
            ValueError,
            "flatten: argument 'images' must have shape (N, H, W); got shape (2, 784)",
        ),
        (
            lambda: data.flatten(np.array([["a"]])),
            TypeError,
            "flatten: argument 'images' must be a numeric array",
        ),
        (lambda: data.as_float(GRAY), TypeError, "as_float: argument 'dataset' must be a Dataset"),
    ],
)
def test_array_functions_check_their_arguments(call, error: type, message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        call()


def test_fashion_mnist_is_never_downloaded_and_the_error_names_the_debian_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DGM_OFFLINE")
    with pytest.raises(data.DataNotFoundError) as err:
        data.load("fashion_mnist", "test")
    assert "no verified download source for fashion_mnist" in str(err.value)
    assert "apt install dataset-fashion-mnist" in str(err.value)


DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(
    not DEBIAN_FASHION.is_dir(),
    reason=f"Debian's dataset-fashion-mnist is not installed ({DEBIAN_FASHION})",
)
def test_debian_fashion_mnist_is_found_in_its_system_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(data.SYSTEM_DIRS, "fashion_mnist", (str(DEBIAN_FASHION),))
    ds = data.load("fashion_mnist", "test")
    assert ds.origin == "system folder" and ds.images.shape == (10_000, 28, 28)
    assert ds.max_value == 255 and ds.images.max() == 255
    np.testing.assert_array_equal(np.bincount(ds.labels), np.full(10, 1000))
