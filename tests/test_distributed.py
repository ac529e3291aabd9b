"""Several processes through torchrun on this CPU (gloo): `torchrun --standalone --nproc_per_node 2 -m mlm_explained pretrain ...`
gives the losses of one process with the same global batch, for every arch; only rank 0 writes the run folder; a SIGTERM or a
SIGKILL of the job, then --resume, gives the uninterrupted run."""
import csv, json, os, signal, sys
from pathlib import Path
import pytest
import torch
from conftest import ROOT, TINY, run_cli, start_cli
from test_faults import wait_for_row

TORCHRUN = [str(Path(sys.executable).parent/'torchrun'), '--standalone', '--nproc_per_node', '2', '-m', 'mlm_explained']
ONE_THREAD = {'OMP_NUM_THREADS': '1', 'NUMBA_NUM_THREADS': '1'}   # two processes on two cores
RUN_FILES = {'config.json', 'tokenizer.json', 'checkpoint.pt', 'metrics.csv', 'loss_curve.png', 'summary.json'}
TOLERANCE = 1e-5   # relative, for the losses: two processes sum their gradients in another order than one process does (worst seen: 2e-7, at the 6 decimals of metrics.csv)
ACC_TOLERANCE = 1e-4   # absolute, for masked accuracy: a valid token whose top two scores are that close may flip (none seen)

def torchrun(*args, timeout=600, env=ONE_THREAD): return run_cli(*args, timeout=timeout, env=env, launcher=TORCHRUN)

def rows(run) -> list[dict]: return list(csv.DictReader((Path(run)/'metrics.csv').open()))

def assert_same_losses(a, b, tolerance=0.):
    ra, rb = rows(a), rows(b)
    assert [r['step'] for r in ra] == [r['step'] for r in rb] and [r['tokens'] for r in ra] == [r['tokens'] for r in rb]
    for x, y in zip(ra, rb):
        for k in ('train_loss', 'valid_loss', 'perplexity'):
            assert abs(float(x[k]) - float(y[k])) <= tolerance * abs(float(y[k])), (k, x, y)
        assert abs(float(x['masked_acc']) - float(y['masked_acc'])) <= (ACC_TOLERANCE if tolerance else 0.), (x, y)

@pytest.mark.parametrize('arch', ['bert', '3ml', 'exlm', 'masked-elmo', 'elmo'])
def test_two_processes_give_the_one_process_run(tmp_path, arch):
    config = ROOT/'tests'/('tiny_lstm.json' if 'elmo' in arch else 'tiny.json')
    args = ['pretrain', '--arch', arch, '--max-steps', 6, '--eval-every', 3, '--device', 'cpu', '--config', config]
    # the one-process run goes on beside the job (one thread each, so the numbers do not depend on it): CI's time, not the test's.
    # bert's three processes start on an empty data cache: all three write it at once, and each must get the same tables
    env = {**ONE_THREAD, **({'HF_DATASETS_CACHE': str(tmp_path/'cache')} if arch == 'bert' else {})}
    one = start_cli(*args, '--out', tmp_path/'one', env=env)
    two = torchrun(*args, '--out', tmp_path/'two', env=env)
    _, one_err = one.communicate(timeout=600)
    assert one.returncode == 0, one_err[-2000:]
    assert two.returncode == 0, two.stderr[-3000:]
    assert_same_losses(tmp_path/'two', tmp_path/'one', TOLERANCE)
    assert {p.name for p in (tmp_path/'two').iterdir()} == RUN_FILES                # and nothing else: no second writer's temporary files
    assert two.stdout.count('done: 6 steps') == 1 and two.stdout.count('"arch": ') == 1, two.stdout    # rank 0 alone reports
    summary = json.loads((tmp_path/'two'/'summary.json').read_text())
    assert summary['processes'] == 2 and json.loads((tmp_path/'one'/'summary.json').read_text())['processes'] == 1

def test_a_batch_that_does_not_split_is_one_line(tmp_path):
    res = torchrun('pretrain', '--batch-size', 7, '--max-steps', 2, '--device', 'cpu', '--out', tmp_path/'odd', *TINY)
    assert res.returncode != 0 and 'mlm-explained: error: --batch-size 7 does not split over 2 processes' in res.stderr, res.stderr[-2000:]
    assert 'mlm_explained/' not in res.stderr and not (tmp_path/'odd').exists()   # torchrun reports its failed processes; none of ours has a traceback

@pytest.fixture(scope='module')
def straight(tmp_path_factory):
    "A 2-process 150-step run with dropout (its RNG must continue too), done without interruption."
    tmp = tmp_path_factory.mktemp('ddp')
    config = tmp/'tiny_dropout.json'
    config.write_text(json.dumps({**json.loads((ROOT/'tests'/'tiny.json').read_text()), 'dropout': 0.1}))
    args = ['pretrain', '--max-steps', 150, '--eval-every', 50, '--device', 'cpu', '--config', config]
    res = torchrun(*args, '--out', tmp/'straight')
    assert res.returncode == 0, res.stderr[-2000:]
    return args, tmp/'straight'

def descendants(pid:int) -> list[int]:
    "Every process below `pid` (torchrun starts its workers in sessions of their own, so its process group is not the job)."
    children = {}
    for stat in Path('/proc').glob('[0-9]*/stat'):
        try: fields = stat.read_text().rsplit(')', 1)[1].split()
        except OSError: continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo: out += (kids := children.get(todo.pop(), [])); todo += kids
    return out

@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGKILL])
def test_a_signal_to_the_job_then_resume_gives_the_uninterrupted_run(tmp_path, sig, straight):
    args, done = straight
    run = tmp_path/'cut'
    proc = start_cli(*args, '--out', run, env=ONE_THREAD, launcher=TORCHRUN)
    wait_for_row(run, 50, proc)
    if sig == signal.SIGTERM: proc.send_signal(sig)           # to torchrun, which passes it on to its processes
    else:                                                     # the whole job at once: no process gets to write anything
        for pid in [proc.pid] + descendants(proc.pid): os.kill(pid, sig)
    _, err = proc.communicate(timeout=120)
    step = torch.load(run/'checkpoint.pt', weights_only=True)['step']
    if sig == signal.SIGTERM: assert 'mlm-explained: stopped: stopped by SIGTERM at step ' in err and step >= 50, err[-2000:]
    else: assert proc.returncode == -signal.SIGKILL and step in (50, 100)
    assert step < 150, 'the signal came too late to test anything'
    res = torchrun('pretrain', '--resume', '--device', 'cpu', '--out', run)
    assert res.returncode == 0, res.stderr[-2000:]
    assert_same_losses(run, done)                             # exactly: the same processes, the same order of sums
