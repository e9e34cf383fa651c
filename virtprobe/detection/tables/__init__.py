"""The detection tables: each fact once, consulted by the Linux, Windows and macOS probes alike.

- cpuid.py: hypervisor CPUID signatures (leaf 0x40000000) and the CPU brand strings of VMMs;
- dmi.py: DMI/SMBIOS strings (and macOS hw.model prefixes) that name a hypervisor or a VMM;
- clouds.py: the cloud rules (DMI strings, derived identifier prefixes, kernel command-line
  tokens, marker files, file-system labels), each citing where it comes from.

Adding a hypervisor or a cloud is one row here; docs/architecture.md says so.
"""
