"""--streaming end to end: a streamed run repeats exactly, a SIGKILL or SIGTERM then --resume gives the uninterrupted run (the
stream continues from the checkpoint's position), the Hub path fails offline with one line at the network call, and bad
settings are one line with exit status 2."""
import json, signal
import pytest
import torch
from conftest import run_cli, start_cli, TINY
from test_faults import losses, one_line_error, wait_for_row

@pytest.fixture(scope='module')
def corpus(tmp_path_factory):
    "The embedded train split as a text file (documents separated by blank lines): six windows of 1000 documents."
    from mlm_explained.data import embedded_corpus
    path = tmp_path_factory.mktemp('stream')/'corpus.txt'
    path.write_text('\n\n'.join(embedded_corpus('train')['text']) + '\n')
    return path

def streamed(corpus, *extra):
    return ['pretrain', '--streaming', '--data', corpus, '--valid-data', 'embedded', '--stream-window', 1000, *TINY, *extra]

# 4,800 blocks in 300 steps: into the stream's later windows in half the steps of tiny.json's batch of 8
LONG = ['--batch-size', 16, '--max-steps', 300, '--eval-every', 100]

@pytest.fixture(scope='module')
def straight(corpus, tmp_path_factory):
    "A 300-step streamed run of 16-block batches (past the first window of about 1,700 blocks), done without interruption."
    out = tmp_path_factory.mktemp('straight')/'run'
    res = run_cli(*streamed(corpus, *LONG, '--out', out))
    assert res.returncode == 0, res.stderr[-2000:]
    return out

def test_a_streamed_run_repeats_and_reads_the_stream(corpus, straight, tmp_path):
    res = run_cli(*streamed(corpus, *LONG, '--out', tmp_path/'again'))
    assert res.returncode == 0, res.stderr[-2000:]
    assert losses(tmp_path/'again') == losses(straight) and len(losses(straight)) == 3
    state = torch.load(straight/'checkpoint.pt', weights_only=True)['stream_state']
    assert state['window'] >= 1 and state['pass'] == 0, state                 # 4,800 blocks: into the stream's later windows
    assert json.loads((straight/'summary.json').read_text())['train_blocks'] is None   # a stream has no length

@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGKILL])
def test_a_signal_then_resume_continues_the_stream(corpus, straight, tmp_path, sig):
    run = tmp_path/'cut'
    proc = start_cli(*streamed(corpus, *LONG, '--out', run))
    wait_for_row(run, 100, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    step = torch.load(run/'checkpoint.pt', weights_only=True)['step']
    assert (proc.returncode == 143) if sig == signal.SIGTERM else (proc.returncode == -signal.SIGKILL), err[-1500:]
    assert 100 <= step < 300, step
    res = run_cli('pretrain', '--resume', '--out', run)
    assert res.returncode == 0, res.stderr[-2000:]
    assert losses(run) == losses(straight)

def test_the_hub_path_fails_offline_at_the_network_call(tmp_path):
    res = run_cli('pretrain', '--streaming', '--data', 'hub:wikitext:wikitext-103-raw-v1', '--out', tmp_path/'hub', *TINY, env={'HF_HUB_OFFLINE': '1'})
    one_line_error(res, 'cannot reach the Hugging Face Hub to stream')
    assert not (tmp_path/'hub').exists()

@pytest.mark.parametrize('args, words', [(['--stream-window', 1500], '--stream-window 1500 is not a multiple of 1000'),
                                         (['--stream-workers', -1], '--stream-workers must be 0 or more'),
                                         (['--tokenizer-docs', 0], '--tokenizer-docs must be at least 1')])
def test_bad_stream_settings_are_one_line(corpus, tmp_path, args, words):
    one_line_error(run_cli('pretrain', '--streaming', '--data', corpus, '--valid-data', 'embedded', *args, '--out', tmp_path/'bad', *TINY), words)

def test_a_stream_without_validation_is_one_line(corpus, tmp_path):
    one_line_error(run_cli('pretrain', '--streaming', '--data', corpus, '--out', tmp_path/'novalid', *TINY), 'needs a validation corpus')
