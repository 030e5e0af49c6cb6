"""The defaults `--help` shows, shared with the code that applies them.

Kept free of heavy imports so the command line can name them before it loads pandas, torch or
scikit-survival: parsing (and every `--help`) takes a fraction of a second.
"""
import os
from pathlib import Path

FOLDS = 5
REPEATS = 5
SEED = 0
TRIALS = 20                                      # Optuna trials per cell with --tune
MODEL_SEEDS = 3                                  # `seeds`: model seeds 0..K-1
CI_REFERENCE = Path("results/reference/ci.json")   # `check`: the committed metrics a change is compared with
#: `capacity` and `inputs`: one large synthetic draw (3,000 patients) whose seed no table and no other study draws
LARGE_DRAW = "crlm-synthetic:n=3000,seed=200"


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and taskset narrow): every
    `-j` default, and the report's drawing workers."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
