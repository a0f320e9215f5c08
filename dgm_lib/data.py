"""Image data for the book: one resolver, checked files, no pickles.

Data sets (the ``name`` argument of :func:`load`):

- ``"binarized_mnist"``: the fixed binarized MNIST of Larochelle and Murray (2011), splits
  ``train``/``valid``/``test`` of 50,000/10,000/10,000 binary 28x28 images, no labels. The
  split the NADE, MADE, PixelCNN and many VAE papers report test NLL on. Read from the packed
  ``binarized_mnist.npz`` or from the canonical text files ``binarized_mnist_{split}.amat``.
- ``"mnist"``: grayscale MNIST, splits ``train``/``test`` (60,000/10,000), IDX files.
- ``"fashion_mnist"``: Fashion-MNIST, same IDX format and shapes; offline from Debian's
  ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``). Never downloaded: we hold
  no published SHA-256 for its files.
- ``"digits"``: scikit-learn's 8x8 digits (1,797 images, 17 grey levels), shipped inside
  scikit-learn; the first 1,437 images are ``train``, the last 360 ``test``.
- ``"auto"``: binary images from the first of the above that is available (see :func:`load`).

Where files are looked for, in this order (the first folder that holds them wins):

1. the ``data_dir`` argument,
2. the folder in the environment variable ``DGM_DATA_DIR``,
3. the cache, ``$XDG_CACHE_HOME/dgm_lib`` or ``~/.cache/dgm_lib``,
4. system dataset folders (:data:`SYSTEM_DIRS`),
5. a download from a mirror in :data:`MIRRORS` into the cache, checked against :data:`SHA256`
   and written atomically (a temporary file in the same folder, renamed only once its hash
   matches; a failed or corrupt download leaves nothing behind).

In folders 1-3 the binarized MNIST files may sit in the folder itself or in a subfolder
``binarized_mnist``; the IDX sets sit in a subfolder ``mnist`` or ``fashion_mnist`` (also
``fashion-mnist``), because MNIST and Fashion-MNIST share their file names. Every file whose
published SHA-256 is in :data:`SHA256` is checked each time it is read (uncompressed IDX
files and Fashion-MNIST have none and are read unchecked). ``digits`` always comes from
scikit-learn.

Set ``DGM_OFFLINE=1`` to forbid downloads (tests, CI, a machine without network).
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import struct
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from .checks import check_array, check_key
from .files import atomic_file

__all__ = [
    "AUTO_ORDER",
    "BINARIZE",
    "DIGITS_TEST_SIZE",
    "DOWNLOAD_TIMEOUT_S",
    "GRAYSCALE_ORDER",
    "MIRRORS",
    "SHA256",
    "SPLITS",
    "SYSTEM_DIRS",
    "TITLES",
    "Binarize",
    "ChecksumError",
    "DataNotFoundError",
    "Dataset",
    "Name",
    "Split",
    "as_float",
    "binarize_stochastic",
    "binarize_threshold",
    "cache_dir",
    "flatten",
    "load",
    "load_grayscale",
    "read_idx",
]

Name = Literal["binarized_mnist", "mnist", "fashion_mnist", "digits", "auto"]
"""The names :func:`load` accepts."""
Split = Literal["train", "valid", "test"]
"""The split names; which ones a data set has is in :data:`SPLITS`."""
Binarize = Literal["threshold", "stochastic"]
"""The binarizations :func:`load` applies on request."""

#: The splits of each data set; ``auto`` offers the splits every candidate has.
SPLITS: dict[str, tuple[str, ...]] = {
    "binarized_mnist": ("train", "valid", "test"),
    "mnist": ("train", "test"),
    "fashion_mnist": ("train", "test"),
    "digits": ("train", "test"),
    "auto": ("train", "test"),
}
#: The order in which ``name="auto"`` tries the data sets.
AUTO_ORDER: tuple[str, ...] = ("binarized_mnist", "mnist", "fashion_mnist", "digits")
GRAYSCALE_ORDER: tuple[str, ...] = ("mnist", "fashion_mnist", "digits")
"""What :func:`load_grayscale` tries, in order."""
#: The values of :func:`load`'s ``binarize`` argument besides ``None``.
BINARIZE: tuple[str, ...] = ("threshold", "stochastic")

#: Published SHA-256 of each file, by data set, from ``shared/data/README.md`` for the npz and
#: tensorflow/datasets ``url_checksums/binarized_mnist.txt`` and ``mnist.txt`` for the rest.
#: Sizes in bytes: .amat 78,400,000 / 15,680,000 / 15,680,000; MNIST train images 9,912,422,
#: train labels 28,881, test images 1,648,877, test labels 4,542.
SHA256: dict[str, dict[str, str]] = {
    "binarized_mnist": {
        "binarized_mnist.npz": "df14a884cb4aa7ac6692463fb31798a687c4e762c73c23a8ae3114fbec4e6093",
        "binarized_mnist_train.amat": (
            "ad693b29f94c14277b095f5238ddefbbdaaae0939789dd2f4f0205278cee3e4d"
        ),
        "binarized_mnist_valid.amat": (
            "1de3d397c40fe8eeb33dafd4099a1f665ec01e96d9be234aaeeac8a34930e2e2"
        ),
        "binarized_mnist_test.amat": (
            "e6687bfea3f820c174f33b7865140b2a2dd2930ef786f35d45795fc193b5ab2c"
        ),
    },
    "mnist": {
        "train-images-idx3-ubyte.gz": (
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
        ),
        "train-labels-idx1-ubyte.gz": (
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
        ),
        "t10k-images-idx3-ubyte.gz": (
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
        ),
    },
}

#: Base URLs tried in order; a file's URL is the base plus its name. Tests point these at a
#: local server. A data set without an entry is never downloaded.
MIRRORS: dict[str, tuple[str, ...]] = {
    "binarized_mnist": ("http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/",),
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
}

#: Folders that hold a data set's files directly, searched after the cache.
SYSTEM_DIRS: dict[str, tuple[str, ...]] = {
    "fashion_mnist": ("/usr/share/datasets/fashion-mnist",),
}

#: Seconds a download may wait on the network before it counts as unavailable.
DOWNLOAD_TIMEOUT_S = 5.0
#: How many of scikit-learn's 1,797 digits, the last ones, form the ``test`` split.
DIGITS_TEST_SIZE = 360

# Subfolders of data_dir, DGM_DATA_DIR and the cache to look in ("" is the folder itself).
_SUBFOLDERS: dict[str, tuple[str, ...]] = {
    "binarized_mnist": ("", "binarized_mnist"),
    "mnist": ("mnist",),
    "fashion_mnist": ("fashion_mnist", "fashion-mnist"),
}
_HINTS: dict[str, str] = {
    "binarized_mnist": "binarized_mnist.npz (the book's shared/data) or the .amat files",
    "mnist": "a subfolder 'mnist' with the MNIST IDX files",
    "fashion_mnist": (
        "a subfolder 'fashion_mnist' with the Fashion-MNIST IDX files (on Debian or Ubuntu, "
        "apt install dataset-fashion-mnist puts them in /usr/share/datasets/fashion-mnist)"
    ),
}
_IDX_DTYPES: dict[int, str] = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}
_AMAT_ROW_BYTES = 2 * 784  # 784 digits, each followed by a space or, last, a newline


class DataNotFoundError(FileNotFoundError):
    """A data set is in none of the folders searched and could not be downloaded."""


class ChecksumError(ValueError):
    """A file's SHA-256 differs from the published one."""


