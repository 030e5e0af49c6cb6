"""What radiomics costs, and what it sees, on the prepared 4 mm grid against a 2 mm and a 1 mm texture grid.

    python -m perf.radiomics_spacing [--n 3] [--seed 5] [--data-dir DIR]

Renders `--n` real-size synthetic CTs (512 x 512 pixels of 0.5-0.75 mm, the real scans' slice mix), reads
each through the TCIA reader, prepares it with texture grids of 2 and 1 mm, and times pyradiomics per node
(tumour, liver; every feature class) on each grid. Also prints the grids' voxel counts and cache size, and
the tumour's HU sd on each grid beside the patient's rendered texture amplitude, so the cost of a finer grid
can be weighed against what it keeps. This is where `prepare.TEXTURE_SPACING_MM` was chosen.
"""
from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmark.data import synthetic
from benchmark.data.imaging import phantom, prepare
from benchmark.data.imaging.discovery import find_patients
from benchmark.data.imaging.tcia_reader import find_series, read_ct, read_seg
from benchmark.features import radiomics_features
from perf import print_machine_load

NODES = ("tumour", "liver")


def time_node(grid, mask, spacing_mm) -> tuple[float, dict]:
    start = time.perf_counter()
    features, _ = radiomics_features.node_radiomics(grid, mask, spacing_mm=spacing_mm)
    return time.perf_counter() - start, features or {}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--data-dir", type=Path, help="default: a fresh temporary directory")
    args = parser.parse_args(argv)
    radiomics_features.quiet_radiomics()
    with tempfile.TemporaryDirectory(prefix="radiomics-spacing-") as scratch:
        root = (args.data_dir or Path(scratch)) / "tree"
        drawn = synthetic.generate(args.n, seed=args.seed)
        if not root.exists():
            phantom.write_synthetic_tree(drawn, root, size="real", seed=args.seed)
        patients, _ = find_patients(root)
        print(f"{'patient':14s} {'grid':>6s} {'node':>7s} {'voxels':>9s} {'seconds':>8s} {'HU sd':>7s}")
        for pid, folder in sorted(patients.items()):
            files = find_series(folder)
            ct = read_ct(files.ct_dir)
            seg = read_seg(files.seg_file, ct)
            cases = {f"{mm:g} mm": prepare.prepare_case(pid, ct, seg, prepare.PrepareOptions(texture_spacing_mm=mm))
                     for mm in (2.0, 1.0)}
            grids = {"4 mm": (cases["2 mm"], None), **{k: (c.texture, c.texture.spacing[0]) for k, c in cases.items()}}
            for label, (grid, spacing_mm) in grids.items():
                for node in NODES:
                    seconds, features = time_node(grid, grid.masks[node], spacing_mm)
                    sd = features.get("original_firstorder_RootMeanSquared") and np.std(grid.volume[grid.masks[node]])
                    print(f"{pid:14s} {label:>6s} {node:>7s} {int(grid.masks[node].sum()):9d} {seconds:8.2f} "
                          f"{sd or float('nan'):7.1f}")
            for label, case in cases.items():
                buffer = io.BytesIO()
                case.save(buffer)
                print(f"{pid:14s} cache with a {label} texture grid: {len(buffer.getvalue()) / 1e6:.1f} MB")
            print(f"{pid:14s} rendered tumour texture amplitude {drawn.patients.loc[pid, 'tumour_texture_hu']:.1f} HU, "
                  f"CT pixels {ct.spacing[1]:.2f} mm, slices {ct.spacing[0]:.1f} mm")
    print_machine_load()


if __name__ == "__main__":
    main()
