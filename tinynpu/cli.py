"""The ``tinynpu`` command line.

Building the parser imports only the standard library and :mod:`tinynpu.rtl.config` (itself
standard library only), so ``--help`` and ``--version`` answer at once; each command imports
what it needs (Amaranth, SystemRDL, cocotb, Verilator) when it runs.
"""

import argparse
import dataclasses
import re
import sys
from pathlib import Path

import tinynpu
from tinynpu.rtl.config import PARAMETERS, NpuConfig

__all__ = ["build_parser", "main"]

DESCRIPTION = """\
A register-level simulator of a generic NPU, with its firmware and a Linux-accel-style driver.

The commands that build or simulate the design (verilog, demo, run, bench) take configuration
flags (--array, --bus-width, ...; see 'tinynpu verilog --help'). Each configuration is
elaborated and compiled with Verilator once, then cached under the build root."""

EPILOG = """\
examples:
  tinynpu verilog --array 8 --bus-width 64 -o npu.v  Verilog of one configuration
  tinynpu regs                                       C headers, register reference (build/docs)
  tinynpu docs                                       reference pages (docs/reference)
  tinynpu demo --full --trace                        both models on the whole test split
  tinynpu demo --model cnn --array 16                one model on a 16 x 16 array
  tinynpu run --trace examples/copy_job.py Hello     a user-space program on the device
  tinynpu model info okay_nabu                       a TFLite model's partition
  tinynpu model run okay_nabu --steps 5 --compare    its steps, checked against TFLite Micro
  tinynpu bench                                      build and simulation speed
  tinynpu bench --array 16 --bus-width 128           the same, of one configuration only

environment:
  WAVES=1            record an FST waveform of every simulation, dump.fst in its run
                     directory (demo: <build root>/<config>/demo/, run:
                     <build root>/<config>/run-<script>/); simulations then use a second
                     Verilator build, with tracing, and run slower. bench refuses it.
  TINYNPU_BUILD_DIR  root of generated files: Verilator builds, run directories, the
                     default output of regs and docs (default: build/ of the checkout the
                     package runs from, else ./build)
  CXX, CC            compilers for WAVES=1 builds where the system has no LZ4: CXX looks
                     for <lz4.h>, CC compiles the bundled fallback (default c++, cc)
  BENCH_*            workload sizes of bench (see 'tinynpu bench --help')"""

BENCH_EPILOG = """\
Without configuration flags the job figures are of the default configuration and the
compute figures of several array sizes (tinynpu.bench_compute.CONFIGS); with any
configuration flag, both are of that one configuration. The demo then runs on it, and a
last table gives every phase's simulation speed as a ratio to the idle rate of its build.

environment (defaults in tinynpu/bench_tb.py and bench_compute_tb.py):
  BENCH_SEED         seed of the compute workloads' random operands
  BENCH_IDLE_CYCLES  clock cycles of the idle-simulation figure
  BENCH_COMPUTE_IDLE_CYCLES
                     the same, in each compute configuration's run
  BENCH_MMIO_READS   back-to-back MMIO reads timed
  BENCH_NOP_JOBS     NOP jobs submitted back to back"""

# Command-line flag of each configuration parameter; tests/test_cli.py checks that the keys are
# rtl.config.PARAMETERS, in order. Descriptions, ranges and defaults are read from rtl.config.
_FLAGS = {
    "array_size": "--array",
    "mem_data_width": "--bus-width",
    "addr_spaces": "--addr-spaces",
    "tlb_entries": "--tlb-entries",
    "spad_in_bytes": "--spad-in",
    "spad_wt_bytes": "--spad-wt",
    "spad_acc_bytes": "--spad-acc",
    "queue_depth": "--queue-depth",
    "dma_queue_depth": "--dma-queue-depth",
}

# The demo's model names and default image count, restated because importing tinynpu.demo pulls
# in numpy, the runtime and the simulator; tests/test_cli.py checks them against
# tinynpu.runtime.digits.MODELS and tinynpu.demo.DEFAULT_SAMPLES.
_DEMO_MODELS = ("cnn", "mlp")
_DEMO_SAMPLES = 192
# The bundled microWakeWord models, restated for the same reason (checked against
# tinynpu.wakeword.MODELS).
_WAKEWORDS = "alexa, hey_jarvis, hey_mycroft, okay_nabu"

_SIZE = re.compile(r"(?i)^(\d+)\s*(k|kib|m|mib)?$")


def _size(text):
    """Parse a byte count: ``4096``, ``16k``, ``16KiB``, ``1m``."""
    match = _SIZE.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 16384 or 16k)")
    scale = {None: 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20}
    return int(match[1]) * scale[match[2] and match[2].lower()]


