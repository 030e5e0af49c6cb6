"""Epoch time, throughput and memory of STG, STG-lite and the graph baselines beside the dense-matmul floor.

    python -m perf.stg_perf [--n 158] [--width 107] [--epochs 30] [--threads 1]
    python -m perf.stg_perf --data-dir DIR     # the real cohort's graphs (cached features)

One epoch = forward, backward and Adam step over the whole batched graph of n patients (what a
fit repeats), in training mode. The floor is what torch alone takes for the network's dense matrix
products: every product it computes in an epoch (linear, addmm, matmul, recorded as it runs, with
their real shapes), replayed as plain matmuls forward, and backward for the operands that need a
gradient. Both are medians over the epochs timed. What lies between the two is message passing,
dropout, the losses and the optimiser. Goal: each network's epoch within 1.5x of its floor. Without
--data-dir the node features are random with the CPU profile's width (107 radiomics features per
node): speed depends on shapes only.

"folds at once" is one epoch over the patients of --folds training folds in one graph against that many
epochs alone: the most that training a repeat's folds together (stacked parameters, one batched product
per layer) could save, since such a trainer does the same arithmetic on the same number of nodes.
"""
from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from benchmark import datasets, methods
from benchmark.data import synthetic
from benchmark.data.imaging.morphometry import LESION_COLUMNS
from benchmark.data.imaging.prepared import NODE_NAMES, geometry_columns
from benchmark.datasets.tcia import cohort_from_clinical
from benchmark.dgl_import import dgl
from benchmark.features import graphs
from benchmark.features.feature_table import NODE_COLUMNS, FeatureTable
from benchmark.harness.resources import measure
from benchmark.methods.inputs import Batch, GraphInputs, keep_node_types
from benchmark.methods.layers import n_trainable
from benchmark.methods.training import TrainConfig, objective
from perf import print_machine_load

#: Methods whose networks are timed, with their default parameters.
MODELS = ("stg", "stg-lite", "gcn", "gat", "sage", "mlp")


def random_inputs(n: int, width: int, seed: int = 0) -> tuple[FeatureTable, pd.DataFrame]:
    """Features and geometry of the contracts' schemas, random values (timing needs shapes only)."""
    rng = np.random.default_rng(seed)
    ids = pd.Index([f"P{i:04d}" for i in range(n)], name="patient_id")
    columns = pd.MultiIndex.from_tuples([(node, f"f{j}") for node in NODE_COLUMNS for j in range(width)])
    values = pd.DataFrame(rng.normal(size=(n, len(columns))), index=ids, columns=columns)
    present = pd.DataFrame(True, index=ids, columns=list(NODE_COLUMNS))
    geometry = pd.DataFrame(rng.uniform(1, 50, (n, len(geometry_columns()))), index=ids, columns=geometry_columns())
    for node in NODE_NAMES:
        geometry[f"{node}_present"] = 1.0
    return FeatureTable("radiomics", values, present, ["random features"]), geometry


def random_lesions(ids, seed: int = 0) -> pd.DataFrame:
    """1-4 lesions per patient (morphometry.LESION_COLUMNS), random geometry."""
    rng = np.random.default_rng(seed)
    owners = np.repeat(np.asarray(ids), rng.integers(1, 5, len(ids)))
    k = len(owners)
    table = pd.DataFrame({"segment": np.arange(k, dtype=float), "volume_ml": rng.lognormal(1, 1, k),
                          "centroid_z_mm": rng.normal(0, 40, k), "centroid_y_mm": rng.normal(0, 40, k),
                          "centroid_x_mm": rng.normal(0, 40, k), "portal_mm": rng.uniform(0, 40, k),
                          "hepatic_mm": rng.uniform(0, 40, k), "in_remnant": rng.integers(0, 2, k).astype(float),
                          "lobe_side": rng.choice([-1.0, 1.0], k)},
                         index=pd.Index(owners, name="patient_id"))
    return table[LESION_COLUMNS]


def fold(args) -> methods.FoldData:
    """A training fold of n patients with their graphs attached to the cohort."""
    if args.data_dir:
        cohort = datasets.load("crlm-synthetic", args.data_dir)
        ids = cohort.patient_ids[:args.n]
        return methods.FoldData(cohort, ids, "dfs", "preoperative", 0, args.data_dir)
    drawn = synthetic.generate(args.n, seed=0)
    cohort = cohort_from_clinical(drawn.clinical, "perf", None)
    table, geometry = random_inputs(args.n, args.width)
    table.values.index = table.present.index = geometry.index = cohort.patient_ids
    lesions = random_lesions(cohort.patient_ids)
    for with_lesions in (None, lesions):
        cohort.artefacts[graphs.artefact_name("radiomics", with_lesions is not None)] = graphs.build(
            cohort.patient_ids, table, geometry, with_lesions)
    return methods.FoldData(cohort, cohort.patient_ids, "dfs", "preoperative", 0)


