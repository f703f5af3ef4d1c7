"""``trtl bench``: measure a serving graph, or compare several, with aiperf as the load.

The stages, one module each:

- ``workload``: what load to send (lengths, the concurrency sweep, requests per level) and
  the aiperf command line for one level;
- ``loadgen``: running aiperf as a subprocess (offline, interruptible) and telling why it
  failed;
- ``figures``: the figures trtl reports, read from aiperf's artifacts;
- ``gpu_samples``: NVML samples of the graph's GPUs while a level runs;
- ``targets``: what to benchmark (a running deployment, a URL, or profiles to start);
- ``session``: the loop that starts each graph, sweeps it, and stops it whatever happens;
- ``summary``: the result (JSON, CSV, machine and versions) and the results directory;
- ``table`` and ``plots``: the comparison on the terminal and as PNG.

aiperf and matplotlib come with the ``trtl[bench]`` extra; nothing here imports them
before a benchmark runs.
"""

from __future__ import annotations

from trtl.launcher.bench.errors import BenchError

__all__ = ["BenchError"]
