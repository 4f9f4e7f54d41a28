"""The microWakeWord models of ``pymicro-wakeword`` and realistic inputs for them.

``pymicro-wakeword`` (Apache-2.0, a development dependency) ships four streaming int8 models.
Each step takes three 10 ms frames of 40 audio features, quantized by the input tensor's scale
and zero point. :func:`feature_steps` makes such steps from a seeded synthetic signal (a chirp
over noise) through the package's own feature frontend, as a microphone's audio would go.
"""

from importlib import resources

import numpy as np

__all__ = ["MODELS", "feature_steps", "model_path"]

MODELS = ("alexa", "hey_jarvis", "hey_mycroft", "okay_nabu")
SAMPLE_RATE = 16_000
FRAMES_PER_STEP = 3
#: Each step's input: three frames of 40 features.
INPUT_SHAPE = (1, FRAMES_PER_STEP, 40)


def model_path(name):
    """The ``.tflite`` file of one of :data:`MODELS`.

    Raises
    ------
    FileNotFoundError
        If ``pymicro-wakeword`` is not installed or has no such model.
    """
    try:
        path = resources.files("pymicro_wakeword") / "models" / f"{name}.tflite"
    except ModuleNotFoundError:
        raise FileNotFoundError(
            f"{name}: the microWakeWord models come with pymicro-wakeword (pip install -e '.[dev]')"
        ) from None
    if not path.is_file():
        raise FileNotFoundError(f"pymicro-wakeword has no model {name!r}: one of {MODELS}")
    return path


def feature_steps(steps, scale, zero_point, seed=0):
    """``steps`` int8 inputs of shape ``(1, 3, 40)`` from a synthetic signal's audio features."""
    from pymicro_wakeword.microwakeword import MicroWakeWordFeatures

    rng = np.random.default_rng(seed)
    frontend = MicroWakeWordFeatures()
    frames = []
    while len(frames) < steps * FRAMES_PER_STEP:
        t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
        base = rng.uniform(150, 600)
        signal = 0.3 * np.sin(2 * np.pi * (base + rng.uniform(100, 900) * t) * t)
        signal += 0.05 * rng.standard_normal(SAMPLE_RATE)
        pcm = (np.clip(signal, -1, 1) * 32767).astype("<i2").tobytes()
        frames += list(frontend.process_streaming(pcm))
    out = []
    for step in range(steps):
        window = np.concatenate(frames[step * FRAMES_PER_STEP : (step + 1) * FRAMES_PER_STEP], 1)
        quantized = np.round(window / scale + zero_point)
        out.append([np.clip(quantized, -128, 127).astype(np.int8).reshape(INPUT_SHAPE)])
    return out
