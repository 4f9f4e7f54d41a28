"""The layering of tinynpu, as import rules every module of every layer obeys.

The layers, bottom up, and what each may import:

* the shared ABI modules (``tinynpu.rtl.layouts``, ``.pte``, ``.localmap`` and the register maps
  ``tinynpu.rtl.regmap``): the contract hardware and software share. They import only each
  other, the RTL configuration, the standard library, Amaranth's layout vocabulary
  (``amaranth.lib.data``, ``amaranth.lib.enum``, ``Shape``, ``signed``, ``unsigned``) and
  ``systemrdl``, which compiles the register maps. ``tinynpu.rtl.regmap.block`` (the generated
  register block), ``.bind`` (its wiring to layouts) and ``.export`` (C header and Markdown)
  live beside the register maps but are not ABI;
* ``tinynpu.rtl.config``: plain parameters, the standard library only;
* the RTL (every other ``tinynpu.rtl`` module): hardware, Amaranth and the register-map tools;
  no software, no cocotb;
* the firmware: its own package and the ABI modules; its bus is ``tinynpu.firmware.bus``;
* the driver: its own package, the ABI modules and the layout vocabulary; never cocotb, the
  simulator or an RTL component;
* the runtime: only the uAPI (``tinynpu.driver.uapi``) and the layouts, numpy and what its
  models need (scikit-learn, threadpoolctl, the ``tflite`` schema);
* the simulator: anything but the applications;
* the applications (``tinynpu/``: cli, demo, run, bench, docgen): anything.

Every ``import`` of every module counts, including those inside functions. An imported name is
checked against its layer's rule: the longest matching prefix decides, so ``may_not`` entries
carve exceptions out of a shorter ``may`` entry, and a name matching nothing is refused.
"""

import ast
import importlib.metadata
import importlib.util
import subprocess
import sys
import sysconfig
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]

#: Which folder of the checkout holds which package.
FOLDERS = {
    "rtl": "tinynpu.rtl",
    "sim": "tinynpu.sim",
    "driver": "tinynpu.driver",
    "firmware": "tinynpu.firmware",
    "runtime": "tinynpu.runtime",
    "tinynpu": "tinynpu",
}

STDLIB = "<the standard library>"
ANYTHING = "<any package>"

#: The shared ABI modules (a package stands for its modules, but for those in NOT_ABI).
ABI = ("tinynpu.rtl.layouts", "tinynpu.rtl.pte", "tinynpu.rtl.localmap", "tinynpu.rtl.regmap")
#: Modules inside the ABI packages that are not ABI, and what they are.
NOT_ABI = {
    "tinynpu.rtl.regmap.block": "an RTL component",  # the generated register block
    "tinynpu.rtl.regmap.bind": "an RTL component",  # wires register fields to layout members
    "tinynpu.rtl.regmap.export": "the register-map exporter",
}
CONFIG = "tinynpu.rtl.config"
#: What describes a layout: the ABI's Amaranth vocabulary, no hardware construct.
LAYOUT_VOCABULARY = ("amaranth.lib.data", "amaranth.lib.enum")
SHAPES = ("amaranth.hdl.Shape", "amaranth.hdl.signed", "amaranth.hdl.unsigned")
SIMULATOR_LIBRARIES = ("cocotb", "cocotbext", "cocotb_tools")
LAYER_PACKAGES = tuple(p for p in FOLDERS.values() if p != "tinynpu")


@dataclass(frozen=True)
class Layer:
    subject: str  # in a message: "<subject> may import ..."
    kind: str  # one of its modules, in a message: "imports tinynpu.rtl.dma (<kind>)"
    may: tuple[str, ...]
    may_not: tuple[str, ...] = ()


