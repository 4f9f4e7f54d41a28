"""What the host registers must read, written down independently of the RTL.

The capability table is the test's own: it does not use the RDL ``param`` property that the RTL
uses to drive the fields, so a field wired to the wrong parameter fails.
"""

from tinynpu.rtl.regmap import HOST, Kind

#: Physical address width of the mem port: 40 bits, as LPAE output addresses.
MEM_ADDR_BITS = 40

#: (register, field) -> the value it must report, from the configuration.
CAPABILITIES = {
    ("cap_array", "n"): lambda c: c.array_size,
    ("cap_mem", "data_width"): lambda c: c.mem_data_width,
    ("cap_mem", "addr_width"): lambda c: MEM_ADDR_BITS,
    ("cap_mmu", "addr_spaces"): lambda c: c.addr_spaces,
    ("cap_mmu", "tlb_entries"): lambda c: c.tlb_entries,
    ("cap_mmu", "va_width"): lambda c: 39,
    ("cap_queue", "depth"): lambda c: c.queue_depth,
    ("cap_queue", "ring_log2_min"): lambda c: 1,
    ("cap_queue", "ring_log2_max"): lambda c: 12,
    ("cap_spad_in", "bytes"): lambda c: c.spad_in_bytes,
    ("cap_spad_wt", "bytes"): lambda c: c.spad_wt_bytes,
    ("cap_spad_acc", "bytes"): lambda c: c.spad_acc_bytes,
    ("cap_dma", "queue_depth"): lambda c: c.dma_queue_depth,
}


#: (register, field) -> what the other hardware-driven fields read after reset, with no
#: firmware running: nothing fetched, nothing done, the firmware not ready.
STATUS_AFTER_RESET = {
    ("fw_status", "ready"): 0,
    ("fw_version", "major"): 0,
    ("fw_version", "minor"): 0,
    ("fw_version", "patch"): 0,
    ("ring_head", "index"): 0,
    ("ring_done", "index"): 0,
    ("ring_status", "error"): 0,
    ("ring_status", "fifo"): 0,
    ("ring_status", "empty_doorbells"): 0,
    ("mmu_fault_pending", "aspaces"): 0,
    ("tlb_inv_status", "busy"): 0,
    ("tlb_inv_status", "count"): 0,
    ("mmu_tlb_hits", "count"): 0,
    ("mmu_tlb_misses", "count"): 0,
    ("mmu_walk_reads", "count"): 0,
    # Performance counters: nothing has run (RUNNING ones count every cycle, checked apart).
    **{(reg.name, "count"): 0 for reg in HOST if reg.name.startswith("perf_")},
}

#: Counters that count every cycle, idle or not: their value depends on when they are read.
RUNNING = {"perf_cycles", "perf_array_idle"}

#: The same for each address space's bank, by local register name: no fault recorded.
BANK_STATUS_AFTER_RESET = {
    ("fault_status", "kind"): 0,
    ("fault_status", "table_level"): 0,
    ("fault_status", "access"): 0,
    ("fault_status", "count"): 0,
    ("fault_addr_lo", "addr"): 0,
    ("fault_addr_hi", "addr"): 0,
}


def implemented(reg, config):
    """Whether the hardware has ``reg``: address-space banks exist up to ``addr_spaces``."""
    return reg.bank is None or reg.bank[1] < config.addr_spaces


def expected_reset(reg, config):
    """The value ``reg`` must read right after reset (``None`` for the :data:`RUNNING` ones)."""
    if reg.name in RUNNING:
        return None
    value = 0
    if not implemented(reg, config):
        return 0
    for field in reg.fields:
        if field.kind in (Kind.CONST, Kind.RW, Kind.W1C):
            value |= field.reset << field.lsb
        elif field.kind is Kind.RO and reg.name == "int_status":
            pass  # nothing pending after reset
        elif (reg.name, field.name) in STATUS_AFTER_RESET:
            value |= STATUS_AFTER_RESET[(reg.name, field.name)] << field.lsb
        elif reg.bank is not None and (reg.local, field.name) in BANK_STATUS_AFTER_RESET:
            value |= BANK_STATUS_AFTER_RESET[(reg.local, field.name)] << field.lsb
        elif field.kind is Kind.RO:
            value |= CAPABILITIES[(reg.name, field.name)](config) << field.lsb
    return value


def rw_mask(reg):
    """Bits of ``reg`` that software writes and reads back."""
    return sum(f.mask for f in reg.fields if f.kind is Kind.RW)


def constant_bits(reg):
    """Value of ``reg``'s constant fields."""
    return sum(f.reset << f.lsb for f in reg.fields if f.kind is Kind.CONST)


ALL_SOURCES = HOST.int_raw_status.mask
