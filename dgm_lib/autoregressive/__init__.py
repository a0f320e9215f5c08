"""Autoregressive models (the book's chapter "Autoregressive models"): the chain rule with
a parametrised conditional, one contract (:class:`AutoregressiveBernoulli`: ``conditionals``,
``log_prob``, ``sample(key, n, observed=None)``), one sampler (:func:`scan_sample`, a
``lax.scan`` whose per-step draw is an argument) and its models: independent pixels, a Markov
chain, FVSBN, NADE, RNADE, MADE, PixelCNN, a GRU and causal self-attention. Constructors that
draw initial values take ``rngs=nnx.Rngs(seed)``; ``log_prob`` is the density the model
defines (for a MADE, the ensemble of its orderings)."""

from .base import (
    AutoregressiveBernoulli,
    Recurrence,
    canvas_recurrence,
    check_observed,
    log_prob_from_logits,
    sample_autoregressive,
    scan_sample,
    teacher_forced_logits,
)
from .fvsbn import (
    FVSBN,
    IndependentBernoulli,
    MarkovChainBernoulli,
    fvsbn_logits,
    independent_logits,
    markov_chain_logits,
)
from .gru import GRUAutoregressive, GRUParams, gru_cell, gru_logits
from .made import (
    MADE,
    MNIST_BEST_HIDDEN_SIZES,
    MNIST_BEST_LEARNING_RATE,
    MNIST_BEST_NUM_MASKS,
    MNIST_HIDDEN_SIZES,
    made_loss,
)
from .nade import NADE, nade_logits, nade_preactivations
from .pixelcnn import (
    MASK_TYPES,
    PixelCNN,
    PixelCNNParams,
    masked_conv2d,
    pixelcnn_logits,
    pixelcnn_mask,
    receptive_field,
)
from .rnade import RNADE, log_prob_from_mixtures, rnade_mixtures
from .transformer import (
    CausalTransformer,
    TransformerParams,
    causal_mask,
    causal_self_attention,
    shift_right,
    transformer_logits,
)

__all__ = [
    "FVSBN",
    "MADE",
    "MASK_TYPES",
    "MNIST_BEST_HIDDEN_SIZES",
    "MNIST_BEST_LEARNING_RATE",
    "MNIST_BEST_NUM_MASKS",
    "MNIST_HIDDEN_SIZES",
    "NADE",
    "RNADE",
    "AutoregressiveBernoulli",
    "CausalTransformer",
    "GRUAutoregressive",
    "GRUParams",
    "IndependentBernoulli",
    "MarkovChainBernoulli",
    "PixelCNN",
    "PixelCNNParams",
    "Recurrence",
    "TransformerParams",
    "canvas_recurrence",
    "causal_mask",
    "causal_self_attention",
    "check_observed",
    "fvsbn_logits",
    "gru_cell",
    "gru_logits",
    "independent_logits",
    "log_prob_from_logits",
    "log_prob_from_mixtures",
    "made_loss",
    "markov_chain_logits",
    "masked_conv2d",
    "nade_logits",
    "nade_preactivations",
    "pixelcnn_logits",
    "pixelcnn_mask",
    "receptive_field",
    "rnade_mixtures",
    "sample_autoregressive",
    "scan_sample",
    "shift_right",
    "teacher_forced_logits",
    "transformer_logits",
]
