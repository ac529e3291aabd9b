"""Every bad input named in the foundation issue: one clear line on stderr, exit status 2, nothing in --out damaged."""
import gzip, time, hashlib
from pathlib import Path
import pytest
from conftest import run_cli, TINY

def assert_one_line_error(res, *needles):
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, res.stderr[-2000:]
    assert lines[0].startswith('mlm-explained: error: ') and 'Traceback' not in res.stderr
    for n in needles: assert n in lines[0], lines[0]

def test_missing_path(tmp_path):
    assert_one_line_error(run_cli('pretrain', '--data', tmp_path/'nope.txt', '--out', tmp_path/'out'), 'does not exist', 'fix:')
    assert not (tmp_path/'out').exists()

@pytest.mark.parametrize('content', ['', '   \n\n\t  \n'])
def test_empty_or_whitespace_corpus(tmp_path, content):
    (tmp_path/'c.txt').write_text(content)
    assert_one_line_error(run_cli('pretrain', '--data', tmp_path/'c.txt', '--out', tmp_path/'out'), 'empty or only whitespace')
    assert not (tmp_path/'out').exists()

@pytest.mark.parametrize('gz', [False, True])
def test_not_utf8(tmp_path, gz):
    raw = 'na\xefve caf\xe9\n'.encode('latin-1') * 3
    path = tmp_path/('c.txt.gz' if gz else 'c.txt')
    path.write_bytes(gzip.compress(raw) if gz else raw)
    assert_one_line_error(run_cli('pretrain', '--data', path, '--out', tmp_path/'out'), 'not UTF-8', 'iconv')

def test_corpus_shorter_than_one_block(tmp_path):
    (tmp_path/'c.txt').write_text('just a few words here .\n')
    assert_one_line_error(run_cli('pretrain', '--data', tmp_path/'c.txt', '--seq-len', 128, '--out', tmp_path/'out'),
                          'fewer than one block', '--seq-len')

def test_unknown_arch(tmp_path):
    assert_one_line_error(run_cli('pretrain', '--arch', 'gpt2', '--out', tmp_path/'out'), "unknown --arch 'gpt2'", 'bert')

@pytest.mark.parametrize('rate', ['0', '1', '1.5', '-0.1'])
def test_mask_rate_outside_unit_interval(tmp_path, rate):
    assert_one_line_error(run_cli('pretrain', '--mask-rate', rate, '--out', tmp_path/'out'), 'outside (0, 1)', '--mask-rate')

def test_mask_rate_not_a_number(tmp_path):
    assert_one_line_error(run_cli('pretrain', '--mask-rate', 'lots', '--out', tmp_path/'out'), 'invalid float value')

def test_hub_name_offline_fails_fast(tmp_path):
    t0 = time.time()
    res = run_cli('pretrain', '--data', 'hub:wikitext:wikitext-2-raw-v1', '--out', tmp_path/'out', env={'HF_HUB_OFFLINE': '0'})
    from mlm_explained.data import hub_reachable
    if hub_reachable(): pytest.skip('the Hub is reachable from here: the offline path cannot be exercised')
    assert_one_line_error(res, 'cannot reach the Hugging Face Hub', 'local file')
    assert time.time() - t0 < 60     # fails at the connection check, not after retries

def _digest(folder:Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}

def test_checkpoint_vocab_mismatch_and_nothing_damaged(tmp_path):
    out = tmp_path/'run'
    assert run_cli('pretrain', '--max-steps', 5, '--out', out, *TINY).returncode == 0
    from mlm_explained.data import train_tokenizer, save_tokenizer
    save_tokenizer(train_tokenizer(['completely different text for another vocabulary'] * 20, vocab_size=80), out/'tokenizer.json')
    before = _digest(out)
    assert_one_line_error(run_cli('pretrain', '--max-steps', 10, '--out', out, '--resume'), 'vocabulary of', 'tokenizer')
    assert _digest(out) == before

def test_existing_run_is_not_overwritten(tmp_path):
    out = tmp_path/'run'
    assert run_cli('pretrain', '--max-steps', 5, '--out', out, *TINY).returncode == 0
    before = _digest(out)
    assert_one_line_error(run_cli('pretrain', '--max-steps', 5, '--out', out, *TINY), 'already holds a run', '--resume')
    assert_one_line_error(run_cli('pretrain', '--max-steps', 0, '--resume', '--out', out), 'must be at least 1')
    assert _digest(out) == before

def test_resume_without_checkpoint(tmp_path):
    assert_one_line_error(run_cli('pretrain', '--resume', '--out', tmp_path/'empty'), 'nothing to resume')

def test_bad_config_file(tmp_path):
    (tmp_path/'c.json').write_text('{"d_modle": 64}')
    assert_one_line_error(run_cli('pretrain', '--config', tmp_path/'c.json', '--out', tmp_path/'out'), "unknown settings ['d_modle']")
    (tmp_path/'broken.json').write_text('{not json')
    assert_one_line_error(run_cli('pretrain', '--config', tmp_path/'broken.json', '--out', tmp_path/'out'), 'not valid JSON')

def test_fill_mask_needs_a_run_and_a_blank(tmp_path):
    assert_one_line_error(run_cli('fill-mask', tmp_path, 'a [MASK] here'), 'not a run folder')
