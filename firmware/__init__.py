"""Firmware for the NPU's control processor.

Empty so far: the control-processor bus and the firmware's job loop come with the command queue.
"""
