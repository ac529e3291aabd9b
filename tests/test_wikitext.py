"Real data: WikiText-2 from the shared data folder (skipped when it is absent)."
import json
import pytest
from conftest import run_cli, TINY

def test_wikitext2_loads_tokenizes_and_trains(tmp_path, shared_data):
    train, valid = shared_data/'wikitext-2-tokens'/'wiki.train.tokens.gz', shared_data/'wikitext-2-tokens'/'wiki.valid.tokens'
    res = run_cli('pretrain', '--data', train, '--valid-data', valid, '--max-steps', 5, '--out', tmp_path/'wiki', *TINY)
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads((tmp_path/'wiki'/'summary.json').read_text())
    config = json.loads((tmp_path/'wiki'/'config.json').read_text())
    assert config['vocab_size'] == 512                      # a real corpus fills the whole requested vocabulary
    assert summary['steps'] == 5 and 0 < summary['baselines']['unigram guess'] < 0.2

@pytest.mark.slow
def test_wikitext2_tiny_model_learns(tmp_path, shared_data):
    "A few minutes of training on WikiText-2 must beat the unigram guess clearly."
    train, valid = shared_data/'wikitext-2-tokens'/'wiki.train.tokens.gz', shared_data/'wikitext-2-tokens'/'wiki.valid.tokens'
    res = run_cli('pretrain', '--data', train, '--valid-data', valid, '--max-steps', 600, '--eval-every', 100, '--out', tmp_path/'wiki')
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads((tmp_path/'wiki'/'summary.json').read_text())
    assert summary['final']['masked_acc'] > 1.5 * summary['baselines']['unigram guess']
