"""The README runs as written (issue 18): every code block, as copied, in an empty
folder, and what a block shows as output is what it prints, timings aside.

The README's conventions, which a new block follows or the test fails:

- A ```python block runs as a script in an empty folder: it makes or loads the
  data it needs.
- A ```bash (or sh) block runs there with bash, ``set -e``.
- A plain ``` block whose lines start with ``$ `` is a transcript: its commands
  run in order in one empty folder, and each one's output (stdout and stderr
  together) is the lines under it.
- A plain block right after ``<!-- output: COMMAND -->`` is what COMMAND prints;
  after ``<!-- output: above -->``, what the code block above it prints (Python's
  warnings aside).
- ``<!-- no-run: REASON -->`` right before a block leaves it out, for the reason
  given (it installs packages, it needs 4 MPI ranks...).
- Any other plain block (a diagram) is text.

What may differ is a timing: "0.69 s", a progress bar's "[00:00<00:00,
241.62epoch/s". A progress bar is compared in its last state.
"""
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()

# a fence, with the HTML comment on the line before it, if any
_FENCE = re.compile(r"(?:^<!--\s*(?P<mark>.*?)\s*-->\n)?^```(?P<lang>[\w-]*)\n(?P<body>.*?)^```",
                    re.S | re.M)
_SHELLS = ("bash", "sh", "shell", "console")


def _blocks():
    """Every fenced block: (line, lang, body, mark or None)."""
    return [(README.count("\n", 0, m.start("lang")) + 1, m.group("lang"), m.group("body"),
             m.group("mark")) for m in _FENCE.finditer(README)]


BLOCKS = _blocks()


