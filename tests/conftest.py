import os, sys, subprocess
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
CLI = [str(Path(sys.executable).parent/'mlm-explained')]   # the installed console script, as users run it

def pytest_addoption(parser):
    parser.addoption('--runslow', action='store_true', help='also run tests marked slow (minutes of training)')

def pytest_collection_modifyitems(config, items):
    if config.getoption('--runslow'): return
    skip = pytest.mark.skip(reason='slow: run with --runslow')
    for item in items:
        if 'slow' in item.keywords: item.add_marker(skip)

def start_cli(*args, env=None, launcher=CLI):
    "Start `mlm-explained ARGS` (or `launcher` ARGS, e.g. torchrun) in a fresh process and return at once: the Popen (text pipes), for tests that signal a running job."
    return subprocess.Popen(launcher + [str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, cwd=ROOT)

def run_cli(*args, timeout=600, env=None, launcher=CLI):
    "Run `mlm-explained ARGS` (or `launcher` ARGS) in a fresh process; returns the CompletedProcess (text)."
    return subprocess.run(launcher + [str(a) for a in args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=ROOT)

@pytest.fixture(scope='session')
def shared_data():
    from mlm_explained.core import shared_data_dir
    d = shared_data_dir()
    if d is None: pytest.skip('shared data (../shared/data or $MLM_EXPLAINED_DATA) is absent')
    return d

# a tiny model: the CLI tests check behaviour, not learning
TINY = ['--config', str(ROOT/'tests'/'tiny.json')]