# fmt: off
RULES = {
    "abi": Layer(
        "a shared ABI module", "a shared ABI module",
        may=(STDLIB, *ABI, CONFIG, *LAYOUT_VOCABULARY, *SHAPES, "systemrdl"),
        may_not=(*NOT_ABI, "tinynpu", *SIMULATOR_LIBRARIES),
    ),
    "config": Layer(
        "the RTL configuration", "the RTL configuration",
        may=(STDLIB,),
        may_not=("tinynpu", "amaranth", *SIMULATOR_LIBRARIES),
    ),
    "rtl": Layer(
        "the RTL", "an RTL component",
        may=(STDLIB, "tinynpu.rtl", "amaranth", "systemrdl", "peakrdl_cheader", "peakrdl_markdown"),
        may_not=("tinynpu", *SIMULATOR_LIBRARIES),
    ),
    "firmware": Layer(
        "the firmware", "a firmware module",
        may=(STDLIB, "tinynpu.firmware", *ABI),
        may_not=(*NOT_ABI, "tinynpu", *SIMULATOR_LIBRARIES),
    ),
    "driver": Layer(
        "the driver", "a driver module",
        may=(STDLIB, "tinynpu.driver", *ABI, *LAYOUT_VOCABULARY),
        may_not=(*NOT_ABI, "tinynpu", *SIMULATOR_LIBRARIES),
    ),
    "runtime": Layer(
        "the runtime", "a runtime module",
        may=(STDLIB, "tinynpu.runtime", "tinynpu.driver.uapi", "tinynpu.rtl.layouts",
             "numpy", "sklearn", "threadpoolctl", "tflite"),
        may_not=("tinynpu", *SIMULATOR_LIBRARIES),
    ),
    "sim": Layer(
        "the simulator", "a simulator module",
        may=(ANYTHING, *LAYER_PACKAGES),
        may_not=("tinynpu",),
    ),
    "applications": Layer(
        "the application package", "the application package",
        may=(ANYTHING,),
    ),
}
# fmt: on


def _matches(prefix, name):
    """Length of ``prefix`` if it covers ``name`` (longer is more specific), else -1."""
    if prefix == ANYTHING:
        return 0
    if prefix == STDLIB:
        top = name.split(".")[0]
        return len(top) if top in sys.stdlib_module_names else -1
    return len(prefix) if name == prefix or name.startswith(prefix + ".") else -1


def layer_of(module):
    """The layer (a key of RULES) of the tinynpu module ``module``."""
    if module in NOT_ABI or any(module.startswith(m + ".") for m in NOT_ABI):
        return "rtl"
    if any(_matches(m, module) >= 0 for m in ABI):
        return "abi"
    if module == CONFIG:
        return "config"
    for package in LAYER_PACKAGES:
        if _matches(package, module) >= 0:
            return package.split(".")[1]
    return "applications"


def allowed(layer, name):
    """Whether a module of ``layer`` may import ``name``: the longest matching prefix decides."""
    rule = RULES[layer]
    may = max((_matches(p, name) for p in rule.may), default=-1)
    may_not = max((_matches(p, name) for p in rule.may_not), default=-1)
    return may > may_not


def _kind(module):
    if module.split(".")[0] == "tinynpu":
        return NOT_ABI.get(module) or RULES[layer_of(module)].kind
    if _matches(STDLIB, module) >= 0:
        return "the standard library"
    if any(_matches(p, module) >= 0 for p in SIMULATOR_LIBRARIES):
        return "a simulator library"
    return "a third-party package"


def _permission(layer):
    rule = RULES[layer]
    names = [p.strip("<>") for p in rule.may if p != ANYTHING]
    if ANYTHING not in rule.may:
        return f"{rule.subject} may import only {', '.join(names)}"
    refused = f"{rule.subject} may import anything but {', '.join(rule.may_not)}"
    return refused + (f" (except {', '.join(names)})" if names else "")


@dataclass(frozen=True)
class Module:
    path: str  # as messages show it: "driver/npu.py"
    name: str  # its import name: "tinynpu.driver.npu"
    source: str


