"""GPUs: the NVML inventory, placement of replicas on GPUs, and per-process GPU usage."""
