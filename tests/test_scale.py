"""The options of scale, end to end through the command: --precision reaches the run and bf16 tracks fp32; --dry-run prints a
plan and writes nothing; its bad inputs get one line and exit status 2; --compile trains every arch to eager's losses (slow)."""
import json
import pytest
from conftest import run_cli, ROOT, TINY
from test_distributed import rows

def valid_losses(run) -> list[float]: return [float(r['valid_loss']) for r in rows(run)]

def test_bf16_tracks_fp32_through_the_command(tmp_path):
    for precision in ('fp32', 'bf16'):
        res = run_cli('pretrain', '--precision', precision, '--max-steps', 20, '--eval-every', 10, '--out', tmp_path/precision, *TINY)
        assert res.returncode == 0, res.stderr[-2000:]
        assert json.loads((tmp_path/precision/'config.json').read_text())['precision'] == precision
    for a, b in zip(valid_losses(tmp_path/'bf16'), valid_losses(tmp_path/'fp32')): assert abs(a - b) < 0.02 * b, (a, b)

def test_a_dry_run_prints_the_plan_and_writes_nothing(tmp_path):
    res = run_cli('pretrain', '--config', 'exlm-base', '--dry-run', '--on', 'a100', '--gpus', 8, '--out', tmp_path/'never')
    assert res.returncode == 0, res.stderr[-2000:]
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith('exlm-base: ') and '524,288 tokens' in lines[0], res.stdout
    assert '23,000 steps' in lines[2] and 'on 8 a100 at 40% MFU of 312 TFLOP/s' in lines[2], res.stdout
    assert not (tmp_path/'never').exists()

@pytest.mark.parametrize('args, words', [(['--on', 'tpu'], "unknown device 'tpu'"), (['--mfu', '1.5'], '--mfu must be in (0, 1]'),
                                         (['--on', 't4', '--precision', 'bf16'], 'a t4 has no bf16'), (['--gpus', '3'], 'does not split over 3 GPUs')])
def test_bad_dry_runs_are_one_line(tmp_path, args, words):
    res = run_cli('pretrain', '--dry-run', *args, *TINY)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and words in res.stderr, res.stderr[-2000:]

@pytest.mark.slow
@pytest.mark.parametrize('arch', ['bert', '3ml', 'exlm', 'masked-elmo', 'elmo'])
def test_compile_gives_the_eager_run(tmp_path, arch):
    config = ROOT/'tests'/('tiny_lstm.json' if 'elmo' in arch else 'tiny.json')
    for name, extra in (('eager', []), ('compiled', ['--compile'])):
        res = run_cli('pretrain', '--arch', arch, '--max-steps', 10, '--eval-every', 5, '--out', tmp_path/name, '--config', config, *extra, timeout=1800)
        assert res.returncode == 0, res.stderr[-2000:]
    for a, b in zip(valid_losses(tmp_path/'compiled'), valid_losses(tmp_path/'eager')): assert abs(a - b) < 1e-3 * b, (a, b)
