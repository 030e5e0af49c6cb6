"""Performance scripts: they print figures (throughput, epoch times, peak memory), never assert them."""
import os


def print_machine_load() -> None:
    """Figures taken on a busy machine are inflated; every script ends by saying how busy it was."""
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"machine load      {load} (1/5/15 min; figures are inflated when load > CPUs)")