def tree_modules():
    """Every module of every layer folder of the checkout."""
    modules = []
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join((package, *parts))
            modules.append(Module(path.relative_to(ROOT).as_posix(), name, path.read_text()))
    return modules


TREE = tree_modules()
TREE_NAMES = frozenset(m.name for m in TREE)


def imports(module, known=TREE_NAMES):
    """``(line, checked, shown)`` for each name ``module`` imports, relative imports made absolute.

    ``from a.b import c`` imports the module ``a.b.c`` or the attribute ``c`` of ``a.b``: the name
    checked is ``a.b.c`` either way (so that a rule can allow ``amaranth.hdl.Shape`` and not the
    rest of ``amaranth.hdl``); the name shown is ``a.b`` when ``c`` is an attribute of a tinynpu
    module.
    """
    is_package = module.path.endswith("__init__.py")
    package = module.name if is_package else module.name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(module.source, module.path)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                if node.level > len(parts):
                    raise ValueError(f"{module.path}:{node.lineno}: relative import beyond tinynpu")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                full = base if alias.name == "*" else f"{base}.{alias.name}"
                tinynpu_attribute = base.split(".")[0] == "tinynpu" and full not in known
                shown = base if tinynpu_attribute else full
                found.append((node.lineno, full, shown))
    return sorted(found)


def violations(modules):
    """One message for each import a module of ``modules`` may not make."""
    known = TREE_NAMES | {module.name for module in modules}
    messages = []
    for module in modules:
        layer = layer_of(module.name)
        for line, full, shown in imports(module, known):
            if not allowed(layer, full):
                message = (
                    f"{module.path}:{line} imports {shown} ({_kind(shown)}); {_permission(layer)}"
                )
                if message not in messages:
                    messages.append(message)
    return messages


def test_the_tree_obeys_the_layering():
    found = violations(TREE)
    assert not found, f"{len(found)} imports break the layering:\n" + "\n".join(found)


def _synthetic(path, source):
    folder, _, rest = path.partition("/")
    name = ".".join((FOLDERS[folder], *Path(rest).with_suffix("").parts))
    return Module(path, name.removesuffix(".__init__"), source)


DRIVER_MAY = (
    "the driver may import only the standard library, tinynpu.driver, tinynpu.rtl.layouts, "
    "tinynpu.rtl.pte, tinynpu.rtl.localmap, tinynpu.rtl.regmap, amaranth.lib.data, "
    "amaranth.lib.enum"
)
FIRMWARE_MAY = (
    "the firmware may import only the standard library, tinynpu.firmware, tinynpu.rtl.layouts, "
    "tinynpu.rtl.pte, tinynpu.rtl.localmap, tinynpu.rtl.regmap"
)
RUNTIME_MAY = (
    "the runtime may import only the standard library, tinynpu.runtime, tinynpu.driver.uapi, "
    "tinynpu.rtl.layouts, numpy, sklearn, threadpoolctl, tflite"
)
ABI_MAY = (
    "a shared ABI module may import only the standard library, tinynpu.rtl.layouts, "
    "tinynpu.rtl.pte, tinynpu.rtl.localmap, tinynpu.rtl.regmap, tinynpu.rtl.config, "
    "amaranth.lib.data, amaranth.lib.enum, amaranth.hdl.Shape, amaranth.hdl.signed, "
    "amaranth.hdl.unsigned, systemrdl"
)


