"""The documentation site and the README: every Python block runs, page by
page in order, in a fresh namespace (so every name it uses is defined on the
page), and what a `print(...)  # output` line promises is what it prints.
The API reference covers every public name."""

import ast
import contextlib
import glob
import io
import os
import re

import keras
import pytest

import keras_recur
import keras_recur.tuning
from tests.testing import ROOT
from tests.testing import backend_free

# The pages' code and text are the same on every backend; the layers they
# show are tested on each (and the docs site is built on PyTorch).
pytestmark = backend_free

PAGES = sorted(
    [
        os.path.relpath(path, ROOT)
        for path in glob.glob(
            os.path.join(ROOT, "docs", "**", "*.md"), recursive=True
        )
    ]
    + ["README.md"]
)
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
# A one-line print whose trailing comment is the expected output ("..."
# stands for any text).
PRINT_WITH_OUTPUT = re.compile(r"^(\s*)print\((.*)\)  # (.*)$", re.MULTILINE)


def blocks(page, language=None):
    with open(os.path.join(ROOT, page)) as file:
        text = file.read()
    return [
        (lang, body)
        for lang, body in FENCE.findall(text)
        if language is None or lang == language
    ]


def expect(expected, *values):
    printed = " ".join(str(value) for value in values)
    pattern = ".*".join(re.escape(part) for part in expected.split("..."))
    assert re.fullmatch(pattern, printed), (
        f"printed {printed!r}, the page says {expected!r}"
    )
    print(printed)


def checked(source):
    """The block with each `print(...)  # output` turned into a check."""
    return PRINT_WITH_OUTPUT.sub(
        lambda m: f"{m[1]}expect({m[3]!r}, {m[2]})", source
    )


def test_every_fenced_block_has_a_known_language():
    for page in PAGES:
        for language, _ in blocks(page):
            assert language in ("python", "bash", "text"), (page, language)


@pytest.mark.parametrize(
    "page", [page for page in PAGES if blocks(page, "python")]
)
def test_page_code_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # pages write files (models, plots)
    namespace = {"__name__": "__docs__", "expect": expect}
    output = io.StringIO()
    try:
        for number, (_, source) in enumerate(blocks(page, "python"), 1):
            code = compile(
                ast.parse(checked(source)), f"{page}, block {number}", "exec"
            )
            with contextlib.redirect_stdout(output):
                exec(code, namespace)
    finally:
        keras.config.set_dtype_policy("float32")


def public_names():
    names = {f"keras_recur.{name}" for name in keras_recur.layers.__all__}
    names |= {
        f"keras_recur.models.{name}" for name in keras_recur.models.__all__
    }
    names |= {f"keras_recur.tuning.{n}" for n in keras_recur.tuning.__all__}
    names |= {
        f"keras_recur.metrics.{name}" for name in keras_recur.metrics.__all__
    }
    names |= {
        f"keras_recur.training.{name}" for name in keras_recur.training.__all__
    }
    return names


def test_api_reference_covers_every_public_name():
    documented = set()
    for path in glob.glob(os.path.join(ROOT, "docs", "api", "*.md")):
        with open(path) as file:
            documented |= set(re.findall(r"^::: (\S+)", file.read(), re.M))
    assert keras_recur.__all__ == [
        "layers",
        "metrics",
        "models",
        "tag_schemes",
        "training",
        "Seq2Seq",
        *keras_recur.layers.__all__,
    ]
    missing = public_names() - documented
    assert not missing, f"not in docs/api: {sorted(missing)}"


def test_readme_is_short_and_links_the_docs():
    with open(os.path.join(ROOT, "README.md")) as file:
        readme = file.read()
    assert len(readme.splitlines()) <= 170
    assert "issue" not in readme.lower()
    for page in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert os.path.exists(os.path.join(ROOT, page)), page


def bash_lines():
    for page in PAGES:
        for _, body in blocks(page, "bash"):
            for line in body.splitlines():
                yield page, line.split("  #")[0].strip()


def test_shell_commands_name_what_exists():
    # The shell blocks are not run here (they install, or run for minutes;
    # .ci/run runs the README's); what they name must exist.
    with open(os.path.join(ROOT, "tox.ini")) as file:
        tox_envs = set(re.findall(r"^\[testenv:([^\]]+)\]", file.read(), re.M))
    tox_envs = {e for group in tox_envs for e in re.split(r"[{},]", group) if e}
    with open(os.path.join(ROOT, "pyproject.toml")) as file:
        extras = set(re.findall(r"^([\w-]+) = \[", file.read(), re.M))
    common = open(os.path.join(ROOT, "examples", "common.py")).read()
    for page, line in bash_lines():
        for script in re.findall(r"python (\S+\.py)", line):
            if script == "train.py":  # the reader's own script
                continue
            with open(os.path.join(ROOT, script)) as file:
                source = file.read() + common
            for flag in re.findall(r"(--[\w-]+)", line.split(script, 1)[1]):
                assert f'"{flag}"' in source, (page, line, flag)
        for names in re.findall(r"tox run\S* .*?-e (\S+)", line):
            assert set(names.split(",")) <= tox_envs, (page, line)
        for chosen in re.findall(r'"\.\[([\w,]+)\]"', line):
            assert set(chosen.split(",")) <= extras, (page, line)


def test_ci_runs_the_readme_commands():
    with open(os.path.join(ROOT, ".ci", "run")) as file:
        ci = file.read().splitlines()
    readme = [line for page, line in bash_lines() if page == "README.md"]
    tox_commands = [line for line in readme if "tox run" in line]
    assert len(tox_commands) == 2  # the tests and the docs
    for command in tox_commands:
        assert command in ci, command


def test_home_page_and_readme_name_every_public_layer():
    for page in ("docs/index.md", "README.md"):
        with open(os.path.join(ROOT, page)) as file:
            text = file.read()
        missing = [
            name
            for name in keras_recur.layers.__all__
            if not re.search(rf"`(keras_recur\.)?{name}`", text)
        ]
        assert not missing, f"{page} does not name {missing}"


PACKAGES = sorted(
    os.path.dirname(os.path.relpath(path, ROOT))
    for path in glob.glob(
        os.path.join(ROOT, "keras_recur", "**", "__init__.py"), recursive=True
    )
)


def modules_of(package):
    """The modules and subpackages of a package folder, as its docstring
    names them (`recurrence.py`, `rnn/`)."""
    folder = os.path.join(ROOT, package)
    names = []
    for entry in sorted(os.listdir(folder)):
        path = os.path.join(folder, entry)
        if entry.endswith(".py") and entry != "__init__.py":
            names.append(entry)
        elif os.path.isfile(os.path.join(path, "__init__.py")):
            names.append(f"{entry}/")
    return names


@pytest.mark.parametrize("package", PACKAGES)
def test_package_docstring_and_contributing_name_every_module(package):
    with open(os.path.join(ROOT, package, "__init__.py")) as file:
        docstring = ast.get_docstring(ast.parse(file.read())) or ""
    with open(os.path.join(ROOT, "docs", "contributing.md")) as file:
        layout = file.read().split("## Layout", 1)[1].split("\n## ", 1)[0]
    for module in modules_of(package):
        stem = module.removesuffix(".py").removesuffix("/")
        assert re.search(rf"`{re.escape(stem)}(\.py|/)?`", docstring), (
            f"{package}/__init__.py's docstring does not name {module}"
        )
        assert re.search(
            rf"`{re.escape(package)}/[^`]*\b{re.escape(stem)}\b", layout
        ), f"docs/contributing.md's layout does not name {package}/{module}"
