"End-to-end checks of the `mlm-explained` command: a real run, its outputs, resume and fill-mask."
import json, csv
from conftest import run_cli, TINY

def test_pretrain_writes_a_complete_run_folder(tmp_path):
    out = tmp_path/'run'
    res = run_cli('pretrain', '--arch', 'bert', '--data', 'embedded', '--max-steps', 10, '--out', out, *TINY)
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in out.iterdir()) == ['checkpoint.pt', 'config.json', 'loss_curve.png', 'metrics.csv', 'summary.json', 'tokenizer.json']
    rows = list(csv.DictReader((out/'metrics.csv').open()))
    assert [int(r['step']) for r in rows] == [5, 10]
    assert list(rows[0]) == ['step', 'tokens', 'train_loss', 'valid_loss', 'masked_acc', 'perplexity', 'seconds', 'train_seconds']
    assert all(0 < float(r['train_seconds']) < float(r['seconds']) for r in rows)   # evaluations are not training time
    summary = json.loads((out/'summary.json').read_text())
    assert summary['steps'] == 10 and summary['tokens_seen'] == 10 * 8 * 64
    assert 0 < summary['baselines']['unigram guess'] < summary['baselines']['ceiling (single mask)'] < 1
    config = json.loads((out/'config.json').read_text())
    assert config['d_model'] == 32 and config['vocab_size'] > 100 and config['mask_rate'] == 0.15
    assert (out/'loss_curve.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert 'done: 10 steps' in res.stdout

def test_resume_continues_and_fill_mask_answers(tmp_path):
    out = tmp_path/'run'
    assert run_cli('pretrain', '--max-steps', 5, '--out', out, *TINY).returncode == 0
    res = run_cli('pretrain', '--max-steps', 10, '--out', out, '--resume')
    assert res.returncode == 0, res.stderr
    assert [int(r['step']) for r in csv.DictReader((out/'metrics.csv').open())] == [5, 10]
    res = run_cli('fill-mask', out, 'the capital of france is [MASK] .', '-k', 3)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith('[MASK] 1: ') and res.stdout.count('(') == 3

def test_local_text_folder_and_saved_dataset(tmp_path):
    import datasets
    docs = [f'the capital of france is paris and line {i} says something new .' for i in range(300)]
    (tmp_path/'texts').mkdir(); (tmp_path/'texts'/'a.txt').write_text('\n'.join(docs[:150])); (tmp_path/'texts'/'b.txt').write_text('\n'.join(docs[150:]))
    res = run_cli('pretrain', '--data', tmp_path/'texts', '--max-steps', 2, '--out', tmp_path/'r1', *TINY, '--tokenizer', 'bpe')
    assert res.returncode == 0, res.stderr
    datasets.Dataset.from_dict({'text': docs}).save_to_disk(str(tmp_path/'saved'))
    res = run_cli('pretrain', '--data', tmp_path/'saved', '--max-steps', 2, '--out', tmp_path/'r2', *TINY)
    assert res.returncode == 0, res.stderr
    held_out = json.loads((tmp_path/'r2'/'summary.json').read_text())
    assert held_out['valid_blocks'] >= 1 and held_out['train_blocks'] > 10 * held_out['valid_blocks'] // 2   # 5% held out
    # a DatasetDict with its own validation split: validation comes from that split, training keeps every block
    datasets.DatasetDict({'train': datasets.Dataset.from_dict({'text': docs}),
                          'validation': datasets.Dataset.from_dict({'text': docs[:60]})}).save_to_disk(str(tmp_path/'saved_dict'))
    res = run_cli('pretrain', '--data', tmp_path/'saved_dict', '--max-steps', 2, '--out', tmp_path/'r3', *TINY)
    assert res.returncode == 0, res.stderr
    own_split = json.loads((tmp_path/'r3'/'summary.json').read_text())
    assert own_split['train_blocks'] == held_out['train_blocks'] + held_out['valid_blocks']
    assert 0 < own_split['valid_blocks'] < held_out['train_blocks'] // 3
