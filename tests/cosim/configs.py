"""The configurations the co-simulation tests run on."""

from tinynpu.rtl.config import NpuConfig

#: A small array on a 32-bit memory bus, and the defaults (N=8, 64-bit bus).
CONFIGS = {
    "n4": NpuConfig(
        array_size=4,
        mem_data_width=32,
        addr_spaces=2,
        tlb_entries=8,
        spad_in_bytes=4096,
        spad_wt_bytes=8192,
        spad_acc_bytes=32768,
        queue_depth=4,
    ),
    "n8": NpuConfig(),
}