TITLES = {
    "binarized_mnist": "fixed binarised MNIST",
    "mnist": "MNIST",
    "fashion_mnist": "Fashion-MNIST",
    "digits": "8x8 digits (scikit-learn)",
}
"""How tables name each data set (:meth:`Dataset.title`)."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """One split of an image data set.

    ``images`` is ``uint8`` of shape ``(N, H, W)`` with values ``0..max_value`` (1 for binary
    images, 255 for MNIST, 16 for digits); :func:`as_float` maps them to ``[0, 1]``. ``labels``
    is ``int32`` of shape ``(N,)`` (class indices) or ``None``. ``source`` is the file or URL
    the images came from, ``origin`` how it was found (``data_dir``, ``DGM_DATA_DIR``,
    ``cache``, ``system folder``, ``download``, ``scikit-learn``), and ``binarization`` says how
    grayscale images were made binary (``None``: as stored).
    """

    images: np.ndarray = field(repr=False)
    labels: np.ndarray | None = field(repr=False)
    name: str
    split: str
    source: str
    origin: str
    max_value: int
    binarization: str | None = None

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def title(self) -> str:
        """The data set as tables name it: ``fixed binarised MNIST``, ``Fashion-MNIST``,
        ``MNIST (binarised by threshold)``; rows with equal titles used the same images."""
        base = TITLES.get(self.name, self.name)
        return f"{base} (binarised by {self.binarization})" if self.binarization else base

    def describe(self) -> str:
        """One line: data set, split, size, binarisation and source. A local file is named
        without its folder (``origin`` says which kind of folder), so a page built on one
        machine prints none of its paths; a URL is printed whole."""
        n, h, w = self.images.shape
        how = f", binarised by {self.binarization}" if self.binarization else ""
        shown = self.source if "://" in self.source else Path(self.source).name or self.source
        return f"{self.name} {self.split} ({n} images {h}x{w}{how}) from {shown}"


# ----------------------------------------------------------------------------- array helpers


def as_float(dataset: Dataset) -> np.ndarray:
    """Intensities in ``[0, 1]``: ``images / max_value`` as float32, shape ``(N, H, W)``."""
    if not isinstance(dataset, Dataset):
        raise TypeError(
            f"as_float: argument 'dataset' must be a Dataset from dgm_lib.data.load; "
            f"got {type(dataset).__name__}"
        )
    return dataset.images.astype(np.float32) / np.float32(dataset.max_value)


def flatten(images: np.ndarray | jax.Array) -> np.ndarray | jax.Array:
    """Rows of pixels: ``(N, H, W) -> (N, H*W)`` in row-major (raster) order."""
    checked = check_array("flatten", "images", images, shape=("N", "H", "W"), kind="number")
    rows = images if isinstance(images, np.ndarray) else checked
    return rows.reshape(rows.shape[0], -1)


def binarize_threshold(images: jax.Array, threshold: float = 0.5) -> jax.Array:
    """Deterministic binarisation: ``b = 1[x > threshold]``, as float32 of the input's shape.

    ``images`` holds intensities in ``[0, 1]`` (any shape with at least one axis, e.g.
    ``(N, H, W)`` or ``(batch, 784)``); an intensity equal to the threshold gives 0.
    """
    check_array("binarize_threshold", "images", images, shape=(..., "pixels"), kind="float")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise TypeError(
            f"binarize_threshold: argument 'threshold' must be a float in [0, 1]; "
            f"got {type(threshold).__name__}"
        )
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(
            f"binarize_threshold: argument 'threshold' must be in [0, 1]; got {threshold}"
        )
    return (jnp.asarray(images) > threshold).astype(jnp.float32)


def binarize_stochastic(key: jax.Array, images: jax.Array) -> jax.Array:
    """Dynamic binarisation: each pixel ``b ~ Bernoulli(x)`` independently, as float32.

    ``images`` holds intensities ``x`` in ``[0, 1]`` (any shape with at least one axis), so
    ``E[b] = x``. The same ``key`` gives the same binary images. Works under ``jax.jit``, so a
    training step can draw fresh binary images from each batch.
    """
    key = check_key("binarize_stochastic", key)
    x = check_array("binarize_stochastic", "images", images, shape=(..., "pixels"), kind="float")
    return jax.random.bernoulli(key, x).astype(jnp.float32)


# ----------------------------------------------------------------------------- file readers


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or raw, into a native-order array.

    Layout: two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64), the number of dimensions ``d``, ``d`` big-endian uint32 sizes,
    then the values, big-endian, row-major. Raises ``ValueError`` naming the file and the fault
    when the gzip stream, the magic number or the length does not check out.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise ValueError(f"read_idx: {path} is a corrupt gzip file ({err})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES or raw[3] == 0:
        codes = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise ValueError(
            f"read_idx: {path} is not an IDX file: magic number {raw[:4].hex()!r}, expected "
            f"two zero bytes, a type code ({codes}) and a non-zero number of dimensions"
        )
    ndim = raw[3]
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise ValueError(f"read_idx: {path} is truncated inside its header of {start} bytes")
    shape = struct.unpack(f">{ndim}I", raw[4:start])
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = start + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(
            f"read_idx: {path} is corrupt: its header promises shape {shape} of {dtype.name}, "
            f"{expected} bytes in all, but it holds {len(raw)} bytes"
        )
    return np.frombuffer(raw, dtype, offset=start).reshape(shape).astype(dtype.newbyteorder("="))


def _read_amat(path: Path) -> np.ndarray:
    """Binary images (N, 28, 28) from the .amat text format: 784 '0'/'1' per line."""
    data = np.frombuffer(path.read_bytes(), np.uint8)
    if data.size == 0 or data.size % _AMAT_ROW_BYTES:
        raise ValueError(
            f"{path} is not a binarized MNIST .amat file: {data.size} bytes is not a whole "
            f"number of {_AMAT_ROW_BYTES}-byte rows (784 '0'/'1' separated by spaces, then '\\n')"
        )
    rows = data.reshape(-1, _AMAT_ROW_BYTES)
    pixels = rows[:, 0::2] - np.uint8(ord("0"))  # other bytes wrap to >= 2 and are caught below
    gaps = rows[:, 1::2]
    if pixels.max() > 1 or (gaps[:, :-1] != ord(" ")).any() or (gaps[:, -1] != ord("\n")).any():
        raise ValueError(
            f"{path} is not a binarized MNIST .amat file: each line must be 784 '0'/'1' "
            "separated by single spaces and end in '\\n'"
        )
    return pixels.reshape(-1, 28, 28)


def _read_npz(path: Path, split: str) -> np.ndarray:
    """Binary images (N, 28, 28) from the packed npz: rows of np.packbits(axis=1)."""
    with np.load(path, allow_pickle=False) as archive:
        if split not in archive.files:
            raise ValueError(f"{path} has no array {split!r}; it holds {archive.files}")
        packed = archive[split]
    if packed.dtype != np.uint8 or packed.ndim != 2 or packed.shape[1] != 98:
        raise ValueError(
            f"{path}: array {split!r} must be uint8 of shape (N, 98) (784 bits packed by "
            f"np.packbits(axis=1)); got {packed.dtype} {packed.shape}"
        )
    return np.unpackbits(packed, axis=1)[:, :784].reshape(-1, 28, 28)


def _read_idx_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(
            f"{images_path}: expected uint8 images (N, H, W); got {images.dtype} {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.shape != images.shape[:1]:
        raise ValueError(
            f"{labels_path}: expected uint8 labels of shape ({images.shape[0]},) to match "
            f"{images_path.name}; got {labels.dtype} {labels.shape}"
        )
    return images, labels.astype(np.int32)


def _sha256_of(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(name: str, path: Path) -> None:
    expected = SHA256.get(name, {}).get(path.name)
    if expected is None:
        return
    actual = _sha256_of(path)
    if actual != expected:
        raise ChecksumError(
            f"{path} is not the published {path.name}: sha256 {actual}, expected {expected}. "
            "Delete it (a download will fetch a checked copy) or replace it."
        )


def _read(
    name: str, split: str, paths: tuple[Path, ...]
) -> tuple[np.ndarray, np.ndarray | None, int]:
    for path in paths:
        _verify(name, path)
    if name == "binarized_mnist":
        path = paths[0]
        images = _read_npz(path, split) if path.suffix == ".npz" else _read_amat(path)
        return images, None, 1
    images, labels = _read_idx_pair(*paths)
    return images, labels, 255


def _load_digits(split: str) -> Dataset:
    try:
        import sklearn
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError("digits needs scikit-learn: pip install scikit-learn") from None
    bunch = load_digits()
    cut = len(bunch.target) - DIGITS_TEST_SIZE
    part = slice(None, cut) if split == "train" else slice(cut, None)
    images = bunch.images[part].astype(np.uint8)
    labels = bunch.target[part].astype(np.int32)
    source = f"scikit-learn {sklearn.__version__} sklearn.datasets.load_digits"
    return Dataset(images, labels, "digits", split, source, "scikit-learn", 16)


# ----------------------------------------------------------------------------- resolver


def cache_dir() -> Path:
    """Where downloads go: ``$XDG_CACHE_HOME/dgm_lib`` if that is set, else ``~/.cache/dgm_lib``."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "dgm_lib"


