"""The tree is the architecture: imports point down.  The library never
imports the command line; bpf/, net/ and capture/ never import the AF_XDP
core.  Checked twice: by what a fresh interpreter has loaded, and by every
import statement in the package."""

import ast
import importlib.util
import os
import subprocess
import sys
import sysconfig

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "pyxsk")
# pyxsk.mapping (mmap through libc, nothing else) is not: the perf and BPF
# ring buffers of bpf/ map their memory through it too
CORE = {"pyxsk.ring", "pyxsk.umem", "pyxsk.frames", "pyxsk.xsk",
        "pyxsk.xsksocket", "pyxsk.scheduling", "pyxsk.aio"}
BESIDE_CORE = ("pyxsk.bpf", "pyxsk.net", "pyxsk.capture")


def _loaded_after(code):
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\n"
                          "print('\\n'.join(m for m in sys.modules if m.startswith('pyxsk')))"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_importing_the_library_loads_nothing_of_the_command_line():
    loaded = _loaded_after("import pyxsk, pyxsk.bpf, pyxsk.net, pyxsk.capture\n"
                           "pyxsk.XskSocket, pyxsk.Umem, pyxsk.Batch")
    assert "pyxsk.xsksocket" in loaded and "pyxsk.bpf.xdp" in loaded
    assert not {m for m in loaded if m == "pyxsk.cli" or m.startswith("pyxsk.cli.")}


def test_importing_pyxsk_alone_loads_nothing_more():
    assert _loaded_after("import pyxsk") == {"pyxsk"}


@pytest.mark.parametrize("package", BESIDE_CORE)
def test_bpf_net_and_capture_load_none_of_the_core(package):
    loaded = _loaded_after("import %s, pkgutil, importlib\n"
                           "for m in pkgutil.iter_modules(%s.__path__):\n"
                           "    importlib.import_module('%s.' + m.name)" % (package, package, package))
    assert not loaded & CORE, loaded & CORE


def _imports(path, module):
    """Absolute names of the pyxsk modules ``path`` (module ``module``) imports."""
    tree = ast.parse(open(path).read())
    is_package = path.endswith("__init__.py")
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[:len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("pyxsk"):
                yield target
                for alias in node.names:
                    yield target + "." + alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("pyxsk"):
                    yield alias.name


def _modules():
    for dirpath, _dirs, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                yield path, rel[:-len(".__init__")] if rel.endswith(".__init__") else rel


def test_every_import_statement_points_down():
    wrong = []
    for path, module in _modules():
        in_cli = module == "pyxsk.cli" or module.startswith("pyxsk.cli.")
        beside = module.startswith(BESIDE_CORE)
        for target in _imports(path, module):
            if not in_cli and module != "pyxsk.__main__" and target.startswith("pyxsk.cli"):
                wrong.append("%s imports %s" % (module, target))
            if beside and target in CORE:
                wrong.append("%s imports %s" % (module, target))
    assert not wrong, wrong


def _is_stdlib(name):
    """True for a module of this interpreter's standard library."""
    names = getattr(sys, "stdlib_module_names", None)      # Python 3.10+
    if names is not None:
        return name in names
    if name in sys.builtin_module_names:
        return True
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return False
    stdlib = sysconfig.get_paths()["stdlib"]
    return spec.origin in ("built-in", "frozen") or \
        (spec.origin.startswith(stdlib) and "site-packages" not in spec.origin)


def test_the_package_imports_the_standard_library_only():
    """Also under ``if TYPE_CHECKING:``: a vendored copy is type-checked
    where nothing else is installed either."""
    foreign = []
    for path, module in _modules():
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "pyxsk" and not _is_stdlib(top):
                    foreign.append("%s:%d imports %s" % (module, node.lineno, name))
    assert not foreign, foreign
