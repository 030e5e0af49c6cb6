"""The one place the project imports DGL (docs/design.md §6): ``from benchmark.dgl_import import dgl``.

DGL 2.1.0's ``import dgl`` always loads its compiled graphbolt library, built only for torch
2.0-2.2; on torch 2.13 that load fails and takes the whole import down. When the library file for
the running torch is absent, an empty module stands in for ``dgl.graphbolt`` before the first
``import dgl``; heterographs, the nn modules, batching, readouts and save/load do not need it.
``dgl.graphbolt`` (and ``dgl.sparse``) stay unavailable. DGL also imports ``packaging`` and
``pandas`` without declaring them, both pinned in setup.cfg.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import types
from pathlib import Path

import torch


def graphbolt_library(torch_version: str = torch.__version__) -> Path | None:
    """The graphbolt library DGL would load for this torch, or None when DGL is not installed."""
    spec = importlib.util.find_spec("dgl")
    if spec is None or not spec.submodule_search_locations:
        return None
    version = torch_version.split("+", maxsplit=1)[0]
    return Path(spec.submodule_search_locations[0]) / "graphbolt" / f"libgraphbolt_pytorch_{version}.so"


def _stand_in_for_graphbolt() -> bool:
    """Register the empty ``dgl.graphbolt`` when its library is missing; True when it did."""
    if "dgl" in sys.modules or "dgl.graphbolt" in sys.modules:
        return False
    library = graphbolt_library()
    if library is None or library.exists():
        return False
    stand_in = types.ModuleType("dgl.graphbolt")
    stand_in.__doc__ = f"empty stand-in: {library.name} is not shipped for this torch (see benchmark.dgl_import)"
    sys.modules["dgl.graphbolt"] = stand_in
    return True


GRAPHBOLT_STAND_IN = _stand_in_for_graphbolt()
os.environ.setdefault("DGLBACKEND", "pytorch")  # silences the backend notice; torch is the only one

import dgl  # noqa: E402  (must follow the stand-in)
import dgl.function  # noqa: E402,F401
import dgl.nn.pytorch  # noqa: E402,F401

__all__ = ["dgl", "GRAPHBOLT_STAND_IN", "graphbolt_library"]