# Each case: the synthetic modules (path -> source; modules named fake_* stand for real ones, so
# that the cases do not depend on today's module names), then the exact messages.
@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        (
            {"driver/fake.py": "import cocotb\n"},
            [f"driver/fake.py:1 imports cocotb (a simulator library); {DRIVER_MAY}"],
        ),
        (
            {
                "driver/fake.py": "import errno\n\n"
                "def later():\n    from ..sim import fake_soc\n    from . import uapi\n",
                "sim/fake_soc.py": "",
            },
            [f"driver/fake.py:4 imports tinynpu.sim.fake_soc (a simulator module); {DRIVER_MAY}"],
        ),
        (
            {
                "driver/sub/__init__.py": "from ...rtl import fake_queue, regmap\n"
                "from tinynpu.rtl.regmap.block import RegisterBlock\n",
                "rtl/fake_queue.py": "",
            },
            [
                f"driver/sub/__init__.py:1 imports tinynpu.rtl.fake_queue (an RTL component); "
                f"{DRIVER_MAY}",
                f"driver/sub/__init__.py:2 imports tinynpu.rtl.regmap.block (an RTL component); "
                f"{DRIVER_MAY}",
            ],
        ),
        (
            {
                "firmware/fake.py": "from tinynpu.rtl.dma import X\n"
                "from tinynpu.rtl.layouts import Y\n"
            },
            [f"firmware/fake.py:1 imports tinynpu.rtl.dma (an RTL component); {FIRMWARE_MAY}"],
        ),
        (
            {"firmware/fake.py": "import tinynpu.driver.uapi\nfrom amaranth.lib import data\n"},
            [
                f"firmware/fake.py:1 imports tinynpu.driver.uapi (a driver module); {FIRMWARE_MAY}",
                f"firmware/fake.py:2 imports amaranth.lib.data (a third-party package); "
                f"{FIRMWARE_MAY}",
            ],
        ),
        (
            {
                "runtime/fake.py": "import numpy as np\n"
                "from tinynpu.driver.memory import PAGE_SIZE\n"
                "from tinynpu.driver.uapi import Ioctl\n"
                "from tinynpu.driver import fake_commands\n",
                "driver/fake_commands.py": "",
            },
            [
                f"runtime/fake.py:2 imports tinynpu.driver.memory (a driver module); {RUNTIME_MAY}",
                f"runtime/fake.py:4 imports tinynpu.driver.fake_commands (a driver module); "
                f"{RUNTIME_MAY}",
            ],
        ),
        (
            {
                "rtl/layouts.py": "from amaranth.hdl import Shape, Signal, signed\n"
                "from amaranth.lib import wiring\n"
                "from .regmap import HOST\nfrom .regmap import export\n"
            },
            [
                f"rtl/layouts.py:1 imports amaranth.hdl.Signal (a third-party package); {ABI_MAY}",
                f"rtl/layouts.py:2 imports amaranth.lib.wiring (a third-party package); {ABI_MAY}",
                f"rtl/layouts.py:4 imports tinynpu.rtl.regmap.export "
                f"(the register-map exporter); {ABI_MAY}",
            ],
        ),
        (
            {"rtl/config.py": "import json\nfrom amaranth.hdl import Shape\n"},
            [
                "rtl/config.py:2 imports amaranth.hdl.Shape (a third-party package); "
                "the RTL configuration may import only the standard library"
            ],
        ),
        (
            {"rtl/fake.py": "from amaranth.lib import wiring\nfrom ..firmware import Firmware\n"},
            [
                "rtl/fake.py:2 imports tinynpu.firmware (a firmware module); the RTL may import "
                "only the standard library, tinynpu.rtl, amaranth, systemrdl, peakrdl_cheader, "
                "peakrdl_markdown"
            ],
        ),
        (
            {
                "sim/fake.py": "import cocotb\nfrom tinynpu.driver import fake_npu\n"
                "from tinynpu import fake_demo, rtl\n",
                "driver/fake_npu.py": "",
                "tinynpu/fake_demo.py": "",
            },
            [
                "sim/fake.py:3 imports tinynpu.fake_demo (the application package); the simulator "
                "may import anything but tinynpu (except tinynpu.rtl, tinynpu.sim, "
                "tinynpu.driver, tinynpu.firmware, tinynpu.runtime)"
            ],
        ),
        ({"tinynpu/fake.py": "import cocotb\nfrom tinynpu.rtl.top import NpuTop\n"}, []),
    ],
)
def test_the_checker_reports_each_violation(sources, expected):
    assert violations([_synthetic(path, source) for path, source in sources.items()]) == expected


