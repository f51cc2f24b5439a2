"""The devices of one array library, by the names that library takes: ``anynet info``.

Run as a script (``python -c "$(cat anynet/_probe.py)" torch``: not by its path,
which would put anynet's folder first on sys.path), it imports that library alone
(not anynet, not array_api_compat) and prints one JSON line: the device names, or
the error. ``anynet info`` runs one per installed library at once, so its time is
that of the slowest import (torch's, jax's), not their sum, and its own process
never imports them; a CPU-only torch or JAX is told by what it installed, without
importing it at all (``known_without_importing``). Every name printed is one that
``device=`` takes with that backend (``anynet._backend`` reads them back).
"""
import json
import os
import re
import sys


def known_without_importing(name):
    """The device names of a library that can only compute on the CPU, read from what
    it installed, without importing it (torch and JAX take over a second each); None
    where only importing it can tell (a CUDA build, a GPU plugin, an unusual setting).
    """
    import importlib.util
    if name == "torch" and sys.platform != "darwin":  # macOS builds may have "mps"
        spec = importlib.util.find_spec("torch")
        try:
            with open(os.path.join(spec.submodule_search_locations[0], "version.py"),
                      encoding="utf-8") as f:
                text = f.read()
        except (OSError, TypeError, IndexError, AttributeError):
            return None
        accelerators = re.findall(r"^(cuda|hip|rocm|xpu)\b[^=\n]*=\s*(.+)$", text, re.M)
        if accelerators and all(value.strip() == "None" for _, value in accelerators):
            return ["cpu"]  # a CPU build
        return None
    if name == "jax":
        import importlib.metadata
        if os.environ.get("JAX_PLATFORMS", "cpu") != "cpu":
            return None
        for dist in importlib.metadata.distributions():
            found = (dist.metadata["Name"] or "").lower().replace("_", "-")
            if found.startswith(("jax-cuda", "jax-rocm", "libtpu", "jax-metal", "jax-tpu")):
                return None  # a plugin that may bring devices
            if found == "jaxlib" and "+" in (dist.version or ""):  # jaxlib 0.4.x+cuda12
                return None
        flags = re.findall(r"--xla_force_host_platform_device_count=(\d+)",
                           os.environ.get("XLA_FLAGS", ""))
        count = os.environ.get("JAX_NUM_CPU_DEVICES") or (flags[-1] if flags else "1")
        return [f"cpu:{i}" for i in range(int(count))] if count.isdigit() else None
    return None


def device_names(name):
    """The names of the devices ``name``'s library can compute on here."""
    if name == "numpy":
        return ["cpu"]
    if name == "torch":
        import torch
        names = ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            names.append("mps")
        return names  # not "meta": it holds shapes without data, nothing to compute on
    if name == "jax":
        import jax
        devices = list(jax.devices())
        if devices[0].platform != "cpu":  # the host is a device too
            devices += jax.devices("cpu")
        return [jax_name(d, devices) for d in devices]
    if name == "cupy":
        import cupy
        return [f"cuda:{i}" for i in range(cupy.cuda.runtime.getDeviceCount())]
    if name == "array_api_strict":
        import array_api_strict as xp
        return [strict_name(d) for d in xp.__array_namespace_info__().devices()]
    raise ValueError(f"no probe for {name!r}")


def jax_name(device, devices):
    """"cpu:0", "gpu:1": the platform and the device's place among its platform's."""
    same = [d for d in devices if d.platform == device.platform]
    return f"{device.platform}:{same.index(device)}"


def strict_name(device):
    """array_api_strict's Device('device1') is named "device1" (its constructor's argument)."""
    text = repr(device)
    return text.split("'")[1] if text.count("'") == 2 else str(device)


if __name__ == "__main__":  # run with -c
    try:
        print(json.dumps({"devices": device_names(sys.argv[1])}))
    except Exception as exc:  # noqa: BLE001 (a broken install is reported, not raised)
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
