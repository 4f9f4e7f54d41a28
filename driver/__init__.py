"""The tinynpu driver: it talks to the NPU only through a :class:`~driver.platform.Platform`.

What exists today: :func:`~driver.device.probe` (identity, version check, capabilities).
"""
