"""`virtprobe bench`: container startup and memory, against VM baselines."""