def _env():
    """The environment a reader has: anynet importable (this checkout's), the
    ``anynet`` command, one BLAS thread (the suite shares two cores), no display."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", MPLBACKEND="Agg",
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               JAX_PLATFORMS="cpu", COLUMNS="80")
    env.pop("PYTHONWARNINGS", None)
    return env


# the reader's python3, python and anynet: this interpreter's
_PREAMBLE = (f'python3() {{ "{sys.executable}" "$@"; }}\n'
             f'python() {{ "{sys.executable}" "$@"; }}\n'
             f'anynet() {{ "{sys.executable}" -m anynet "$@"; }}\n'
             "export -f python3 python anynet\n")


def _bash(script, cwd, timeout=300):
    """(exit status, stdout and stderr together), the text as written: a progress
    bar's carriage returns kept (text=True would make them newlines)."""
    done = subprocess.run(["bash", "-c", _PREAMBLE + script], cwd=cwd, env=_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    return done.returncode, done.stdout.decode("utf-8", "replace")


# Runs each Python block given as a script would run, in its own empty folder, with
# its own globals, capturing what it prints; one interpreter for them all (each
# would import anynet, NumPy, torch... again).
_RUNNER = r"""
import contextlib, io, json, os, sys, traceback
class Stream(io.StringIO):
    encoding = "utf-8"  # as a terminal's or a pipe's: tqdm draws its bar in blocks, not #
results = []
for code, folder in json.load(sys.stdin):
    os.chdir(folder)
    out, err = Stream(), Stream()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            exec(compile(code, os.path.join(folder, "readme_block.py"), "exec"),
                 {"__name__": "__main__"})
            failure = None
        except BaseException:
            failure = traceback.format_exc()
    results.append([failure, out.getvalue(), err.getvalue()])
sys.stdout.write(json.dumps(results))
"""


def normalised(text):
    """``text`` as compared: each progress bar in its last state, timings masked,
    trailing spaces dropped."""
    lines = []
    for line in text.replace("\r\n", "\n").split("\n"):  # not splitlines: it splits at \r
        line = line.split("\r")[-1]  # a progress bar: its last state
        line = re.sub(r"\[\d\d:\d\d<[\d:?]+, *[\d.?]+ ?\w+/s", "[<time>", line)
        line = re.sub(r"\b\d+(\.\d+)? s\b", "<t> s", line)
        lines.append(line.rstrip())
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def _without_warnings(text):
    """stderr less Python's warnings (their line and the source line under it)."""
    kept, skip = [], False
    for line in text.split("\n"):
        if re.match(r"^\S.*:\d+: \w*Warning: ", line):
            skip = True
            continue
        if skip and line.startswith("  "):
            continue
        skip = False
        kept.append(line)
    return "\n".join(kept)


def _id(block):
    line, lang, body, mark = block
    return f"line{line}-{lang or 'text'}"


def _kind(block):
    line, lang, body, mark = block
    if mark and mark.startswith("no-run"):
        return "skip"
    if lang == "python":
        return "python"
    if lang in _SHELLS:
        return "shell"
    if not lang and mark == "output: above":
        return "shown"  # compared with the code block above
    if not lang and mark and mark.startswith("output:"):
        return "output"
    if not lang and body.startswith("$ "):
        return "transcript"
    return "text"


def _shown_output(index):
    """The output block right after block ``index`` that says it is its output."""
    if index + 1 < len(BLOCKS) and BLOCKS[index + 1][3] == "output: above":
        return BLOCKS[index + 1][2]
    return None


def test_the_conventions_are_kept():
    """Every block is of a known kind; a no-run says why; an output says of what."""
    for block in BLOCKS:
        line, lang, body, mark = block
        assert lang in ("", "python", *_SHELLS), f"README line {line}: unknown ```{lang}"
        if mark and mark.startswith("no-run"):
            assert re.match(r"no-run: \S", mark), f"README line {line}: no-run: WHY?"
        if mark and mark.startswith("output:"):
            assert not lang, f"README line {line}: an output block is plain ```"
    kinds = [_kind(b) for b in BLOCKS]
    assert kinds.count("python") >= 8 and kinds.count("transcript") >= 1, kinds
    for index, block in enumerate(BLOCKS):
        if block[3] == "output: above":
            assert index > 0 and _kind(BLOCKS[index - 1]) in ("python", "shell"), block[0]


_CODE = [i for i, b in enumerate(BLOCKS) if _kind(b) in ("python", "shell")]


@pytest.fixture(scope="module")
def python_runs(tmp_path_factory):
    """{block index: (traceback or None, stdout, stderr)} of every Python block."""
    indices = [i for i in _CODE if _kind(BLOCKS[i]) == "python"]
    jobs = [(BLOCKS[i][2], str(tmp_path_factory.mktemp(f"block{i}"))) for i in indices]
    import json
    done = subprocess.run([sys.executable, "-c", _RUNNER], input=json.dumps(jobs).encode(),
                          env=_env(), capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    return dict(zip(indices, json.loads(done.stdout)))


@pytest.mark.parametrize("index", _CODE, ids=lambda i: _id(BLOCKS[i]))
def test_every_code_block_runs_as_copied_in_an_empty_folder(index, tmp_path, python_runs):
    line, lang, body, _ = BLOCKS[index]
    if lang == "python":
        failure, out, err = python_runs[index]
        assert failure is None, f"README line {line}:\n{failure}\n{err}"
    else:
        status, out = _bash("set -e\n" + body, tmp_path)
        assert status == 0, f"README line {line}:\n{out}"
        err = ""
    shown = _shown_output(index)
    if shown is not None:
        printed = out + _without_warnings(err)
        assert normalised(printed) == normalised(shown), f"README line {line}"


@pytest.mark.parametrize("index", [i for i, b in enumerate(BLOCKS) if _kind(b) == "output"],
                         ids=lambda i: _id(BLOCKS[i]))
def test_an_output_is_what_its_command_prints(index, tmp_path):
    line, _, body, mark = BLOCKS[index]
    command = mark[len("output:"):].strip()
    status, out = _bash(command, tmp_path)
    assert status == 0, f"README line {line}: {command}\n{out}"
    assert normalised(out) == normalised(body), f"README line {line}: {command}"


def _transcript(body):
    """[(command, shown output)] of a transcript block."""
    steps = []
    for line in body.splitlines():
        if line.startswith("$ "):
            steps.append([line[2:], []])
        elif steps:
            steps[-1][1].append(line)
    return [(command, "\n".join(out)) for command, out in steps]


@pytest.mark.parametrize("index", [i for i, b in enumerate(BLOCKS)
                                   if _kind(b) == "transcript"],
                         ids=lambda i: _id(BLOCKS[i]))
def test_a_transcript_prints_what_it_shows(index, tmp_path):
    line, _, body, _ = BLOCKS[index]
    for command, shown in _transcript(body):
        _, out = _bash(command, tmp_path)
        assert normalised(out) == normalised(shown), f"README line {line}: $ {command}"


def test_normalised_masks_timings_only():
    bar = ("anynet:  30%|###       | 60/200 [00:01<00:02, 41.62epoch/s, loss=0.0017]\r"
           "anynet:  30%|###       | 60/200 [00:00<00:00, 140.13epoch/s, loss=0.0017]")
    assert normalised(bar) == "anynet:  30%|###       | 60/200 [<time>, loss=0.0017]"
    assert normalised("in 0.4 s (100 epochs") == normalised("in 12.38 s (100 epochs")
    assert normalised("final loss 0.0017") != normalised("final loss 0.0018")
    assert normalised("449 test images") != normalised("448 test images")


def test_sklearn_compare_prints_the_readmes_table(tmp_path):
    """scripts/sklearn_compare.py prints the README's columns, and its scores."""
    pytest.importorskip("sklearn")
    table = [line for line in README[README.index("Side by side with scikit-learn"):]
             .splitlines() if line.startswith("|")]
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "sklearn_compare.py"),
                           "--datasets", "iris", "--repeats", "1"], cwd=tmp_path,
                          env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    printed = [line for line in done.stdout.splitlines() if line.startswith("|")]
    assert printed[:2] == table[:2]  # the header and its rule
    iris = next(row for row in table if row.startswith("| iris |"))
    cells = lambda row: [c.strip() for c in row.strip("|").split("|")]  # noqa: E731
    assert len(printed) == 3 and cells(printed[2])[:2] == cells(iris)[:2]  # its scores
    assert len(cells(printed[2])) == len(cells(iris))


