"""The user-space program of ``tinynpu model run``: TFLite models invoked step by step.

It runs inside the simulator (``tinynpu run`` runs it). The host writes ``job.pkl``:
``{"models": [{"name", "data", "steps", "tensors"}]}`` with the model's bytes, a list of steps
(each a list of input arrays) and whether to keep every tensor of every step. The program
partitions each model for the device's array and stream limit (``DEV_QUERY``), loads it,
invokes it on each step and writes ``results.pkl``: per model, each step's outputs,
per-operator report, simulated nanoseconds and (if asked) every tensor; or the error that
stopped it.
"""

import pickle
from pathlib import Path

from tinynpu.driver.uapi import UapiError
from tinynpu.runtime.tflite_file import ModelError, read_tflite
from tinynpu.runtime.tflite_lower import plan_model
from tinynpu.runtime.tflite_session import TfliteSession


async def _run_model(client, entry, limits, now_ns):
    plan = plan_model(read_tflite(entry["data"]), *limits)
    session = await TfliteSession(client, plan, now_ns).open()
    steps = []
    try:
        for inputs in entry["steps"]:
            start = now_ns()
            outputs = await session.invoke(inputs)
            steps.append(
                {
                    "outputs": outputs,
                    "report": session.report,
                    "ns": now_ns() - start,
                    "tensors": await session.tensors() if entry.get("tensors") else None,
                }
            )
    finally:
        await session.close()
    return {"steps": steps, "error": None, "segments": len(plan.segments)}


async def main(system, args):
    """Run every model of ``job.pkl``; write ``results.pkl``."""
    job = pickle.loads(Path("job.pkl").read_bytes())
    client = system.open()
    query = await client.query()
    limits = query["array_size"], query["max_cmd_size"]
    results = []
    for entry in job["models"]:
        try:
            results.append(await _run_model(client, entry, limits, system.now_ns))
        except (ModelError, UapiError) as error:
            results.append({"steps": [], "error": f"{type(error).__name__}: {error}"})
    Path("results.pkl").write_bytes(
        pickle.dumps({"models": results, "clock_ns": system.soc.clock_ns})
    )