def _positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def _config_defaults():
    """Default value of each configuration parameter, from :class:`NpuConfig`."""
    return {field.name: field.default for field in dataclasses.fields(NpuConfig)}


def _add_config_options(parser):
    group = parser.add_argument_group(
        "configuration",
        "Parameters of the elaborated design; sizes take a k, KiB, m or MiB suffix.\n"
        "A combination the design cannot hold is refused.",
    )
    defaults = _config_defaults()
    for name, flag in _FLAGS.items():
        allowed, what = PARAMETERS[name]
        kind = _size if name.endswith("_bytes") else int
        # None, not the default: `bench` must tell a flag given from one left out.
        group.add_argument(
            flag,
            dest=name,
            type=kind,
            default=None,
            metavar="BYTES" if kind is _size else "N",
            help=f"{what}: {allowed.describe()} (default {defaults[name]})",
        )


def _config_given(args):
    """Whether any configuration flag was given on the command line."""
    return any(getattr(args, name) is not None for name in _FLAGS)


def _config(args):
    """The :class:`NpuConfig` of the configuration flags, defaults for those not given.

    Raises
    ------
    TypeError, ValueError
        From :class:`NpuConfig`, if the configuration is not valid.
    """
    given = {name: getattr(args, name) for name in _FLAGS if getattr(args, name) is not None}
    return NpuConfig(**given)


def _checkout():
    """The source checkout this package runs from (an editable install), or ``None``."""
    root = Path(tinynpu.__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() else None


def _build_root():
    from tinynpu.sim import build  # Amaranth and cocotb: only once a command runs

    return build.build_root()


def _default_docs_dir():
    """``docs/reference`` of the checkout when run inside it, else under the build root."""
    checkout = _checkout()
    if checkout is not None and Path.cwd().resolve().is_relative_to(checkout):
        return checkout / "docs" / "reference"
    return _build_root() / "docs" / "reference"


def _cmd_verilog(args):
    from tinynpu.sim.build import elaborate

    # The build cache's copy: elaborated once per configuration and source, as for simulation.
    text = elaborate(args.config).read_text()
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}", file=sys.stderr)


def _cmd_regs(args):
    from tinynpu.rtl.regmap.export import export_all

    for path in export_all(args.output or _build_root() / "docs"):
        print(path)


def _cmd_docs(args):
    from .docgen import write_reference

    for path in write_reference(args.output or _default_docs_dir()):
        print(path)


def _cmd_demo(args):
    from .demo import run_demo

    options = {}
    if args.full:
        options["samples"] = None
    elif args.samples is not None:
        options["samples"] = args.samples
    # A model named twice would run twice under one name; run it once.
    models = list(dict.fromkeys(args.model)) if args.model else None
    ok = run_demo(args.config, models=models, batch=args.batch, trace=args.trace, **options)
    if not ok:
        sys.exit(1)


def _cmd_run(args):
    from .run import run_script

    if not Path(args.script).is_file():
        _fail(f"{args.script}: no such program file")
    run_script(args.config, args.script, args.args, trace=args.trace)


def _cmd_model(args):
    from tinynpu.runtime.tflite_file import ModelError

    from .model_cmd import model_info, model_run

    try:
        if args.action == "info":
            model_info(args.config, args.file)
            return
        ok = model_run(
            args.config,
            args.file,
            steps=args.steps,
            input_file=args.input,
            features=args.features,
            compare=args.compare,
            seed=args.seed,
        )
    except (FileNotFoundError, ModelError, ValueError) as error:
        _fail(str(error))
    if not ok:
        sys.exit(1)


def _cmd_bench(args):
    from tinynpu.sim.runner import waves_requested

    if waves_requested():
        # Traced figures would be several times slower and the job part's dump.fst is deleted
        # with its scratch cache: refuse rather than report misleading numbers.
        _fail("bench measures simulation speed; unset WAVES (tracing slows the simulation)")
    from .bench import run_bench, speed_summary
    from .bench_compute import run_compute_bench
    from .demo import run_demo

    figures = run_bench(args.config)
    rows = run_compute_bench(*([[args.config]] if _config_given(args) else []))
    print(f"demo on {args.config.slug} (its report: tinynpu demo):")
    demo = run_demo(args.config, out=lambda line: None, progress=False)
    print(
        f"  simulation wall time {demo.wall_s:.1f} s, {demo.cycles:,} cycles, outputs exact: "
        f"{'yes' if demo.exact else 'NO'}"
    )
    speed_summary(figures, rows, demo)


def _fail(message):
    """Print ``tinynpu: error: message`` and exit with status 2 (a usage error)."""
    print(f"tinynpu: error: {message}", file=sys.stderr)
    sys.exit(2)


