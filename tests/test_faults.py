"""Trustworthy runs, end to end through the `mlm-explained` command: the same command gives the same run; a shared run folder
cannot run code and a damaged one gets one line; a diverging run stops before the bad step; SIGTERM checkpoints and
--resume continues exactly; a failed save (a real file-size limit) leaves the previous files intact."""
import csv, hashlib, json, os, re, resource, shutil, signal, subprocess, sys, time
from pathlib import Path
import pytest
import torch
from conftest import run_cli, start_cli, CLI, ROOT, TINY

LOSS_COLUMNS = ('step', 'tokens', 'train_loss', 'valid_loss', 'masked_acc', 'perplexity')

def losses(run) -> list[tuple]:
    "metrics.csv without its wall-clock column."
    return [tuple(row[k] for k in LOSS_COLUMNS) for row in csv.DictReader((Path(run)/'metrics.csv').open())]

def one_line_error(res, *words):
    "Exit status 2, one line on stderr naming the problem, no traceback."
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('mlm-explained: error: ') and 'Traceback' not in res.stderr, res.stderr
    for w in words: assert w in lines[0], lines[0]

def digest(path) -> str: return hashlib.sha256(Path(path).read_bytes()).hexdigest()

def cli(capsys, *args):
    "`mlm-explained ARGS` in this process (faster than a new one for the read-only checks); returns (exit status, stdout, stderr)."
    from mlm_explained.cli import main
    capsys.readouterr()
    try: main([str(a) for a in args]); code = 0
    except SystemExit as e: code = e.code
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)

@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    "A tiny 10-step run, copied by the tests that damage it."
    out = tmp_path_factory.mktemp('trained')/'run'
    res = run_cli('pretrain', '--max-steps', 10, '--out', out, *TINY)
    assert res.returncode == 0, res.stderr
    return out

def copy_of(run, tmp_path, name='copy') -> Path:
    return Path(shutil.copytree(run, tmp_path/name))

# 1. the same command twice, from scratch
def cache_files(cache:Path) -> list[str]: return sorted(str(p.relative_to(cache)) for p in cache.rglob('*'))

def test_the_same_command_gives_the_same_run(tmp_path):
    "The issue's command twice: the first run makes the data cache, the second loads it; a third, whose cache cannot be written, computes it all again."
    cache = tmp_path/'cache'; (tmp_path/'a_file').write_text('not a folder')
    made = {}
    for name, cache_dir in (('d1', cache), ('d2', cache), ('d3', tmp_path/'a_file')):
        res = run_cli('pretrain', '--max-steps', 20, '--eval-every', 10, '--out', tmp_path/name, env={'HF_DATASETS_CACHE': str(cache_dir)})
        assert res.returncode == 0, res.stderr
        made[name] = cache_files(cache)
    assert any(f.startswith('mlm_explained/tokenizers/') for f in made['d1']) and any(f.endswith('.arrow') and 'embedded-train' in f for f in made['d1'])
    assert made['d2'] == made['d1']                                   # the second run computed nothing again
    for other in ('d2', 'd3'):
        assert (tmp_path/'d1'/'tokenizer.json').read_bytes() == (tmp_path/other/'tokenizer.json').read_bytes()
        assert losses(tmp_path/'d1') == losses(tmp_path/other) and len(losses(tmp_path/'d1')) == 2

KEEPS_THREADS = '''
import sys, numpy as np, torch
torch.set_num_threads(2); x = torch.randn(512, 512); (x + 1).sum()  # torch has run a parallel op: the case where numba's pool start reset its count
torch.set_num_threads(1)
if sys.argv[1] == 'mask':
    from mlm_explained.masking import mask_fast, MaskingConfig
    from mlm_explained.data import TokenizerInfo
    mask_fast(np.full((4, 16), 9), np.ones((4, 16), np.int8), np.arange(4), MaskingConfig(), TokenizerInfo(vocab_size=50, pad_id=0, mask_id=4, n_special=5))
else:
    from mlm_explained.dag_loss import dag_log_likelihood, random_dag_problem
    em, logT, target_len, node_len = random_dag_problem(2, 3, 6)
    em.requires_grad_(); dag_log_likelihood(em, logT, target_len, node_len, impl='numba').sum().backward()
import numba; print(torch.get_num_threads(), numba.get_num_threads())
'''

