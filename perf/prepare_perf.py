"""Speed and memory of generating and preparing the default synthetic imaging cohort.

    python -m perf.prepare_perf [--n 197] [--jobs 2] [--size small]

Prints the seconds to generate the synthetic DICOM tree, to prepare it (cold cache), to load it
again (warm cache, what every worker process pays), patients per second, and the peak resident
memory of this process and of this process plus its worker processes. Goal on 2 cores for the
197-patient default: generation + preparation under 3 minutes, under 4 GB.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from benchmark import datasets
from benchmark.datasets.tcia import load_tcia
from benchmark.harness.resources import measure
from perf import print_machine_load


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=197)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--size", default="small", choices=["small", "real"])
    parser.add_argument("--data-dir", type=Path, help="default: a fresh temporary directory")
    args = parser.parse_args(argv)
    spec = datasets.parse_spec(f"crlm-synthetic:n={args.n},size={args.size}")
    with tempfile.TemporaryDirectory(prefix="prepare-perf-") as scratch:
        data_dir = args.data_dir or Path(scratch)
        with measure(interval=0.2, with_workers=True) as usage:
            start = time.perf_counter()
            root = spec.ensure(data_dir, args.jobs)
            generated = time.perf_counter()
            cohort = load_tcia(root, spec.name, data_dir, args.jobs)
            prepared = time.perf_counter()
        warm_start = time.perf_counter()
        load_tcia(root, spec.name, data_dir, 1)
        warm = time.perf_counter() - warm_start
        tree_mb = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 2**20
    generate_s, prepare_s = generated - start, prepared - generated
    print_machine_load()
    print(f"cohort            {spec.name}: {args.n} patients, {args.size} images, {args.jobs} job(s), "
          f"{os.cpu_count()} CPU(s)")
    print(f"prepared          {len(cohort.images)} patients, {len(cohort.excluded)} excluded")
    print(f"DICOM tree        {tree_mb:.0f} MiB")
    print(f"generation        {generate_s:.1f} s  ({args.n / generate_s:.2f} patients/s)")
    print(f"prepare (cold)    {prepare_s:.1f} s  ({args.n / prepare_s:.2f} patients/s)")
    print(f"total             {generate_s + prepare_s:.1f} s  (goal < 180 s)")
    print(f"warm load         {warm:.2f} s  (goal < 2 s)")
    print(f"peak memory       {usage.peak_mb:.0f} MiB this process, {usage.peak_tree_mb:.0f} MiB with workers "
          "(goal < 4096)")


if __name__ == "__main__":
    main()