def epoch_seconds(model: nn.Module, batch, epochs: int, config: TrainConfig) -> float:
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        optimiser.zero_grad()
        loss, _ = objective(model(batch.graph), batch, config)
        loss.backward()
        optimiser.step()

    model.train()
    step()   # warm-up
    return median_seconds(step, epochs)


def repeated(batch: Batch, k: int) -> Batch:
    """The patients of `batch` k times over in one batched graph (k folds' worth of patients)."""
    return Batch(dgl.batch([batch.graph] * k), batch.n * k, *(getattr(batch, f).repeat(k) for f in Batch.OUTCOMES))


def median_seconds(step, repeats: int) -> float:
    """The median time of `repeats` calls of `step`: on a shared machine single calls are slowed by
    neighbours, and the median is what a call takes when they are not."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


class DenseProducts(TorchFunctionMode):
    """Records every dense matrix product torch computes meanwhile: (rows, inner, columns) and whether each
    operand needs a gradient (what its backward computes)."""

    PRODUCTS = {"linear", "addmm", "mm", "matmul", "__matmul__"}

    def __init__(self):
        super().__init__()
        self.shapes: list[tuple[int, int, int, bool, bool]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        a, b = (args[1:3] if name == "addmm" else args[:2]) if name in self.PRODUCTS else (None, None)
        if a is not None and a.layout == b.layout == torch.strided:   # sparse products: DGL's message passing
            columns = b.shape[0] if name == "linear" else b.shape[-1]        # linear's weight is (out, in)
            self.shapes.append((a.numel() // a.shape[-1], a.shape[-1], columns, a.requires_grad, b.requires_grad))
        return func(*args, **(kwargs or {}))


def dense_products(model: nn.Module, batch) -> list[tuple[int, int, int, bool, bool]]:
    """The dense products of one forward pass (see DenseProducts)."""
    with DenseProducts() as recorder:
        model(batch.graph)
    return recorder.shapes


def floor_seconds(shapes, epochs: int) -> float:
    """Plain torch: the same products forward, and backward where the network needs gradients (the cost no
    graph library can beat)."""
    tensors = [(torch.randn(r, i, requires_grad=a_grad), torch.randn(i, o, requires_grad=b_grad))
               for r, i, o, a_grad, b_grad in shapes]

    def step():
        total = sum((a @ b).sum() for a, b in tensors)
        total.backward()

    step()
    return median_seconds(step, epochs)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=158, help="patients in the batch (a 5-fold training fold: 158)")
    parser.add_argument("--width", type=int, default=107, help="node feature width without --data-dir")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (fits use 1)")
    parser.add_argument("--data-dir", help="use the synthetic cohort's real graphs from this data directory")
    parser.add_argument("--folds", type=int, default=5, help="folds trained at once for that figure")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    data = fold(args)
    batches = {}
    for name in MODELS:
        method = methods.get(name)()
        source = next(r for r in method.inputs() if r.startswith("graphs_"))
        if source not in batches:
            inputs = GraphInputs(data.artefact(source)).fit(data)
            batches[source] = inputs, inputs.transform(data)
            graph = batches[source][1].graph
            print(f"{source:<17} {args.n} patient graphs, {graph.num_nodes()} nodes, {graph.num_edges()} edges, "
                  f"input widths {inputs.dims}; torch {torch.__version__}, {args.threads} thread(s), "
                  f"{os.cpu_count()} CPU(s)")
        inputs, batch = batches[source]
        model = method.build_network(inputs.dims, method.network_config(inputs.dims))
        batch = replace(batch, graph=keep_node_types(batch.graph, model.node_types))
        folds = repeated(batch, args.folds)
        with measure() as usage:
            seconds = epoch_seconds(model, batch, args.epochs, method.train_config())
        together = epoch_seconds(model, folds, args.epochs, method.train_config())
        model.train()
        floor = floor_seconds(dense_products(model, batch), args.epochs)
        print(f"{name:<9} epoch {seconds * 1e3:7.1f} ms  {args.n / seconds:8.0f} graphs/s  "
              f"floor {floor * 1e3:6.2f} ms  ratio {seconds / floor:6.1f}x (goal <= 1.5x)  "
              f"{args.folds} folds at once {args.folds * seconds / together:4.2f}x faster at most  "
              f"peak RSS {usage.peak_mb:.0f} MiB (+{usage.increase_mb:.0f})  params {n_trainable(model):,}")
    print_machine_load()


if __name__ == "__main__":
    main()
