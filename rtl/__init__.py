"""The NPU hardware, in Amaranth: configuration, register maps, blocks and the top level."""