def _folders(name: str, data_dir: Path | None) -> list[tuple[Path, str]]:
    """Every folder searched for ``name``, in order, each with how it was named."""
    roots: list[tuple[Path, str]] = []
    if data_dir is not None:
        roots.append((data_dir, "data_dir"))
    if os.environ.get("DGM_DATA_DIR"):
        roots.append((Path(os.environ["DGM_DATA_DIR"]).expanduser(), "DGM_DATA_DIR"))
    roots.append((cache_dir(), "cache"))
    folders = [(root / sub, origin) for root, origin in roots for sub in _SUBFOLDERS[name]]
    return folders + [(Path(p), "system folder") for p in SYSTEM_DIRS.get(name, ())]


def _wanted(name: str, split: str) -> tuple[tuple[str, ...], ...]:
    """Files that hold a split: a tuple of needed files, each a tuple of accepted names."""
    if name == "binarized_mnist":
        return (("binarized_mnist.npz", f"binarized_mnist_{split}.amat"),)
    prefix = "train" if split == "train" else "t10k"
    stems = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
    return tuple((stem + ".gz", stem) for stem in stems)


def _locate(folder: Path, name: str, split: str) -> tuple[Path, ...] | None:
    found = []
    for accepted in _wanted(name, split):
        hit = next((folder / f for f in accepted if (folder / f).is_file()), None)
        if hit is None:
            return None
        found.append(hit)
    return tuple(found)


