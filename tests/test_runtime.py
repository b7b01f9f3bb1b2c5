"""Process-wide tuning that the CLI applies to its own process."""

import os
import subprocess
import sys

import pytest

CODE = "from lstmkit.runtime import keep_freed_memory; print(keep_freed_memory())"


def _run(env_value):
    env = {**os.environ, "LSTMKIT_MALLOC_TUNING": env_value}
    return subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_keep_freed_memory_applies_on_glibc_and_can_be_switched_off():
    import platform

    on = _run("1")
    assert on.returncode == 0, on.stderr
    if platform.libc_ver()[0] == "glibc":
        assert on.stdout.strip() == "True"
    off = _run("0")
    assert off.returncode == 0 and off.stdout.strip() == "False"
