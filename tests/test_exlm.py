"ExLM end to end: pretraining through the CLI, fill-mask, the encoder for fine-tuning, the DAG loss kernels against brute force, bad settings."
import json, csv, math
import pytest, torch
from conftest import run_cli, ROOT

TINY = ['--config', str(ROOT/'tests'/'tiny.json')]

def test_exlm_pretrains_through_the_cli_fills_masks_and_fine_tunes(tmp_path):
    out = tmp_path/'exlm'
    res = run_cli('pretrain', '--arch', 'exlm', '--expand-states', 2, '--exact-count', '--max-steps', 10, '--out', out, *TINY)
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader((out/'metrics.csv').open()))
    assert [int(r['step']) for r in rows] == [5, 10]
    assert all(math.isfinite(float(r['valid_loss'])) and 0 <= float(r['masked_acc']) <= 1 and float(r['entropy']) > 0 for r in rows)
    config = json.loads((out/'config.json').read_text())
    assert (config['arch'], config['expand_states']) == ('exlm', 2)
    res = run_cli('fill-mask', out, 'the capital of france is [MASK] .', '-k', 2)
    assert res.returncode == 0 and res.stdout.startswith('[MASK] 1: '), res.stderr
    from mlm_explained.train import load_encoder
    from mlm_explained.exlm import ExLMEncoder
    from mlm_explained.mlm import EncoderClassifier
    encoder, tok, cfg = load_encoder(out, 'cpu')
    assert isinstance(encoder, ExLMEncoder)
    ids = torch.tensor([tok.encode('the capital of france is paris .').ids])
    encoder.eval()
    with torch.no_grad(): h = encoder(ids)
    assert h.shape == (1, ids.shape[1] + 2 * (2 - 1), 32) and torch.isfinite(h).all()   # only [CLS] and [SEP] expanded
    pair = torch.tensor([tok.encode('paris .').ids[:-1] + [3] + tok.encode('france .', add_special_tokens=False).ids + [3]])
    with torch.no_grad(): assert encoder(pair).shape[1] == pair.shape[1] + 3 * (2 - 1)          # [CLS] and both [SEP]s of a pair
    assert EncoderClassifier(encoder, 3)(ids).shape == (1, 3)

def test_dag_loss_numba_and_torch_match_brute_force_with_gradients():
    from mlm_explained.dag_loss import random_dag_problem, dag_log_likelihood, dag_log_likelihood_brute
    for seed in range(5):
        em, logT, tl, nl = random_dag_problem(6, 6, 10, seed=seed)
        grads = {}
        for impl in ('torch', 'numba'):
            e, t = em.clone().requires_grad_(), logT.clone().requires_grad_()
            ll = dag_log_likelihood(e, t, tl, nl, impl); ll.sum().backward()
            grads[impl] = (ll.detach(), e.grad, torch.where(torch.isinf(logT), 0., t.grad))
        for b in range(6):
            M, L = int(tl[b]), int(nl[b])
            e, t = em[b, :M, :L].clone().requires_grad_(), logT[b, :L, :L].clone().requires_grad_()
            ll = dag_log_likelihood_brute(e, t); ll.backward()
            for impl in ('torch', 'numba'):
                torch.testing.assert_close(grads[impl][0][b], ll.detach())
                torch.testing.assert_close(grads[impl][1][b, :M, :L], e.grad)
                torch.testing.assert_close(grads[impl][2][b, :L, :L], torch.nan_to_num(t.grad, nan=0.))

@pytest.mark.parametrize('args, message', [
    (['--arch', 'exlm', '--expand-states', 0], '--expand-states must be between 1 and 16'),
    (['--arch', 'bert', '--expand-states', 4], 'unknown settings'),
    (['--arch', 'exlm', 'HEAD6'], 'head size divisible by 4'),
])
def test_bad_exlm_settings_get_one_line_errors(tmp_path, args, message):
    if 'HEAD6' in args:                                  # 24 wide, 4 heads: a head of 6 cannot be split into two rotary halves
        (tmp_path/'head6.json').write_text(json.dumps({**json.loads((ROOT/'tests'/'tiny.json').read_text()), 'd_model': 24, 'n_heads': 4}))
        args = [a for a in args if a != 'HEAD6'] + ['--config', tmp_path/'head6.json']
    else: args = args + TINY
    res = run_cli('pretrain', *args, '--max-steps', 2, '--out', tmp_path/'run')
    assert res.returncode == 2 and message in res.stderr and 'Traceback' not in res.stderr, res.stderr

def test_an_exlm_run_folder_of_the_earlier_defaults_still_loads(tmp_path):
    "Before the paper's transition scorer was the default, a run had `link_prior` (our bonus) and the summed scorer: such a folder loads as it was trained."
    (tmp_path/'ours.json').write_text(json.dumps({**json.loads((ROOT/'tests'/'tiny.json').read_text()), 'link_scorer': 'sum', 'link_bonus': 3.0}))
    out = tmp_path/'exlm'
    assert run_cli('pretrain', '--arch', 'exlm', '--expand-states', 2, '--max-steps', 2, '--eval-every', 2, '--out', out, '--config', tmp_path/'ours.json').returncode == 0
    from mlm_explained.train import load_pretrained
    model, _, _ = load_pretrained(out, 'cpu')
    config = json.loads((out/'config.json').read_text())
    old = {k: v for k, v in config.items() if k not in ('link_scorer', 'link_bonus', 'eval_decode', 'rope_2d', 'link_grad')}
    (out/'config.json').write_text(json.dumps({**old, 'link_prior': 3.0}))
    loaded, _, cfg = load_pretrained(out, 'cpu')
    assert (cfg['link_scorer'], cfg['link_bonus'], cfg['eval_decode']) == ('sum', 3.0, 'best_path') and 'link_prior' not in cfg
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