class _DownloadFailed(Exception):
    def __init__(self, detail: str, short: str, network_down: bool) -> None:
        super().__init__(detail)
        self.short = short
        self.network_down = network_down


def _fetch(url: str, dest: Path, expected: str) -> None:
    """Download ``url`` to ``dest`` atomically; the file appears only if its SHA-256 matches."""
    digest = hashlib.sha256()
    with (
        atomic_file(dest) as out,
        urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp,
    ):
        received = 0
        for block in iter(lambda: resp.read(1 << 20), b""):
            digest.update(block)
            out.write(block)
            received += len(block)
        promised = resp.headers.get("Content-Length")
        if promised is not None and received != int(promised):
            raise ConnectionError(f"connection closed after {received} of {promised} bytes")
        if digest.hexdigest() != expected:
            raise ChecksumError(
                f"download of {url} does not match the published {dest.name}: "
                f"sha256 {digest.hexdigest()}, expected {expected}; nothing was saved"
            )


def _why(err: Exception) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return str(err.reason)
    return f"{type(err).__name__}: {err}"


def _unreachable(err: Exception) -> bool:
    """True for a failure to reach the server at all (no route, refused, DNS, timeout)."""
    if isinstance(err, urllib.error.HTTPError):
        return False
    return isinstance(err, (urllib.error.URLError, TimeoutError))


