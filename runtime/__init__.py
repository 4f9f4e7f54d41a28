"""Userspace: the quantized reference and (later) the runtime over the uAPI."""
