"""`virtprobe detect`: every virtualization layer of a machine, with evidence."""