def _download(name: str, split: str) -> tuple[tuple[Path, ...], str]:
    """Fetch a split's files into the cache; return their paths and the first URL used."""
    paths, urls = [], []
    for accepted in _wanted(name, split):
        file = next(f for f in accepted if f.endswith((".amat", ".gz")))  # the mirrored forms
        errors: list[tuple[str, Exception]] = []
        for base in MIRRORS[name]:
            url = base + file
            try:
                _fetch(url, cache_dir() / name / file, SHA256[name][file])
            except (OSError, http.client.HTTPException) as err:
                errors.append((url, err))
                continue
            paths.append(cache_dir() / name / file)
            urls.append(url)
            break
        else:
            detail = "; ".join(f"{url}: {_why(err)}" for url, err in errors)
            down = all(_unreachable(e) for _, e in errors)
            raise _DownloadFailed(detail, _why(errors[0][1]), down)
    return tuple(paths), urls[0]


@dataclass(frozen=True)
class _Missing:
    """Why a data set was not found: the folders searched and what became of the download."""

    folders: tuple[str, ...]
    download: str
    short: str
    network_down: bool = False


def _folder_line(folder: Path, origin: str) -> str:
    state = "" if folder.is_dir() else ("; not a folder" if folder.exists() else "; does not exist")
    return f"{folder}  [{origin}{state}]"