def _python_block(heading):
    """The first ```python block after ``heading``."""
    section = README[README.index(heading):]
    return re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)


def test_the_dask_example_predicts_what_the_network_does(tmp_path, monkeypatch):
    pytest.importorskip("dask.array")
    monkeypatch.chdir(tmp_path)
    namespace = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # backend="auto" says it chose NumPy
        exec(_python_block("### Inference over Dask arrays"), namespace)
    net, X = namespace["net"], np.load(tmp_path / "features.npy")
    np.testing.assert_allclose(np.load(tmp_path / "predictions.npy"), net.predict(X),
                               rtol=1e-6)


def test_the_sklearn_example_runs_on_a_laptop():
    """No backend="cupy" in it: it must run where there is no GPU."""
    pytest.importorskip("sklearn")
    from sklearn.exceptions import ConvergenceWarning
    code = _python_block("## scikit-learn estimators")
    assert 'backend="cupy")' not in code.split("#")[0]
    small = "MLPClassifier(hidden_layer_sizes=(8,), max_iter=5)"
    assert "MLPClassifier(hidden_layer_sizes=(64,))" in code
    with warnings.catch_warnings():  # 5 epochs do not converge: said, not failed
        warnings.simplefilter("ignore", ConvergenceWarning)
        exec(code.replace("MLPClassifier(hidden_layer_sizes=(64,))", small), {})


def test_the_synopsis_gives_the_real_defaults():
    import argparse
    from anynet.__main__ import _parser
    commands = next(a for a in _parser()._actions
                    if isinstance(a, argparse._SubParsersAction)).choices
    synopsis = README[README.index("- `anynet train DATA"):README.index("DATA is a CSV")]
    shown = dict(re.findall(r"\[(--[a-z-]+) ([^\] .]+(?:\.\d+)?)\]", synopsis))
    assert len(shown) >= 15, shown
    defaults = {a.option_strings[-1]: a.default for a in commands["train"]._actions
                if a.option_strings}
    for option, value in shown.items():
        if option in ("--target", "--checkpoint", "--plot", "--distributed",
                      "--weight-decay", "--dropout"):
            continue  # shown with a placeholder: no default
        assert str(defaults[option]) == value, (option, value, defaults[option])