def build_parser():
    """Return the argument parser of the ``tinynpu`` command.

    Returns
    -------
    argparse.ArgumentParser
        The parser; each command's namespace has ``run``, the function that carries it out.
    """
    parser = argparse.ArgumentParser(
        prog="tinynpu",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tinynpu {tinynpu.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, summary, **kwargs):
        return commands.add_parser(
            name,
            help=summary,
            description=summary[0].upper() + summary[1:] + ".",
            formatter_class=argparse.RawDescriptionHelpFormatter,
            **kwargs,
        )

    verilog = command("verilog", "write the Verilog of one configuration")
    _add_config_options(verilog)
    verilog.add_argument("-o", "--output", default="-", help="output file (default: stdout)")
    verilog.set_defaults(run=_cmd_verilog)

    regs = command("regs", "write the C headers and register reference")
    regs.add_argument("-o", "--output", type=Path, help="directory (default: <build root>/docs)")
    regs.set_defaults(run=_cmd_regs)

    docs = command("docs", "write the reference pages (registers, commands, uAPI)")
    docs.add_argument(
        "-o",
        "--output",
        type=Path,
        help="directory (default: docs/reference of the checkout when run inside it, else "
        "<build root>/docs/reference)",
    )
    docs.set_defaults(run=_cmd_docs)

    demo = command("demo", "classify handwritten digits on the simulated NPU")
    demo.add_argument(
        "--model",
        action="append",
        choices=_DEMO_MODELS,
        help="run only this model (repeatable; default: all)",
    )
    # None, not the default: argparse counts an option as given only if its value is not the
    # default object, and small ints are shared, so `--full --samples 192` would pass.
    how_many = demo.add_mutually_exclusive_group()
    how_many.add_argument(
        "--samples", type=_positive, help=f"test images to run (default {_DEMO_SAMPLES})"
    )
    how_many.add_argument("--full", action="store_true", help="run the whole test split")
    demo.add_argument("--batch", type=_positive, default=64, help="images per job (default 64)")
    demo.add_argument("--trace", action="store_true", help="write the decoded trace and timeline")
    _add_config_options(demo)
    demo.set_defaults(run=_cmd_demo)

    run = command("run", "run a user-space program on the simulated device")
    run.add_argument("script", help="a Python file defining `async def main(system, args)`")
    run.add_argument(
        "args", nargs=argparse.REMAINDER, help="passed to main as a list (options go before SCRIPT)"
    )
    run.add_argument("--trace", action="store_true", help="write the decoded trace and timeline")
    _add_config_options(run)
    run.set_defaults(run=_cmd_run)

    model = command("model", "partition and run a TFLite int8 model on the simulated NPU")
    actions = model.add_subparsers(dest="action", required=True, metavar="ACTION")
    info = actions.add_parser("info", help="where each operator runs, its MACs and sizes")
    info.add_argument("file", help=f"a .tflite file, or a microWakeWord model: {_WAKEWORDS}")
    _add_config_options(info)
    run_model = actions.add_parser(
        "run", help="invoke it step by step; report each operator's cycles and traffic"
    )
    run_model.add_argument("file", help=f"a .tflite file, or a microWakeWord model: {_WAKEWORDS}")
    given = run_model.add_mutually_exclusive_group()
    given.add_argument(
        "--input", type=Path, help=".npy of one input, or of one per step (default: random)"
    )
    given.add_argument(
        "--features",
        action="store_true",
        help="microWakeWord inputs: the audio features of a seeded synthetic signal",
    )
    run_model.add_argument("--steps", type=_positive, default=1, help="invocations (default 1)")
    run_model.add_argument("--seed", type=int, default=0, help="seed of the inputs")
    run_model.add_argument(
        "--compare", action="store_true", help="check every tensor against TFLite Micro"
    )
    _add_config_options(run_model)
    for parser_ in (info, run_model):
        parser_.set_defaults(run=_cmd_model)

    bench = command(
        "bench",
        "measure build and simulation speed, job overhead, DMA, MMU and compute figures",
        epilog=BENCH_EPILOG,
    )
    _add_config_options(bench)
    bench.set_defaults(run=_cmd_bench)
    return parser


def main(argv=None):
    """Entry point of the ``tinynpu`` console script.

    Parameters
    ----------
    argv : list of str, optional
        The arguments; ``sys.argv[1:]`` by default.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if hasattr(args, "array_size"):  # a command with configuration flags
        # Checked before the command imports anything: one line, and only for this error.
        try:
            args.config = _config(args)
        except (TypeError, ValueError) as error:
            _fail(str(error))
    args.run(args)


if __name__ == "__main__":
    main()