@pytest.mark.parametrize('kernel', ['mask', 'dag'])
def test_numba_kernels_keep_torchs_thread_count(kernel):
    "torch.set_num_threads(1) holds through the numba kernels (whose pool start reset it to 2), and they run on 1 thread too: the count a run repeats under."
    env = {**os.environ, 'OMP_NUM_THREADS': '2', 'NUMBA_NUM_THREADS': '2'}
    res = subprocess.run([sys.executable, '-c', KEEPS_THREADS, kernel], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split() == ['1', '1'], res.stdout

# 3. safe loading
class Payload:
    "Unpickling this runs a shell command that creates a file: what a crafted checkpoint would do."
    def __init__(self, marker): self.marker = marker
    def __reduce__(self): return (os.system, (f'touch {self.marker}',))

def read_commands(run, tmp_path):
    "Every command that reads a run folder, as (name, CLI arguments)."
    mols = tmp_path/'mols.csv'
    mols.write_text('smiles,p_np\n' + '\n'.join(f'{s},{i % 2}' for i, s in enumerate(['CCO', 'c1ccccc1', 'CCN', 'CC(=O)O'] * 10)) + '\n')
    return [('fill-mask', ['fill-mask', run, 'the capital of france is [MASK] .']),
            ('resume', ['pretrain', '--resume', '--max-steps', 20, '--out', run]),
            ('finetune', ['finetune', run, mols, '--epochs', 1])]

def test_a_crafted_pickle_is_refused_and_its_payload_never_runs(trained, tmp_path, capsys):
    run = copy_of(trained, tmp_path)
    marker = tmp_path/'PAYLOAD_RAN'
    torch.save({'model': Payload(marker), 'step': 10}, run/'checkpoint.pt')       # a zip-format torch file with code inside
    for name, args in read_commands(run, tmp_path):
        one_line_error(cli(capsys, *args), 'refused to load', 'could run code', 'posix.system')
        assert not marker.exists(), f'{name} ran the payload'
    one_line_error(run_cli('fill-mask', run, 'the [MASK] .'), 'refused to load')   # and as a user runs it, in a process of its own
    import pickle
    with open(run/'checkpoint.pt', 'wb') as f: pickle.dump({'model': Payload(marker)}, f, protocol=2)   # a plain pickle
    one_line_error(cli(capsys, 'fill-mask', run, 'the [MASK] .'), 'refused to load')
    assert not marker.exists()
    from mlm_explained.train import load_pretrained      # from Python too
    from mlm_explained.core import UserError
    with pytest.raises(UserError, match='could run code'): load_pretrained(run)
    assert not marker.exists()

@pytest.mark.parametrize('damage', ['truncated', 'foreign', 'empty', 'wrong structure', 'other model'])
def test_a_damaged_checkpoint_gets_one_line_from_every_command(trained, tmp_path, damage, capsys):
    run = copy_of(trained, tmp_path)
    good = (run/'checkpoint.pt').read_bytes()
    if damage == 'truncated': (run/'checkpoint.pt').write_bytes(good[:len(good) // 2])
    elif damage == 'foreign': (run/'checkpoint.pt').write_bytes((ROOT/'tests'/'tiny.json').read_bytes())
    elif damage == 'empty': (run/'checkpoint.pt').write_bytes(b'')
    elif damage == 'wrong structure': torch.save({'weights': [torch.zeros(3)], 'step': 'ten'}, run/'checkpoint.pt')
    else:   # a real checkpoint whose tensors do not fit the config (another width)
        state = torch.load(run/'checkpoint.pt', weights_only=True)
        state['model'] = {k: v if k.endswith('tok_emb.weight') else torch.zeros(*(s + 1 for s in v.shape)) for k, v in state['model'].items()}
        torch.save(state, run/'checkpoint.pt')
    expected = {'truncated': 'truncated or not a checkpoint', 'foreign': 'truncated or not a checkpoint', 'empty': 'truncated or not a checkpoint',
                'wrong structure': 'is not an mlm_explained checkpoint', 'other model': 'does not fit the model of its config.json'}[damage]
    before = digest(run/'checkpoint.pt')
    for name, args in read_commands(run, tmp_path):
        one_line_error(cli(capsys, *args), expected)
    assert digest(run/'checkpoint.pt') == before                   # nothing was overwritten

def test_a_damaged_config_gets_one_line(trained, tmp_path, capsys):
    run = copy_of(trained, tmp_path)
    (run/'config.json').write_text('{"arch": "bert", "d_model": ')
    for name, args in read_commands(run, tmp_path): one_line_error(cli(capsys, *args), 'config.json is not valid JSON')

def test_a_checkpoint_of_the_earlier_format_still_loads(trained, tmp_path):
    "Before weights-only loading, checkpoints held fastcore's L in the optimiser settings and no metric rows."
    from fastcore.foundation import L
    run = copy_of(trained, tmp_path)
    state = torch.load(run/'checkpoint.pt', weights_only=True)
    old = {k: state[k] for k in ('model', 'step', 'tokens', 'stream_cursor', 'elapsed', 'torch_rng', 'arch')}
    old['opt'] = {'state': state['opt']['state'], 'hypers': L(state['opt']['hypers'])}
    torch.save(old, run/'checkpoint.pt')
    res = run_cli('fill-mask', run, 'the capital of france is [MASK] .', '-k', 2)
    assert res.returncode == 0 and res.stdout.startswith('[MASK] 1: '), res.stderr
    res = run_cli('pretrain', '--resume', '--max-steps', 15, '--out', run)
    assert res.returncode == 0, res.stderr
    assert [int(r[0]) for r in losses(run)] == [5, 10, 15]

# 4. non-finite losses
def test_a_diverging_run_stops_before_the_bad_step_and_keeps_its_last_good_checkpoint(tmp_path):
    out = tmp_path/'wild'
    res = run_cli('pretrain', '--lr', '1e4', '--max-steps', 200, '--eval-every', 2, '--out', out, *TINY)
    assert res.returncode == 3, (res.returncode, res.stderr[-1500:])
    line = res.stderr.strip().splitlines()[-1]
    assert line.startswith(('mlm-explained: error: training ', 'mlm-explained: error: validation loss')) and 'at step ' in line and 'lower --lr' in line, line
    assert 'Traceback' not in res.stderr
    rows = losses(out)
    state = torch.load(out/'checkpoint.pt', weights_only=True)
    assert rows and state['step'] == int(rows[-1][0]) < 200
    assert all(torch.isfinite(v).all() for v in state['model'].values())
    assert all(float(r[3]) == float(r[3]) and abs(float(r[3])) != float('inf') for r in rows)   # no NaN/inf valid loss was written
    bad_step = int(re.search(r'at step (\d+)', line).group(1))
    assert state['step'] < bad_step <= state['step'] + 2             # stopped within the interval after the checkpoint
    assert not (out/'summary.json').exists()                         # not reported as a finished run

def test_skip_nonfinite_skips_that_many_bad_batches_then_stops(tmp_path):
    # no evaluation before the divergence (at step 5 or so), so the guard on the training batches is what stops it
    res = run_cli('pretrain', '--lr', '1e4', '--max-steps', 200, '--eval-every', 100, '--skip-nonfinite', 2, '--out', tmp_path/'wild', *TINY)
    assert res.returncode == 3, res.stderr[-1500:]
    assert res.stderr.strip().splitlines()[-1].startswith('mlm-explained: error: training ')
    assert res.stdout.count('skipped a batch at step') == 2
    assert 'after skipping 2 bad batches' in res.stderr
    one_line_error(run_cli('pretrain', '--skip-nonfinite', -1, '--out', tmp_path/'neg'), '--skip-nonfinite must be 0 or more')

# 5. preemption
def wait_for_row(run, step, proc, timeout=300):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if (run/'metrics.csv').exists() and any(int(r[0]) >= step for r in losses(run)): return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise TimeoutError

@pytest.fixture(scope='module')
def signal_run(tmp_path_factory):
    "The arguments of a 60-step run with dropout (its RNG must continue too), and that run done without interruption."
    tmp = tmp_path_factory.mktemp('signals')
    config = tmp/'tiny_dropout.json'
    config.write_text(json.dumps({**json.loads((ROOT/'tests'/'tiny.json').read_text()), 'dropout': 0.1}))
    args = ['pretrain', '--max-steps', 60, '--eval-every', 20, '--config', config]
    straight = run_cli(*args, '--out', tmp/'straight')
    assert straight.returncode == 0, straight.stderr
    return args, tmp/'straight'

@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGKILL])
def test_a_signal_then_resume_gives_the_uninterrupted_run(tmp_path, sig, signal_run):
    args, straight = signal_run
    run = tmp_path/'cut'
    proc = start_cli(*args, '--out', run)
    wait_for_row(run, 20, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    state = torch.load(run/'checkpoint.pt', weights_only=True)
    if sig == signal.SIGTERM:
        assert proc.returncode == 143, err[-1500:]
        line = err.strip().splitlines()[-1]
        assert line.startswith('mlm-explained: stopped: stopped by SIGTERM at step ') and '--resume' in line, line
        assert state['step'] == int(re.search(r'at step (\d+)', line).group(1)) >= 20     # a checkpoint at the step it was on
    else: assert proc.returncode == -signal.SIGKILL and state['step'] in (20, 40)
    assert state['step'] < 60, 'the signal came too late to test anything'
    res = run_cli('pretrain', '--resume', '--out', run)
    assert res.returncode == 0, res.stderr
    assert losses(run) == losses(straight)

# 6. failed saves
def limited(limit_bytes):
    def set_limit():   # in the child only: a real RLIMIT_FSIZE, so writes past it fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return set_limit

def test_a_failed_save_leaves_the_previous_files_intact(trained, tmp_path):
    run = copy_of(trained, tmp_path)
    kept = {name: digest(run/name) for name in ('checkpoint.pt', 'metrics.csv', 'tokenizer.json')}
    config = json.loads((run/'config.json').read_text())
    limit = (run/'checkpoint.pt').stat().st_size // 2      # room for config.json and tokenizer.json, not for a checkpoint
    assert limit > max((run/n).stat().st_size for n in ('config.json', 'tokenizer.json', 'metrics.csv'))
    res = subprocess.run(CLI + ['pretrain', '--resume', '--max-steps', '20', '--out', str(run)], capture_output=True, text=True,
                         cwd=ROOT, preexec_fn=limited(limit), timeout=600)
    assert res.returncode == 4, (res.returncode, res.stderr[-1500:])
    line = res.stderr.strip().splitlines()[-1]
    assert line.startswith('mlm-explained: error: could not write checkpoint.pt') and 'File too large' in line, line
    assert 'the checkpoint of step 10, metrics.csv and config.json are intact' in line and 'Traceback' not in res.stderr
    assert {name: digest(run/name) for name in kept} == kept
    assert json.loads((run/'config.json').read_text()) == {**config, 'max_steps': 20}   # rewritten whole by the resume, before the failed save
    assert sorted(p.name for p in run.iterdir()) == sorted(p.name for p in trained.iterdir())   # no temporary file left behind
    res = run_cli('pretrain', '--resume', '--max-steps', 20, '--out', run)     # and the run goes on once there is room
    assert res.returncode == 0, res.stderr
    assert [int(r[0]) for r in losses(run)] == [5, 10, 15, 20]

def test_a_time_budget_holds_within_seconds(tmp_path):
    "--max-minutes is checked at every optimiser step and leaves room for the closing evaluation: no longer one evaluation interval late."
    import time
    from mlm_explained.train import pretrain, read_metrics
    budget = 8.
    t0 = time.time()
    summary = pretrain({'max_steps': 100000, 'eval_every': 100000, 'max_minutes': budget / 60, 'd_model': 32, 'n_layers': 1, 'n_heads': 2, 'd_ff': 64,
                        'seq_len': 64, 'batch_size': 8, 'tokenizer_vocab': 512}, out=tmp_path/'run', progress=False)
    rows = read_metrics(tmp_path/'run')
    assert 0 < summary['steps'] < 100000 and rows[-1]['step'] == summary['steps']        # stopped mid-interval, evaluated, checkpointed
    assert rows[-1]['seconds'] <= budget + 3, rows[-1]                                     # training and its evaluation, within seconds of the budget
    assert time.time() - t0 < budget + 30                                                  # data preparation and writing the folder on top

def test_a_training_time_budget_leaves_out_evaluations_and_completes_its_schedule(tmp_path):
    "--max-train-minutes counts training only (so an arch whose evaluation is slow is not charged for it), and the learning rate follows the clock to 0."
    from mlm_explained.train import pretrain, read_metrics
    budget = 6.
    summary = pretrain({'max_steps': 10 ** 7, 'eval_every': 15, 'max_train_minutes': budget / 60, 'd_model': 32, 'n_layers': 1, 'n_heads': 2, 'd_ff': 64,
                        'seq_len': 64, 'batch_size': 8, 'tokenizer_vocab': 512}, out=tmp_path/'run', progress=False)
    rows = read_metrics(tmp_path/'run')
    assert 0 < summary['steps'] < 10 ** 7 and len(rows) >= 2                              # several evaluations happened inside the budget
    assert budget - 1 <= rows[-1]['train_seconds'] <= budget + 2 and rows[-1]['train_seconds'] < rows[-1]['seconds']   # ... and were not counted
    assert all(a['train_seconds'] < b['train_seconds'] for a, b in zip(rows, rows[1:]))
    assert rows[-1]['valid_loss'] < rows[0]['valid_loss']                                 # it learned: the schedule did not stay in its warm-up

@pytest.mark.parametrize('flag', ['--max-minutes', '--max-train-minutes'])
def test_a_time_budget_must_be_positive(tmp_path, flag):
    from test_bad_input import assert_one_line_error
    assert_one_line_error(run_cli('pretrain', flag, '0', '--out', tmp_path/'out'), 'must be above 0', 'positive number of minutes')
