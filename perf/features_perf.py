"""Throughput and memory of the node-feature extractors (radiomics, CT encoder) on the default cohort.

    python -m perf.features_perf [--n 197] [--jobs 1 2] [--data-dir DIR] [--only radiomics]

Prepares the synthetic cohort first (reused from --data-dir when it is there; not timed), then for
each extractor and each job count: a cold extraction into an empty cache (patients/s), a warm
rerun from that cache (what every later run and worker pays), and the peak resident memory of
this process and of its process tree. Goals on 2 cores for the 197-patient default: radiomics
under 3 min, the encoder under 2 min, warm reruns under 5 s.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from benchmark import datasets
from benchmark.features import artefacts, deep_features, radiomics_features  # noqa: F401 (their providers)
from benchmark.features.artefacts import BuildContext
from benchmark.features.encoder_options import EncoderOptions
from benchmark.harness.resources import measure
from perf import print_machine_load

#: artefact -> goal for a cold build of the default cohort (s); the encoder runs in one process, so -j
#: changes only the radiomics processes.
EXTRACTORS = {"radiomics": 180.0, "deep": 120.0}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=197)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--only", choices=sorted(EXTRACTORS), action="append")
    parser.add_argument("--data-dir", type=Path, help="where the prepared cohort is (or goes); default: temporary")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="features-perf-") as scratch:
        data_dir = args.data_dir or Path(scratch)
        cohort = datasets.load(datasets.parse_spec(f"crlm-synthetic:n={args.n}"), data_dir, max(args.jobs))
        n = len(cohort.images)
        print(f"cohort            {cohort.name}: {n} imaged patients, {os.cpu_count()} CPU(s)")
        print(f"encoder           {'; '.join(EncoderOptions().notes())}")
        for name in args.only or list(EXTRACTORS):
            provider, goal = artefacts.PROVIDERS[name].build, EXTRACTORS[name]
            for jobs in args.jobs if name == "radiomics" else [max(args.jobs)]:
                context = BuildContext(data_dir, jobs)
                cache = Path(scratch) / f"{name}-j{jobs}"
                with measure(interval=0.2, with_workers=True) as usage:
                    start = time.perf_counter()
                    table = provider(cohort, cache, {}, context)
                    cold = time.perf_counter() - start
                start = time.perf_counter()
                provider(cohort, cache, {}, context)
                warm = time.perf_counter() - start
                print(f"{name:<9} -j {jobs}    cold {cold:6.1f} s ({n / cold:5.2f} patients/s, goal < {goal:.0f} s)  "
                      f"warm {warm:4.2f} s (goal < 5 s)  peak {usage.peak_mb:.0f} MiB, "
                      f"{usage.peak_tree_mb:.0f} MiB with workers  "
                      f"[{table.values.shape[1]} features]")
        print_machine_load()


if __name__ == "__main__":
    main()
