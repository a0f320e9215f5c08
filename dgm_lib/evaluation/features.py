r"""A feature space for comparing image sets: the penultimate layer of a small classifier that
the library trains once per data set and keeps in its cache.

FID (Heusel et al. 2017) compares generated and real images in the features of an Inception
network trained on ImageNet. For 28x28 grey images that network is the wrong tool (it was
trained on colour photographs at 299x299) and too heavy for a CPU, so the book trains its own:
an MLP on flattened images scaled to :math:`[0, 1]`,

.. math:: h_1 = \mathrm{relu}(x W_1 + b_1) \in \mathbb R^{256}, \qquad
          \phi(x) = \mathrm{relu}(h_1 W_2 + b_2) \in \mathbb R^{128}, \qquad
          p(y \mid x) = \mathrm{softmax}(\phi(x) W_3 + b_3),

fitted by minimising the softmax cross-entropy :math:`-\frac1B \sum_i \log p(y_i \mid x_i)`
with Adam (:func:`dgm_lib.train.fit`). Its features :math:`\phi(x)`, the last hidden layer
after the activation, are what :func:`dgm_lib.evaluation.frechet_distance` compares: they
separate the classes, so a sample set that misses a class, blurs the strokes or adds noise moves
away from the real images in this space. With :data:`TRAINING` (3,000 Adam steps of 128
images) it trains in about 20 s on two CPU cores for Fashion-MNIST (60,000 images 28x28, test
accuracy 0.885) and in about 8 s for scikit-learn's 8x8 digits (0.917 on their last 360 images,
where an RBF support vector machine gets 0.942).

Reproducible by construction: a fixed recipe (:data:`TRAINING`: sizes, steps, batch size,
learning rate, seed), initial weights from ``nnx.Rngs(seed)`` and batches in the fixed order of
``fit``'s key schedule, so every machine trains the same network up to floating-point rounding.
The trained weights are kept in ``dgm_lib.data.cache_dir() / "features"``, named by a SHA-256 of
the training images and labels, the recipe and the source of this file (so new data, a new
recipe or a change to this code trains afresh). A score computed in one data set's feature
space is comparable only with scores in the same space: the data set and the digest are in
:meth:`FeatureExtractor.describe`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from ..checks import check_hidden_sizes, check_positive_float, check_positive_int, format_shape
from ..data import Dataset, as_float, cache_dir
from ..files import atomic_file
from ..nn import MLP
from ..train import fit

__all__ = ["TRAINING", "FeatureExtractor", "FeatureTraining", "feature_extractor"]


@dataclass(frozen=True)
class FeatureTraining:
    """The recipe of the feature classifier (part of the cache digest).

    Attributes:
        hidden_sizes: widths of the hidden layers; the last is the feature dimension.
        steps: Adam steps (not epochs): 3000 of 128 is 6.4 epochs of 60,000 images.
        batch_size: examples per step.
        learning_rate: Adam's initial step size, decayed to zero on a cosine.
        seed: seeds the initial weights (``nnx.Rngs(seed)``) and the batch order
            (``key=jax.random.key(seed)`` in :func:`dgm_lib.train.fit`).
    """

    hidden_sizes: tuple[int, ...] = (256, 128)
    steps: int = 3000
    batch_size: int = 128
    learning_rate: float = 1e-3
    seed: int = 0

    def __post_init__(self) -> None:
        where = "FeatureTraining"
        sizes = check_hidden_sizes(where, self.hidden_sizes)
        if not sizes:
            raise ValueError(f"{where}: argument 'hidden_sizes' needs at least one width")
        object.__setattr__(self, "hidden_sizes", sizes)
        check_positive_int(where, "steps", self.steps)
        check_positive_int(where, "batch_size", self.batch_size)
        check_positive_float(where, "learning_rate", self.learning_rate)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"{where}: argument 'seed' must be an int >= 0; got {self.seed!r}")


TRAINING = FeatureTraining()
"""The one recipe :func:`feature_extractor` trains with (part of the cache digest)."""

_FORMAT = "dgm_lib.evaluation.features/1"  # the layout of the cache file
_CHUNK = 1024  # rows per compiled forward pass (the last chunk is padded)


def _layers(network: MLP) -> list[tuple[jax.Array, jax.Array]]:
    return [(layer.kernel[...], layer.bias[...]) for layer in network.layers]


@jax.jit
def _hidden_kernel(params: list[tuple[jax.Array, jax.Array]], x: jax.Array) -> jax.Array:
    h = x
    for w, b in params[:-1]:
        h = jax.nn.relu(h @ w + b)
    return h


@jax.jit
def _log_probs_kernel(params: list[tuple[jax.Array, jax.Array]], x: jax.Array) -> jax.Array:
    w, b = params[-1]
    return jax.nn.log_softmax(_hidden_kernel(params, x) @ w + b, axis=-1)


def _apply(kernel: Any, params: list, x: np.ndarray, scale: float) -> np.ndarray:
    """``kernel(params, x / scale)`` over chunks of :data:`_CHUNK` rows (one compilation)."""
    n = x.shape[0]
    out = []
    for start in range(0, n, _CHUNK):
        rows = x[start : start + _CHUNK]
        block = np.zeros((_CHUNK, x.shape[1]), np.float32)
        block[: rows.shape[0]] = rows.astype(np.float32) / np.float32(scale)
        out.append(np.asarray(kernel(params, jnp.asarray(block)))[: rows.shape[0]])
    return np.concatenate(out, axis=0)


class FeatureExtractor:
    r"""A trained feature classifier (see the module docstring) and where it came from.

    Build it with :func:`feature_extractor`. Images go in as the training images were stored
    (integers in ``0..max_value``) or as float intensities in :math:`[0, 1]`, shaped like the
    training images, ``(n, H, W)``, or flattened, ``(n, H*W)``.

    Attributes:
        network: the :class:`dgm_lib.nn.MLP` ``H*W -> 256 -> 128 -> num_classes``.
        name: the training data set's name, e.g. ``"fashion_mnist"``.
        image_shape: ``(H, W)`` of the training images.
        max_value: the largest stored intensity of the training images (255, 16, ...).
        num_classes: the number of classes.
        test_accuracy: accuracy on the test set given to :func:`feature_extractor`, or None.
        digest: the SHA-256 (hex) of the training data, the recipe and this code.
        source: where the weights came from: ``"trained here in 12.3 s"`` or
            ``"loaded from the feature cache (<file name>)"`` (``cache_path`` is the full path;
            pages print no machine's folders).
        cache_path: the cache file (written or read), or None when the cache was not used.
    """

    def __init__(
        self,
        network: MLP,
        *,
        name: str,
        image_shape: tuple[int, int],
        max_value: int,
        test_accuracy: float | None,
        digest: str,
        source: str,
        cache_path: Path | None,
    ) -> None:
        if not isinstance(network, MLP):
            raise TypeError(
                f"FeatureExtractor: argument 'network' must be a dgm_lib.nn.MLP; got "
                f"{type(network).__name__}"
            )
        self.network = network
        self.name = name
        self.image_shape = tuple(int(s) for s in image_shape)
        self.max_value = int(max_value)
        self.num_classes = int(network.layers[-1].out_features)
        self.test_accuracy = test_accuracy
        self.digest = digest
        self.source = source
        self.cache_path = cache_path

    @property
    def feature_dim(self) -> int:
        """The number of features, the width of the last hidden layer (128)."""
        return int(self.network.layers[-1].in_features)

    def _rows(self, where: str, images: Any) -> tuple[np.ndarray, float]:
        """Checked images as rows ``(n, H*W)`` and the divisor that maps them to [0, 1]."""
        try:
            x = np.asarray(images)
        except Exception as err:
            raise TypeError(
                f"{where}: argument 'images' must be an array; got {type(images).__name__} ({err})"
            ) from None
        h, w = self.image_shape
        if x.shape[1:] not in ((h, w), (h * w,)) or x.ndim not in (2, 3):
            raise ValueError(
                f"{where}: argument 'images' must have the shape of the {self.name} training "
                f"images, {format_shape(('n', h, w))} or flattened {format_shape(('n', h * w))}; "
                f"got shape {x.shape}"
            )
        if x.shape[0] == 0:
            raise ValueError(f"{where}: argument 'images' holds no images (shape {x.shape})")
        x = x.reshape(x.shape[0], h * w)
        if np.issubdtype(x.dtype, np.integer):
            lo, hi = int(x.min()), int(x.max())
            if lo < 0 or hi > self.max_value:
                raise ValueError(
                    f"{where}: integer 'images' must hold stored intensities in "
                    f"0..{self.max_value} (those of {self.name}); got values from {lo} to {hi}"
                )
            return x, float(self.max_value)
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(
                f"{where}: argument 'images' must be integers in 0..{self.max_value} or floats "
                f"in [0, 1]; got dtype {x.dtype}"
            )
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{where}: argument 'images' holds NaN or infinite values")
        lo, hi = float(x.min()), float(x.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(
                f"{where}: float 'images' must be intensities in [0, 1]; got values from "
                f"{lo:.4g} to {hi:.4g} (clip samples first, np.clip(x, 0, 1); map [-1, 1] "
                "to [0, 1] by (x + 1) / 2)"
            )
        return x, 1.0

    def features(self, images: Any) -> np.ndarray:
        r"""The features :math:`\phi(x)`: the last hidden layer after its ReLU.

        Args:
            images: ``(n, H, W)`` or ``(n, H*W)``, integers in ``0..max_value`` (as stored) or
                floats in :math:`[0, 1]`; NumPy or JAX.

        Returns:
            float32 NumPy array of shape ``(n, feature_dim)``, non-negative.
        """
        x, scale = self._rows("FeatureExtractor.features", images)
        return _apply(_hidden_kernel, _layers(self.network), x, scale)

    def log_probs(self, images: Any) -> np.ndarray:
        r"""The classifier's :math:`\log p(y \mid x)` in nats, for images as in
        :meth:`features`.

        Returns:
            float32 NumPy array of shape ``(n, num_classes)``; each row log-sum-exps to zero.
        """
        x, scale = self._rows("FeatureExtractor.log_probs", images)
        return _apply(_log_probs_kernel, _layers(self.network), x, scale)

    def accuracy(self, dataset: Dataset) -> float:
        """The fraction of ``dataset``'s images whose most probable class is their label."""
        dataset = _check_dataset("FeatureExtractor.accuracy", "dataset", dataset)
        log_p = self.log_probs(as_float(dataset))
        return float(np.mean(np.argmax(log_p, axis=1) == dataset.labels))

    def describe(self) -> str:
        """One line: the network, its data, its test accuracy and where its weights came from."""
        sizes = [self.network.layers[0].in_features] + [
            layer.out_features for layer in self.network.layers
        ]
        h, w = self.image_shape
        acc = "" if self.test_accuracy is None else f", test accuracy {self.test_accuracy:.4f}"
        return (
            f"features: MLP {'-'.join(map(str, sizes))} classifier of {self.name} {h}x{w}"
            f" (features: {self.feature_dim} after the last ReLU; digest {self.digest[:12]})"
            f"{acc}; {self.source}"
        )

    def __repr__(self) -> str:
        return f"FeatureExtractor({self.describe()})"


def _check_dataset(where: str, name: str, dataset: Any) -> Dataset:
    if not isinstance(dataset, Dataset):
        raise TypeError(
            f"{where}: argument '{name}' must be a Dataset from dgm_lib.data.load; got "
            f"{type(dataset).__name__}"
        )
    if dataset.labels is None:
        raise ValueError(
            f"{where}: argument '{name}' ({dataset.name} {dataset.split}) has no labels; the "
            "feature classifier needs labelled images (e.g. load('fashion_mnist', ...))"
        )
    return dataset


def _digest(train: Dataset, config: FeatureTraining) -> str:
    """SHA-256 over everything the trained weights depend on."""
    h = hashlib.sha256()
    images = np.ascontiguousarray(train.images)
    labels = np.ascontiguousarray(train.labels, dtype=np.int64)
    header = {
        "format": _FORMAT,
        "images": [str(images.dtype), list(images.shape)],
        "labels": [str(labels.dtype), list(labels.shape)],
        "max_value": int(train.max_value),
        "config": dataclasses.asdict(config),
    }
    h.update(json.dumps(header, sort_keys=True).encode())
    h.update(memoryview(images).cast("B"))
    h.update(memoryview(labels).cast("B"))
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()


def _new_network(d: int, num_classes: int, config: FeatureTraining) -> MLP:
    return MLP((d, *config.hidden_sizes, num_classes), "relu", rngs=nnx.Rngs(config.seed))


def _train(train: Dataset, num_classes: int, config: FeatureTraining) -> tuple[MLP, float]:
    """Fit the classifier with the recipe; return it and the seconds it took."""
    start = time.perf_counter()
    n, h, w = train.images.shape
    network = _new_network(h * w, num_classes, config)
    scale = np.float32(train.max_value)

    def loss_fn(model: MLP, batch: tuple[jax.Array, jax.Array], _: jax.Array) -> jax.Array:
        x, y = batch
        logits = model(x.astype(jnp.float32) / scale)
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))

    schedule = optax.cosine_decay_schedule(config.learning_rate, config.steps)
    fit(
        network,
        loss_fn,
        (train.images.reshape(n, h * w), train.labels.astype(np.int32)),
        key=jax.random.key(config.seed),
        steps=config.steps,
        batch_size=config.batch_size,
        optimizer=optax.adam(schedule),
        progress=False,
    )
    jax.block_until_ready(nnx.state(network))
    return network, time.perf_counter() - start


