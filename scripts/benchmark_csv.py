"""How fast and lean ``anynet train`` reads a CSV, against ``pandas.read_csv`` itself.

Writes the files into a temporary folder, then reads each in a fresh process
(so that peak memory is the read's alone) with pandas and with anynet's reader
(``anynet._cli_columns.training_data``: separator detected, every column
checked, X as float64, y typed):

- a 200,000 x 20 CSV of numbers (about 79 MB), the issue's example;
- the same with one text column (one-hot encoded by anynet);
- a CSV of 100,000 columns and 20 rows (per-column work must stay linear).

Run: ``python scripts/benchmark_csv.py`` (about a minute). The goal: anynet
within 3x of pandas' time and peak memory.
"""
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

READ = r"""
import json, resource, sys, time
from types import SimpleNamespace
how, path = sys.argv[1], sys.argv[2]
import numpy, pandas
import anynet._cli_columns as columns
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
if how == "pandas":
    frame = pandas.read_csv(path)
    rows = len(frame)
else:
    args = SimpleNamespace(data=path, target="t", drop=[], sep=None, decimal=".",
                           encoding="utf-8")
    rows = len(columns.training_data(args, None).X)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "rows": rows, "peak_mib": (peak - before) / 1024}))
"""


def _write(folder):
    rng = np.random.default_rng(0)
    files = {}
    X = rng.standard_normal((200_000, 20))
    t = (X[:, 0] > 0).astype(int)
    path = folder / "numbers.csv"
    header = ",".join(f"f{j}" for j in range(19)) + ",t\n"
    with open(path, "w") as f:
        f.write(header)
        np.savetxt(f, np.column_stack([X[:, :19], t]), delimiter=",", fmt="%.17g")
    files["200,000 x 20 numbers"] = path
    path = folder / "text.csv"
    plans = np.array(["basic", "pro", "family"])[rng.integers(0, 3, len(X))]
    with open(path, "w") as f:
        f.write("plan," + header)
        for start in range(0, len(X), 20_000):
            block = np.column_stack([X[start:start + 20_000, :19], t[start:start + 20_000]])
            lines = [p + "," + ",".join(f"{v:.17g}" for v in row) for p, row in
                     zip(plans[start:start + 20_000], block.tolist())]
            f.write("\n".join(lines) + "\n")
    files["200,000 x 21, one text column"] = path
    path = folder / "wide.csv"
    wide = rng.standard_normal((20, 100_000))
    wide[:, -1] = np.arange(20) % 2
    with open(path, "w") as f:
        f.write(",".join(f"c{j}" for j in range(99_999)) + ",t\n")
        np.savetxt(f, wide, delimiter=",", fmt="%.6g")
    files["20 x 100,000 columns"] = path
    return files


def _read(how, path):
    done = subprocess.run([sys.executable, "-c", READ, how, str(path)], capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        files = _write(Path(tmp))
        print(f"{'file':32s} {'MB':>6s} {'pandas s':>9s} {'anynet s':>9s} {'ratio':>6s} "
              f"{'pandas MiB':>11s} {'anynet MiB':>11s} {'ratio':>6s}")
        for name, path in files.items():
            pandas, anynet = _read("pandas", path), _read("anynet", path)
            print(f"{name:32s} {path.stat().st_size / 1e6:6.1f} {pandas['seconds']:9.2f} "
                  f"{anynet['seconds']:9.2f} {anynet['seconds'] / pandas['seconds']:6.2f} "
                  f"{pandas['peak_mib']:11.0f} {anynet['peak_mib']:11.0f} "
                  f"{anynet['peak_mib'] / max(pandas['peak_mib'], 1):6.2f}")


if __name__ == "__main__":
    main()