def test_relative_imports_beyond_tinynpu_are_refused():
    with pytest.raises(ValueError, match=r"driver/fake.py:1: relative import beyond tinynpu"):
        violations([_synthetic("driver/fake.py", "from .... import x\n")])


def test_the_rules_name_real_modules():
    # A renamed ABI module would otherwise leave a rule allowing nothing, and its users refused
    # for a reason the table no longer states.
    for module in (*ABI, *NOT_ABI, CONFIG, *LAYER_PACKAGES):
        assert module in TREE_NAMES, module
    for layer in RULES.values():
        assert not set(layer.may) & set(layer.may_not)
    assert {layer_of(name) for name in TREE_NAMES} == set(RULES)


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_module_of_the_package_is_scanned():
    setuptools = _pyproject()
    # The layer folders are the installed packages' folders ...
    assert {"tinynpu": "tinynpu", **setuptools["package-dir"]} == {
        package: folder for folder, package in FOLDERS.items()
    }
    # ... no other top-level folder is a package ...
    top_packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert top_packages == set(FOLDERS)
    # ... every folder holding modules is a package that is installed ...
    packages = {m.name for m in TREE if m.path.endswith("__init__.py")}
    assert packages == set(setuptools["packages"])
    holding = {m.name.rpartition(".")[0] for m in TREE if not m.path.endswith("__init__.py")}
    assert holding <= packages
    # ... and each scanned module is the module Python imports under its name.
    for module in TREE:
        spec = importlib.util.find_spec(module.name)
        assert Path(spec.origin) == ROOT / module.path, module.name


def _installed(dist):
    """The distribution's top-level import names, from top_level.txt and, independently, from its
    files; and, for an editable install, its finder's package -> folder mapping."""
    listed = set((dist.read_text("top_level.txt") or "").split())
    from_files, mapping = set(), None
    for file in dist.files:
        first = file.parts[0]
        if first == ".." or first.endswith(".dist-info") or first == "__pycache__":
            continue
        if file.name.startswith("__editable__") and file.suffix == ".py":
            # setuptools' editable finder: its MAPPING names each package and its folder.
            mapping = next(
                ast.literal_eval(node.value)
                for node in ast.parse(file.read_text()).body
                if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "MAPPING"
            )
            from_files |= {name.split(".")[0] for name in mapping}
        elif file.suffix != ".pth":  # the .pth of an editable install only loads the finder
            from_files.add(first.removesuffix(".py"))
    return listed, from_files, mapping


def test_the_distribution_installs_tinynpu_alone():
    # The one in site-packages: run from the checkout, a build's tinynpu.egg-info there (source
    # files, not installed ones) would come first on sys.path.
    site_packages = sysconfig.get_paths()["purelib"]
    (dist,) = importlib.metadata.distributions(name="tinynpu", path=[site_packages])
    listed, from_files, mapping = _installed(dist)
    assert listed == {"tinynpu"}
    assert from_files == {"tinynpu"}
    if mapping is not None:
        assert {name: Path(folder) for name, folder in mapping.items()} == {
            package: ROOT / folder for folder, package in FOLDERS.items()
        }


def test_a_layer_refuses_its_bare_folder_name():
    names = [folder for folder in FOLDERS if folder != "tinynpu"]
    script = (
        "import importlib, sys\n"
        "assert sys.path[0] == '', sys.path\n"
        f"for name in {names!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ImportError as error:\n"
        "        print(name, error)\n"
        "    else:\n"
        "        print(name, 'imported')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.splitlines() == [
        f"{name} {name!r} is {FOLDERS[name]}: import it by that name" for name in names
    ]