def _param_arrays(network: MLP) -> list[np.ndarray]:
    return [np.asarray(a) for a in jax.tree.leaves(nnx.state(network, nnx.Param))]


def _save(path: Path, network: MLP, digest: str, seconds: float) -> None:
    arrays = {f"param_{i}": a for i, a in enumerate(_param_arrays(network))}
    arrays["format"] = np.array(_FORMAT)
    arrays["digest"] = np.array(digest)
    arrays["train_seconds"] = np.array(seconds, np.float64)
    with atomic_file(path) as out:
        np.savez(out, **arrays)


def _load(path: Path, network: MLP, digest: str) -> str | None:
    """Fill ``network`` from the cache file; return None, or why the file cannot be used."""
    template = _param_arrays(network)
    try:
        with np.load(path, allow_pickle=False) as npz:
            stored = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        return f"unreadable ({type(err).__name__}: {err})"
    if str(stored.get("format", "")) != _FORMAT or str(stored.get("digest", "")) != digest:
        return "written by another version or for other data (format or digest differs)"
    arrays = []
    for i, want in enumerate(template):
        got = stored.get(f"param_{i}")
        if got is None or got.shape != want.shape or got.dtype != want.dtype:
            what = "missing" if got is None else f"{got.dtype} {got.shape}"
            return f"parameter {i} is {what}, expected {want.dtype} {want.shape}"
        if not np.all(np.isfinite(got)):
            return f"parameter {i} holds NaN or infinite values"
        arrays.append(jnp.asarray(got))
    if f"param_{len(template)}" in stored:
        return f"it holds more than the {len(template)} parameters of the network"
    state = nnx.state(network, nnx.Param)
    nnx.update(network, jax.tree.unflatten(jax.tree.structure(state), arrays))
    return None


