"""Where probes read from: the live machine or a captured root, CPUID, and the KVM ioctl API."""
