"""What runs inside a guest or container: the ELF writer, the probe image, the initramfs."""
