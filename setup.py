"""Build hook: a wheel built where torch is importable carries the fused CPU kernel, compiled for that torch.

Everything else about the package is in pyproject.toml. Build a wheel with the kernel in it against the
torch of the current environment (the way PyTorch extension projects are built)::

    pip install torch==2.13.0 build setuptools
    python -m build --wheel --no-isolation        # or: pip wheel --no-build-isolation --no-deps -w dist .

An isolated build (plain ``python -m build`` or ``pip install .``) has no torch in its environment and makes
a pure-Python wheel; the kernel is then built on first use, as for every torch the wheel was not built for.
``LSTMKIT_BUILD_KERNEL=0`` skips the kernel, ``=1`` makes a failed compile an error instead of a warning.

The prebuilt kernel is compiled for a portable CPU baseline (x86-64-v3 on x86-64: AVX2, FMA), not
``-march=native``, and a manifest beside it records the torch build, Python ABI, source hash and CPU
features it needs; ``lstmkit.kernels.fused`` loads it only where all of them match.
"""

import json
import os
import platform
import shutil
import sys
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "src" / "lstmkit" / "kernels" / "csrc" / "fused_cpu.cpp"  # includes csrc/lstm_cell.h


def _kernel_manifest_module():
    """lstmkit/kernels/_manifest.py, loaded by path (the package itself is not importable while it builds):
    the one definition of what the running installation compares a shipped kernel against."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_lstmkit_manifest", HERE / "src/lstmkit/kernels/_manifest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
EXT_NAME = "lstmkit.kernels._fused_cpu_prebuilt"
MANIFEST = "_fused_cpu_prebuilt.json"

# The CPU features x86-64-v3 code may use (GCC's definition of the level), by their /proc/cpuinfo names.
X86_64_V3_FLAGS = ["sse4_1", "sse4_2", "ssse3", "popcnt", "cx16", "avx", "avx2", "bmi1", "bmi2", "f16c", "fma",
                   "movbe", "abm", "xsave"]


def _portable_flags() -> tuple[list, list]:
    """Compiler flags for a binary other machines can run, and the CPU features it needs there."""
    common = ["-O3", "-g0", "-fno-math-errno", "-fno-trapping-math", "-fopenmp"]
    if platform.machine().lower() in ("x86_64", "amd64"):
        return common + ["-march=x86-64-v3", "-mtune=generic"], X86_64_V3_FLAGS
    return common, []  # aarch64 and others: the distribution compiler's baseline


def _mode() -> str:
    value = os.environ.get("LSTMKIT_BUILD_KERNEL", "auto").strip().lower()
    return {"0": "off", "false": "off", "no": "off", "1": "on", "true": "on", "yes": "on"}.get(value, "auto")


def _put_ninja_on_path() -> None:
    """torch's builder compiles with ninja when it finds it on PATH (the pip package installs it beside Python)."""
    if shutil.which("ninja"):
        return
    try:
        import ninja

        os.environ["PATH"] = ninja.BIN_DIR + os.pathsep + os.environ.get("PATH", "")
    except (ImportError, AttributeError):
        pass


try:
    import torch
    from torch.utils.cpp_extension import BuildExtension, CppExtension
except ImportError:  # an isolated build, or a machine without torch: a pure-Python wheel
    torch = None


def _manifest() -> dict:
    cflags, cpu_flags = _portable_flags()
    return {"module": EXT_NAME.rsplit(".", 1)[1], **_kernel_manifest_module().installation_manifest(),
            "cpu_flags": cpu_flags, "cflags": cflags}


if torch is not None:

    class BuildKernel(BuildExtension):
        """torch's BuildExtension, plus the manifest; a failed compile gives a wheel without the kernel."""

        def run(self):
            _put_ninja_on_path()
            try:
                super().run()
            except Exception as err:  # no compiler, a broken one, ...: the lazy build stays the fallback
                if _mode() == "on":
                    raise
                self.warn(f"lstmkit: compiling the fused kernel failed ({type(err).__name__}: {err}); the "
                          "wheel will not contain it, and it is compiled on first use instead")
                return
            for ext in self.extensions:
                so = Path(self.get_ext_fullpath(ext.name))
                so.with_name(MANIFEST).write_text(json.dumps(_manifest(), indent=1) + "\n", encoding="utf-8")
                self.announce(f"lstmkit: prebuilt fused kernel {so.name} for torch {torch.__version__}", level=2)


def _extensions() -> list:
    if _mode() == "off":
        return []
    if torch is None:
        why = ("torch is not importable in the build environment (an isolated build); build with "
               "`python -m build --wheel --no-isolation` to include it")
        if _mode() == "on":
            raise RuntimeError(f"LSTMKIT_BUILD_KERNEL=1 but {why}")
        print(f"lstmkit: the wheel will not contain the prebuilt fused kernel: {why}. It is compiled on first "
              "use instead.", file=sys.stderr)
        return []
    from torch.utils.cpp_extension import include_paths

    cflags, _ = _portable_flags()
    # warnings on, for lstmkit's code only: torch's headers as system headers (-isystem overrides their -I)
    warnings = ["-Wall", "-Wextra", *(f"-isystem{p}" for p in include_paths())]
    # setuptools wants the source relative to this file
    depends = [str(f.relative_to(HERE)) for f in sorted(SOURCE.parent.glob("*.h"))]  # rebuild on a header change
    return [CppExtension(EXT_NAME, sources=[str(SOURCE.relative_to(HERE))], depends=depends,
                         extra_compile_args=cflags + warnings, extra_link_args=["-fopenmp"])]


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildKernel} if torch is not None else {})
