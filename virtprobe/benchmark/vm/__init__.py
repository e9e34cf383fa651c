"""VM baselines: guest kernels, QEMU, simulated profiles, and /dev/kvm driven directly."""
