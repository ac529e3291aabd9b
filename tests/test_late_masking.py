"3ML end to end: pretraining through the CLI with each decoder, fill-mask, the encoder loaded alone for fine-tuning, and bad settings."
import json, csv
import pytest, torch
from conftest import run_cli, ROOT

TINY_3ML = ['--config', str(ROOT/'tests'/'tiny_3ml.json')]

@pytest.mark.parametrize('decoder', ['self', 'cross', 'labelled'])
def test_3ml_pretrains_through_the_cli_and_its_encoder_loads_alone(tmp_path, decoder):
    out = tmp_path/decoder
    res = run_cli('pretrain', '--arch', '3ml', '--decoder', decoder, '--decoder-layers', 1, '--mask-rate', 0.5, '--exact-count',
                  '--eval-mask-rate', 0.15, '--max-steps', 10, '--out', out, *TINY_3ML)
    assert res.returncode == 0, res.stderr
    assert [int(r['step']) for r in csv.DictReader((out/'metrics.csv').open())] == [5, 10]
    config = json.loads((out/'config.json').read_text())
    assert (config['arch'], config['decoder'], config['decoder_layers'], config['mask_rate'], config['eval_mask_rate']) == ('3ml', decoder, 1, 0.5, 0.15)
    res = run_cli('fill-mask', out, 'the capital of france is [MASK] .', '-k', 2)
    assert res.returncode == 0 and res.stdout.startswith('[MASK] 1: '), res.stderr
    from mlm_explained.train import load_encoder, load_pretrained
    from mlm_explained.mlm import Encoder
    encoder, tok, cfg = load_encoder(out, 'cpu')
    model, _, _ = load_pretrained(out, 'cpu')
    assert isinstance(encoder, Encoder) and len(encoder.blocks) == 3                      # n_layers 3: the encoder; the decoder's 1 on top dropped
    assert len(model.decoder) == 1
    assert not any(k.startswith(('decoder', 'mask_emb')) for k in encoder.state_dict())
    ids = torch.tensor([tok.encode('the capital of france is paris .').ids])
    encoder.eval()
    with torch.no_grad(): h = encoder(ids)
    assert h.shape == (1, ids.shape[1], 32) and torch.isfinite(h).all()
    assert torch.equal(encoder.tok_emb.weight, model.encoder.tok_emb.weight)

def test_encoder_of_an_lstm_run_is_refused(tmp_path):
    out = tmp_path/'me'
    assert run_cli('pretrain', '--arch', 'masked-elmo', '--max-steps', 5, '--out', out, '--config', str(ROOT/'tests'/'tiny_lstm.json')).returncode == 0
    from mlm_explained.train import load_encoder
    from mlm_explained.core import UserError
    with pytest.raises(UserError, match='ElmoEmbedder'): load_encoder(out, 'cpu')

@pytest.mark.parametrize('args, message', [
    (['--arch', '3ml', '--decoder-layers', 0], 'decoder_layers must be at least 1'),
    (['--arch', '3ml', '--decoder', 'both'], "unknown decoder 'both'"),
    (['--arch', 'bert', '--decoder-layers', 1], 'unknown settings'),
    (['--arch', '3ml', '--eval-mask-rate', 1.5], 'outside (0, 1)'),
])
def test_bad_3ml_settings_get_one_line_errors(tmp_path, args, message):
    res = run_cli('pretrain', *args, '--max-steps', 2, '--out', tmp_path/'run', *TINY_3ML)
    assert res.returncode == 2 and message in res.stderr and 'Traceback' not in res.stderr, res.stderr

def test_a_3ml_run_folder_of_the_older_layout_still_loads(tmp_path):
    "Before the decoder went on top, 3ML carved it out of n_layers and called the labelled-positions decoder 'cross': such a folder loads as it was trained."
    out = tmp_path/'new'
    assert run_cli('pretrain', '--arch', '3ml', '--decoder', 'labelled', '--max-steps', 2, '--eval-every', 2, '--out', out, *TINY_3ML).returncode == 0
    from mlm_explained.train import load_pretrained, load_encoder
    model, _, _ = load_pretrained(out, 'cpu')
    config = json.loads((out/'config.json').read_text())
    old = {k: v for k, v in config.items() if k != 'decoder_on_top'}
    old.update(n_layers=4, decoder='cross')                                                # 3 + 1 of 4, as that version wrote it
    (out/'config.json').write_text(json.dumps(old))
    loaded, _, cfg = load_pretrained(out, 'cpu')                                           # the same weights fit the older layout's reading
    assert (cfg['decoder'], cfg['decoder_on_top']) == ('labelled', False)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
    assert len(load_encoder(out, 'cpu')[0].blocks) == 3