def _resolve(
    name: str, split: str, data_dir: Path | None, blocked: str | None
) -> Dataset | _Missing:
    """The resolver: local folders in order, then (unless ``blocked`` says why not) a download."""
    folders = _folders(name, data_dir)
    for folder, origin in folders:
        paths = _locate(folder, name, split)
        if paths is not None:
            images, labels, top = _read(name, split, paths)
            return Dataset(images, labels, name, split, str(paths[0]), origin, top)
    lines = tuple(_folder_line(f, o) for f, o in folders)
    if not os.environ.get("DGM_DATA_DIR"):
        lines += ("(DGM_DATA_DIR is not set)",)
    where = f"not in {len(folders)} folder" + ("s" if len(folders) > 1 else "")
    if blocked is not None:
        return _Missing(lines, f"not attempted ({blocked})", f"{where}; no download ({blocked})")
    if not MIRRORS.get(name):
        why = f"dgm_lib has no verified download source for {name}"
        return _Missing(lines, f"none ({why})", f"{where}; {why}")
    try:
        paths, url = _download(name, split)
    except _DownloadFailed as err:
        return _Missing(
            lines, f"failed: {err}", f"{where}; download failed ({err.short})", err.network_down
        )
    images, labels, top = _read(name, split, paths)
    return Dataset(images, labels, name, split, url, "download", top)


def _not_found(name: str, split: str, missing: _Missing) -> DataNotFoundError:
    wanted = " and ".join(" or ".join(accepted) for accepted in _wanted(name, split))
    folders = "\n".join(f"  {i}. {line}" for i, line in enumerate(missing.folders, 1))
    return DataNotFoundError(
        f"load({name!r}, split={split!r}): data not found. Looked for {wanted} in:\n{folders}\n"
        f"Download: {missing.download}.\n"
        f"To fix: set the environment variable DGM_DATA_DIR (or pass data_dir=...) to a folder "
        f"holding {_HINTS[name]}."
    )


def _binarized(ds: Dataset, binarize: str | None, key: jax.Array | None) -> Dataset:
    if binarize is None or ds.max_value == 1:
        return ds
    x = as_float(ds)
    if binarize == "threshold":
        images, how = binarize_threshold(x, 0.5), "threshold 0.5"
    else:
        images, how = binarize_stochastic(key, x), "Bernoulli(intensity) sampling"
    return replace(ds, images=np.asarray(images, dtype=np.uint8), max_value=1, binarization=how)


def _check_load_args(
    name: object, split: object, data_dir: object, binarize: object, key: object, download: object
) -> Path | None:
    if not isinstance(name, str) or name not in SPLITS:
        raise ValueError(
            f"load: argument 'name' must be one of {', '.join(map(repr, SPLITS))}; got {name!r}"
        )
    if not isinstance(split, str) or split not in SPLITS[name]:
        raise ValueError(
            f"load: argument 'split' must be one of {', '.join(map(repr, SPLITS[name]))} "
            f"for {name!r}; got {split!r}"
        )
    if binarize is not None and binarize not in BINARIZE:
        raise ValueError(
            f"load: argument 'binarize' must be None, {', '.join(map(repr, BINARIZE))}; "
            f"got {binarize!r}"
        )
    if binarize == "stochastic":
        if key is None:
            raise ValueError(
                "load: binarize='stochastic' needs argument 'key', e.g. jax.random.key(0)"
            )
        check_key("load", key)
    elif key is not None:
        raise ValueError("load: argument 'key' is used only with binarize='stochastic'")
    if not isinstance(download, bool):
        raise TypeError(f"load: argument 'download' must be True or False; got {download!r}")
    if data_dir is None:
        return None
    if not isinstance(data_dir, (str, os.PathLike)):
        raise TypeError(
            f"load: argument 'data_dir' must be a folder path (str or pathlib.Path) or None; "
            f"got {type(data_dir).__name__}"
        )
    folder = Path(data_dir).expanduser()
    if not folder.is_dir():
        state = "is a file" if folder.exists() else "does not exist"
        raise ValueError(f"load: argument 'data_dir' must be an existing folder; {folder} {state}")
    return folder


