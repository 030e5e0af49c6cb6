"""What the node features cost, and what they see, on the prepared 4 mm grid against a 2 mm and a 1 mm texture grid.

    python -m perf.texture_grid [--n 3] [--seed 5] [--data-dir DIR]

Renders `--n` real-size synthetic CTs (512 x 512 pixels of 0.5-0.75 mm, the real scans' slice mix), reads
each through the TCIA reader, prepares it without a texture grid and with one of 2 and of 1 mm, and times the
radiomics of every node of the case (what a run pays per patient, on one core) and the CT encoder's features
of every node at the CPU input size and at 64^3. Also prints the tumour and liver voxel counts, the voxels
across the tumour's cube (what the encoder's input is interpolated from), the tumour's HU sd and the prepared
case's cache size on each grid, beside the patient's rendered texture amplitude, so the cost of a finer grid
can be weighed against what it keeps. This is where `prepare.TEXTURE_SPACING_MM` and the encoder's
`INPUT_SIZE` were chosen.
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
from benchmark.features.deep_features import Encoder
from benchmark.features.encoder_options import INPUT_SIZE, EncoderOptions
from perf import print_machine_load


def timed_extraction(case) -> tuple[float, dict]:
    """Seconds to extract every node's radiomics of one case, and the tumour node's features."""
    start = time.perf_counter()
    [features] = radiomics_features.extract_cases([case])
    tumour = features.values.get("tumour")
    return time.perf_counter() - start, dict(zip(features.names, tumour)) if tumour else {}


def timed_encoding(case, input_size: int) -> float:
    """Seconds to encode every node of one case (after a first call that builds the encoder)."""
    encoder = Encoder(EncoderOptions(input_size=input_size))
    encoder([case])
    start = time.perf_counter()
    encoder([case])
    return time.perf_counter() - start


def tumour_cube_voxels(grid) -> int:
    """Voxels across the tumour's bounding cube on a grid: what the encoder's input is interpolated from."""
    where = np.argwhere(grid.masks["tumour"])
    return int((where.max(0) - where.min(0) + 1).max()) if len(where) else 0


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
        sizes = (INPUT_SIZE, 64)
        print(f"{'patient':14s} {'grid':>6s} {'tumour voxels':>13s} {'across':>6s} {'liver voxels':>12s} "
              f"{'radiomics s':>11s} " + " ".join(f"{f'encoder s {n}^3':>14s}" for n in sizes)
              + f" {'tumour HU sd':>12s} {'cache MB':>8s}")
        for pid, folder in sorted(patients.items()):
            files = find_series(folder)
            ct = read_ct(files.ct_dir)
            seg = read_seg(files.seg_file, ct)
            cases = {"4 mm": prepare.prepare_case(pid, ct, seg, prepare.PrepareOptions(texture_spacing_mm=None)),
                     **{f"{mm:g} mm": prepare.prepare_case(pid, ct, seg, prepare.PrepareOptions(texture_spacing_mm=mm))
                        for mm in (2.0, 1.0)}}
            for label, case in cases.items():
                grid = case.texture or case
                seconds, tumour = timed_extraction(case)
                tumour_sd = np.sqrt(tumour.get("original_firstorder_Variance", np.nan))
                buffer = io.BytesIO()
                case.save(buffer)
                encoding = " ".join(f"{timed_encoding(case, n):14.2f}" for n in sizes)
                print(f"{pid:14s} {label:>6s} {int(grid.masks['tumour'].sum()):13d} {tumour_cube_voxels(grid):6d} "
                      f"{int(grid.masks['liver'].sum()):12d} {seconds:11.2f} {encoding} {tumour_sd:12.1f} "
                      f"{len(buffer.getvalue()) / 1e6:8.1f}")
            print(f"{pid:14s} rendered tumour texture amplitude {drawn.patients.loc[pid, 'tumour_texture_hu']:.1f} HU, "
                  f"CT pixels {ct.spacing[1]:.2f} mm, slices {ct.spacing[0]:.1f} mm")
    print_machine_load()


if __name__ == "__main__":
    main()
