"""Planning: a profile plus this machine's GPUs and ports becomes the processes to start."""