def feature_extractor(
    train: Dataset, test: Dataset | None = None, *, cache: bool = True
) -> FeatureExtractor:
    """The feature classifier of ``train``'s images, trained once and then read from the cache.

    With ``cache=True`` it looks for ``cache_dir() / "features" / f"{name}-{digest}.npz"``
    (``dgm_lib.data.cache_dir``; ``digest``: the first 16 hex digits of the SHA-256 of the
    training images and labels, :data:`TRAINING` and this module's source). If that file holds
    the weights, they are loaded; otherwise (no file, or a corrupt, stale or wrong-shaped one,
    which it says in one line) it trains with :data:`TRAINING` and writes the file atomically
    (a temporary file in the same folder, renamed when complete; no pickles). A cache folder
    that cannot be written is reported and skipped. ``cache=False`` neither reads nor writes.
    It prints one line: trained (seconds) or loaded (path), and the test accuracy.

    Args:
        train: labelled images, e.g. ``dgm_lib.data.load("fashion_mnist", "train")``.
        test: labelled images of the same shape for the test accuracy, or None.
        cache: read and write the cache.

    Returns:
        A :class:`FeatureExtractor`.
    """
    where = "feature_extractor"
    train = _check_dataset(where, "train", train)
    if test is not None:
        test = _check_dataset(where, "test", test)
        if test.images.shape[1:] != train.images.shape[1:]:
            raise ValueError(
                f"{where}: argument 'test' must hold images of the training shape "
                f"{train.images.shape[1:]}; got {test.images.shape[1:]}"
            )
    if not isinstance(cache, bool):
        raise TypeError(f"{where}: argument 'cache' must be True or False; got {cache!r}")
    config = TRAINING
    n, h, w = train.images.shape
    if n < config.batch_size:
        raise ValueError(
            f"{where}: argument 'train' needs at least {config.batch_size} images (one batch); "
            f"got {n}"
        )
    labels = np.asarray(train.labels)
    if labels.min() < 0:
        raise ValueError(f"{where}: argument 'train' has negative labels (min {labels.min()})")
    num_classes = int(labels.max()) + 1
    if test is not None and (test.labels.min() < 0 or test.labels.max() >= num_classes):
        raise ValueError(
            f"{where}: argument 'test' has labels outside the {num_classes} classes of 'train' "
            f"(0..{num_classes - 1}); got {test.labels.min()}..{test.labels.max()}"
        )

    digest = _digest(train, config)
    path = cache_dir() / "features" / f"{train.name}-{digest[:16]}.npz" if cache else None
    network, source, notes = None, "", []
    if path is not None and path.exists():
        candidate = _new_network(h * w, num_classes, config)
        why = _load(path, candidate, digest)
        if why is None:
            network, source = candidate, f"loaded from the feature cache ({path.name})"
        else:
            print(f"features: cache file {path} cannot be used ({why}); retraining over it")
    if network is None:
        network, seconds = _train(train, num_classes, config)
        source = f"trained here in {seconds:.1f} s"
        if path is not None:
            try:
                _save(path, network, digest, seconds)
                notes.append(f"saved to the feature cache ({path.name})")
            except OSError as err:
                notes.append(f"not cached ({type(err).__name__}: {err})")
                path = None
    extractor = FeatureExtractor(
        network,
        name=train.name,
        image_shape=(h, w),
        max_value=train.max_value,
        test_accuracy=None,
        digest=digest,
        source=source,
        cache_path=path,
    )
    if test is not None:
        extractor.test_accuracy = extractor.accuracy(test)
    print(extractor.describe() + "".join(f"; {note}" for note in notes))
    return extractor
