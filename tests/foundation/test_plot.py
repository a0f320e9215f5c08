"""Tests of dgm_lib.plot on the Agg backend: each function draws what it was given, labels its
axes, and rejects arrays of the wrong shape with a message naming the function."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from dgm_lib import plot


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_image_grid_tiles_images_row_by_row_with_separators():
    images = np.random.default_rng(0).uniform(size=(5, 3, 4))
    ax = plot.image_grid(images, nrow=2, title="five images", pad_value=0.5)
    grid = np.asarray(ax.images[0].get_array())
    assert grid.shape == (3 * 3 + 2, 2 * 4 + 1)  # 3 rows of 2 images, 1-px lines between
    for i, image in enumerate(images):
        r, c = divmod(i, 2)
        np.testing.assert_allclose(grid[4 * r : 4 * r + 3, 5 * c : 5 * c + 4], image, rtol=1e-6)
    assert np.all(grid[3::4, :] == 0.5) and np.all(grid[:, 4] == 0.5)
    assert np.all(grid[8:, 5:] == 0.5)  # the empty sixth cell
    assert isinstance(ax.figure, Figure) and ax.get_title() == "five images"
    assert ax.images[0].get_cmap().name == "gray" and ax.images[0].get_clim() == (0.0, 1.0)


def test_image_grid_defaults_to_a_square_layout_and_accepts_binary_images():
    ax = plot.image_grid(np.ones((9, 2, 2), dtype=bool))
    assert np.asarray(ax.images[0].get_array()).shape == (3 * 2 + 2, 3 * 2 + 2)


def test_image_grid_draws_on_a_given_axes():
    _, ax = plt.subplots()
    assert plot.image_grid(np.zeros((2, 3, 3)), ax=ax) is ax


def test_density_2d_shows_exp_log_prob_with_x1_horizontal():
    def log_prob(x):  # asymmetric, so a transposed image would fail
        return -0.5 * x[:, 0] ** 2 - 0.1 * x[:, 1]

    ax = plot.density_2d(log_prob, lim=(-2.0, 3.0), n=7, title="a tilted bump")
    image = np.asarray(ax.images[0].get_array())
    ticks = np.linspace(-2.0, 3.0, 7)
    expected = np.exp(-0.5 * ticks[None, :] ** 2 - 0.1 * ticks[:, None])  # rows run over x2
    np.testing.assert_allclose(image, expected, rtol=1e-5)
    assert ax.images[0].origin == "lower" and ax.images[0].get_extent() == [-2.0, 3.0, -2.0, 3.0]
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title() == "a tilted bump"


def test_scatter_2d_plots_the_points_with_labelled_axes():
    x = np.random.default_rng(1).normal(size=(30, 2)).astype(np.float32)
    ax = plot.scatter_2d(x, label="data", lim=(-3.0, 3.0))
    plot.scatter_2d(x + 1, ax=ax, label="model")
    np.testing.assert_allclose(ax.collections[0].get_offsets(), x)
    np.testing.assert_allclose(ax.collections[1].get_offsets(), x + 1)
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_xlim() == (-3.0, 3.0)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["data", "model"]


def test_moving_average_matches_numpy_convolve():
    values = np.random.default_rng(2).normal(size=50)
    np.testing.assert_allclose(
        plot.moving_average(values, 7), np.convolve(values, np.ones(7) / 7, mode="valid"), atol=1e-6
    )


def test_loss_curve_draws_raw_smoothed_and_reference_lines():
    losses = np.random.default_rng(3).normal(3.0, 0.5, size=40).astype(np.float32)
    ax = plot.loss_curve(losses, smooth=5, label="train", reference=2.83, reference_label="H(p)")
    raw, smoothed, reference = ax.get_lines()
    np.testing.assert_allclose(raw.get_ydata(), losses)
    np.testing.assert_array_equal(smoothed.get_xdata(), np.arange(4, 40))
    np.testing.assert_allclose(
        smoothed.get_ydata(), np.convolve(losses, np.ones(5) / 5, mode="valid"), rtol=1e-6
    )
    assert raw.get_color() == smoothed.get_color()
    assert list(reference.get_ydata()) == [2.83, 2.83]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "H(p)"]
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "loss (nats)"


def test_loss_curve_without_smoothing_draws_one_line():
    ax = plot.loss_curve(jnp.arange(10.0), ylabel="NLL (nats)")
    assert len(ax.get_lines()) == 1 and ax.get_legend() is None
    assert ax.get_ylabel() == "NLL (nats)"


def _constant(x):
    return jnp.zeros((x.shape[0], 1))


BAD_ARGUMENTS = [
    (lambda: plot.image_grid(np.zeros((4, 4))), ValueError, r"image_grid.*'images'.*\(N, H, W\)"),
    (lambda: plot.image_grid(np.full((2, 3, 3), 255.0)), ValueError, "image_grid.*255"),
    (lambda: plot.image_grid(np.zeros((2, 3, 3)), nrow=0), ValueError, "image_grid.*'nrow'"),
    (lambda: plot.image_grid(np.zeros((0, 3, 3))), ValueError, "image_grid.*'images'"),
    (lambda: plot.density_2d(_constant, n=5), ValueError, r"density_2d.*'log_prob_fn\(x\)'"),
    (lambda: plot.density_2d(_constant, lim=(1.0, -1.0)), ValueError, "density_2d.*'lim'"),
    (lambda: plot.scatter_2d(np.zeros((5, 3))), ValueError, r"scatter_2d.*'x'.*\(N, 2\)"),
    (lambda: plot.loss_curve(np.zeros((5, 2))), ValueError, "loss_curve.*'losses'"),
    (lambda: plot.loss_curve(np.zeros(5), smooth=9), ValueError, "moving_average.*'window'"),
    (lambda: plot.moving_average(np.zeros(5), 0), ValueError, "moving_average.*'window'"),
]


@pytest.mark.parametrize(("call", "error", "message"), BAD_ARGUMENTS)
def test_bad_arguments_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
