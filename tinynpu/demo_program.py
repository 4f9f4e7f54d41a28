"""The demo's user-space program: run compiled models on the device, batch by batch.

It runs inside the simulator (``tinynpu run`` runs it for ``tinynpu demo``). The host side
writes ``job.pkl`` into the run's directory: ``{"models": [(name, program, inputs)]}`` with
int8 inputs. This program writes ``results.pkl``: per model, the outputs, each batch's counter
records and simulated times; and ``progress``: samples done so far, for the progress bar.
"""

import pickle
from pathlib import Path

import numpy as np

from tinynpu.runtime.session import Session


def _progress(done, total, label):
    Path("progress.tmp").write_text(f"{done} {total} {label}\n")
    Path("progress.tmp").replace("progress")


async def main(system, args):
    """Run every model of ``job.pkl`` on its inputs; write ``results.pkl``."""
    job = pickle.loads(Path("job.pkl").read_bytes())
    client = system.open()
    total = sum(len(inputs) for _, _, inputs in job["models"])
    done, results = 0, {}
    for name, program, inputs in job["models"]:
        session = await Session(client, program, system.now_ns).open()
        outputs, batches = [], []
        for start in range(0, len(inputs), program.batch):
            result = await session.run(inputs[start : start + program.batch])
            outputs.append(result.output)
            batches.append(
                {
                    "samples": len(result.output),
                    "counters": result.counters,
                    "submitted_ns": result.submitted_ns,
                    "done_ns": result.done_ns,
                }
            )
            done += len(result.output)
            _progress(done, total, name)
        await session.close()
        results[name] = {"outputs": np.concatenate(outputs), "batches": batches}
    results["clock_ns"] = system.soc.clock_ns
    results["end_ns"] = system.now_ns()
    Path("results.pkl").write_bytes(pickle.dumps(results))
