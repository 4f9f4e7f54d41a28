"""The ``tinynpu`` command line.

::

    tinynpu verilog --array 8 --bus-width 64 -o npu.v   # Verilog of one configuration
    tinynpu regs -o build/docs                          # C header and register reference
    tinynpu docs                                        # reference pages in docs/reference
    tinynpu demo [--full] [--trace]                     # quantized models on the digits
    tinynpu run [--trace] SCRIPT [ARGS ...]             # a user-space program on the device
    tinynpu bench                                       # build and simulation speed
"""

import argparse
import re
import sys
from pathlib import Path

from tinynpu.rtl.config import PARAMETERS, NpuConfig

__all__ = ["main"]

# Command-line flag of each configuration parameter.
_FLAGS = {
    "array_size": "--array",
    "mem_data_width": "--bus-width",
    "addr_spaces": "--addr-spaces",
    "tlb_entries": "--tlb-entries",
    "spad_in_bytes": "--spad-in",
    "spad_wt_bytes": "--spad-wt",
    "spad_acc_bytes": "--spad-acc",
    "queue_depth": "--queue-depth",
}

_SIZE = re.compile(r"(?i)^(\d+)\s*(k|kib|m|mib)?$")


def _size(text):
    """Parse a byte count: ``4096``, ``16k``, ``16KiB``, ``1m``."""
    match = _SIZE.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 16384 or 16k)")
    scale = {None: 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20}
    return int(match[1]) * scale[match[2] and match[2].lower()]


def _add_config_options(parser):
    group = parser.add_argument_group("configuration")
    defaults = NpuConfig()
    for name, flag in _FLAGS.items():
        _, what = PARAMETERS[name]
        kind = _size if name.endswith("_bytes") else int
        group.add_argument(
            flag,
            dest=name,
            type=kind,
            default=getattr(defaults, name),
            metavar="BYTES" if kind is _size else "N",
            help=f"{what} (default {getattr(defaults, name)})",
        )


def _config(args):
    return NpuConfig(**{name: getattr(args, name) for name in _FLAGS})


def _cmd_verilog(args):
    from tinynpu.sim.build import emit_verilog

    text = emit_verilog(_config(args))
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}", file=sys.stderr)


def _cmd_regs(args):
    from tinynpu.rtl.regmap.export import export_all

    for path in export_all(args.output):
        print(path)


def _cmd_docs(args):
    from .docgen import write_reference

    for path in write_reference(args.output):
        print(path)


def _cmd_demo(args):
    from .demo import run_demo

    samples = None if args.full else args.samples
    ok = run_demo(
        _config(args), models=args.model, samples=samples, batch=args.batch, trace=args.trace
    )
    if not ok:
        sys.exit(1)


def _cmd_run(args):
    from .run import run_script

    if not Path(args.script).is_file():
        print(f"tinynpu: error: {args.script}: no such program file", file=sys.stderr)
        sys.exit(2)
    run_script(_config(args), args.script, args.args, trace=args.trace)


def _positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def _cmd_bench(args):
    from .bench import run_bench
    from .bench_compute import run_compute_bench

    run_bench(_config(args))
    run_compute_bench()


def main(argv=None):
    """Entry point of the ``tinynpu`` console script."""
    parser = argparse.ArgumentParser(prog="tinynpu", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    verilog = commands.add_parser("verilog", help="write the Verilog of one configuration")
    _add_config_options(verilog)
    verilog.add_argument("-o", "--output", default="-", help="output file (default: stdout)")
    verilog.set_defaults(run=_cmd_verilog)

    regs = commands.add_parser("regs", help="write the C header and register reference")
    regs.add_argument("-o", "--output", default="build/docs", help="directory (build/docs)")
    regs.set_defaults(run=_cmd_regs)

    docs = commands.add_parser("docs", help="write the reference pages (registers, commands, uAPI)")
    docs.add_argument("-o", "--output", default="docs/reference", help="directory (docs/reference)")
    docs.set_defaults(run=_cmd_docs)

    from .demo import DEFAULT_SAMPLES, MODELS

    demo = commands.add_parser("demo", help="classify handwritten digits on the simulated NPU")
    demo.add_argument(
        "--model", action="append", choices=sorted(MODELS), help="run only this model (repeatable)"
    )
    demo.add_argument(
        "--samples",
        type=_positive,
        default=DEFAULT_SAMPLES,
        help=f"test images to run (default {DEFAULT_SAMPLES})",
    )
    demo.add_argument("--full", action="store_true", help="run the whole test split")
    demo.add_argument("--batch", type=_positive, default=64, help="images per job (default 64)")
    demo.add_argument("--trace", action="store_true", help="write the decoded trace and timeline")
    _add_config_options(demo)
    demo.set_defaults(run=_cmd_demo)

    run = commands.add_parser("run", help="run a user-space program on the simulated device")
    run.add_argument("script", help="a Python file defining `async def main(system, args)`")
    run.add_argument(
        "args", nargs=argparse.REMAINDER, help="passed to main as a list (options go before SCRIPT)"
    )
    run.add_argument("--trace", action="store_true", help="write the decoded trace and timeline")
    _add_config_options(run)
    run.set_defaults(run=_cmd_run)

    bench = commands.add_parser("bench", help="measure build and simulation speed")
    _add_config_options(bench)
    bench.set_defaults(run=_cmd_bench)

    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (TypeError, ValueError) as error:
        if args.command in ("verilog", "demo", "run", "bench") and _is_config_error(error):
            parser.exit(2, f"tinynpu: error: {error}\n")
        raise


def _is_config_error(error):
    return str(error).startswith("Parameter ")


if __name__ == "__main__":
    main()
