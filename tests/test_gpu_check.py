"""The GPU check (`make gpu-check`, tools/gpu_check.py) run without a GPU: the kernels in numba's CUDA simulator, the
benchmarks and a bf16 pretraining of every arch on the CPU, small. Every step must pass and the table must hold them all."""
import subprocess, sys
import pytest
from conftest import ROOT

ARCHS = ('bert', '3ml', 'exlm', 'masked-elmo', 'elmo')

@pytest.mark.slow            # about a minute: its steps are tested one by one elsewhere; this checks the script that runs them
def test_the_gpu_check_runs_without_a_gpu(tmp_path):
    res = subprocess.run([sys.executable, str(ROOT/'tools'/'gpu_check.py'), '--cpu', '--quick', '--out', str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=1200)
    table = (tmp_path/'gpu_check.md').read_text()
    assert res.returncode == 0, table + res.stderr[-2000:]
    rows = {r.split(' | ')[0][2:]: r for r in table.splitlines() if r.startswith('| ') and not r.startswith('| step')}
    assert list(rows) == ['environment', 'LSTM kernels', 'LSTM benchmark', 'throughput'] + [f'pretrain {a}' for a in ARCHS]
    assert all(' | ok | ' in r for r in rows.values()), table
    assert 'numba CUDA simulator' in rows['LSTM kernels'] and 'agree to' in rows['LSTM kernels']
    assert 'fused' in rows['LSTM benchmark'] and 'torch LSTM kernel' in rows['LSTM benchmark']     # both sides of the benchmark
    assert 'BertForMaskedLM at tiny' in rows['throughput']
    assert all('done: 5 steps' in rows[f'pretrain {a}'] for a in ARCHS)
    assert all((tmp_path/'runs'/a/'summary.json').exists() for a in ARCHS)      # each pretraining wrote its run
