"""dgm_lib: the library of the CS236 companion book on deep generative models.

Pure functions on arrays in the core modules (``probability``, ``metrics``, ``data``), thin
Flax NNX modules at the edges, one training loop (``train.fit``) and one plot style.
"""

from .book import glue, run_info, start_chapter
from .budgets import budget, pick

__all__ = ["budget", "glue", "pick", "run_info", "start_chapter"]
__version__ = "0.1.0"