def _blocked(download: bool) -> str | None:
    """Why downloads are off (``download=False`` or ``DGM_OFFLINE``), or None if they are on."""
    if not download:
        return "download=False"
    flag = os.environ.get("DGM_OFFLINE", "").strip()
    if flag.lower() not in ("", "0", "false", "no"):
        return f"DGM_OFFLINE={flag}"
    return None


def load(
    name: Name,
    split: Split = "train",
    *,
    data_dir: str | os.PathLike[str] | None = None,
    binarize: Binarize | None = None,
    key: jax.Array | None = None,
    download: bool = True,
) -> Dataset:
    """Load one split of a data set through the resolver (see the module docstring).

    An explicit ``name`` never falls back: if its files are in no folder and cannot be
    downloaded, it raises :class:`DataNotFoundError` naming every folder searched, why the
    download failed and the variable ``DGM_DATA_DIR`` to set. A file whose SHA-256 differs from
    the published one raises :class:`ChecksumError`.

    ``name="auto"`` wants binary images for a ``train`` or ``test`` split and takes the first
    available of: the fixed binarized MNIST (local, else downloaded), MNIST, Fashion-MNIST,
    scikit-learn's digits, binarising grayscale images by ``binarize`` (default
    ``"threshold"``). After one connection failure it tries no further downloads, so without a
    network it falls through in seconds. It prints one line saying what it used and why.

    ``binarize``: ``None`` (images as stored), ``"threshold"`` (:func:`binarize_threshold` at
    0.5) or ``"stochastic"`` (:func:`binarize_stochastic` with ``key``, one draw per pixel).
    Images that are already binary are returned unchanged. ``download=False`` or the
    environment variable ``DGM_OFFLINE=1`` forbids downloads.
    """
    folder = _check_load_args(name, split, data_dir, binarize, key, download)
    blocked = _blocked(download)
    if name == "digits":
        return _binarized(_load_digits(split), binarize, key)
    if name != "auto":
        found = _resolve(name, split, folder, blocked)
        if isinstance(found, _Missing):
            raise _not_found(name, split, found)
        return _binarized(found, binarize, key)

    skipped: list[str] = []
    for candidate in AUTO_ORDER[:-1]:
        found = _resolve(candidate, split, folder, blocked)
        if isinstance(found, Dataset):
            break
        skipped.append(f"{candidate}: {found.short}")
        if found.network_down:
            blocked = "no network"
    else:
        try:
            found = _load_digits(split)
        except ImportError as err:
            raise DataNotFoundError(
                f"load('auto', split={split!r}): no data set available; "
                + "; ".join([*skipped, f"digits: {err}"])
            ) from None
    dataset = _binarized(found, binarize or "threshold", key)
    why = "".join(f"; {s}" for s in skipped)
    print(f"data: {dataset.describe()} ({dataset.origin}{why})")
    return dataset


def load_grayscale(
    split: Split = "train",
    *,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
) -> Dataset:
    """One split of the first grayscale image set available, in the order of
    :data:`GRAYSCALE_ORDER`: MNIST, then Fashion-MNIST (Debian's ``dataset-fashion-mnist``
    offline), then scikit-learn's 8x8 digits, which is always there. Images as stored (integers
    in ``0..max_value``), with labels. No download unless ``download=True``, so a machine
    without a network does not wait on a mirror. Prints one line saying what it used and why.
    """
    skipped: list[str] = []
    for name in GRAYSCALE_ORDER[:-1]:
        try:
            dataset = load(name, split, data_dir=data_dir, download=download)  # type: ignore[arg-type]
        except DataNotFoundError:
            skipped.append(f"{name}: not found")
            continue
        break
    else:
        dataset = load("digits", split)
    why = "".join(f"; {s}" for s in skipped)
    print(f"data: {dataset.describe()} ({dataset.origin}{why})")
    return dataset
