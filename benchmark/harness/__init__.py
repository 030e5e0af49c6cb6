"""Running the benchmark: the cell plan and runner, compute backends, nested tuning, result files and
the CI regression guard."""
