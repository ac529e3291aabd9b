"The LSTM archs end to end: the fused cell on the CPU and in numba's CUDA simulator, and Masked ELMo / ELMo through the CLI."
import os, sys, json, csv, subprocess
import pytest, torch
from conftest import run_cli, ROOT

TINY_LSTM = ['--config', str(ROOT/'tests'/'tiny_lstm.json')]

def test_fused_cpu_layer_matches_reference_with_gradcheck():
    from mlm_explained.lstm_cells import check_fused_lstm
    assert check_fused_lstm('cpu', n_cases=6, seed=1) < 1e-9

@pytest.mark.parametrize('proj', [0, 32])
def test_a_large_float32_layer_matches_the_reference(proj):
    "Steps of PARALLEL_MIN elements or more run the kernels that split rows over the cores (with 2 threads): values and gradients."
    from mlm_explained.lstm_cells import LSTMLayer, PARALLEL_MIN, parallel_steps
    torch.manual_seed(0)
    T, B, I, H = 12, 64, 48, 128
    assert B * H >= PARALLEL_MIN
    fused, ref = LSTMLayer(I, H, proj), LSTMLayer(I, H, proj, impl='reference')
    ref.load_state_dict(fused.state_dict())
    x = torch.randn(T, B, I, requires_grad=True)
    def outputs_and_grads(layer):
        out, (h_T, c_T) = layer(x)
        return [out, c_T, *torch.autograd.grad((out * out).sum() + c_T.sum(), [x, *layer.parameters()])]
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert parallel_steps('cpu', B, H)
        ours, expected = outputs_and_grads(fused), outputs_and_grads(ref)
    finally: torch.set_num_threads(threads)
    for a, b in zip(ours, expected): assert (a - b).abs().max() <= 1e-4 * max(1., b.abs().max()), (a - b).abs().max()

def test_cuda_kernels_match_reference_in_the_simulator():
    # the simulator must be on before numba is imported: a fresh process
    code = ('from mlm_explained.lstm_cells import check_fused_lstm, simulating_cuda\n'
            'assert simulating_cuda()\nprint(check_fused_lstm("cuda", n_cases=6, seed=2))')
    res = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=600,
                         env={**os.environ, 'NUMBA_ENABLE_CUDASIM': '1'})
    assert res.returncode == 0, res.stderr[-3000:]
    assert float(res.stdout.split()[-1]) < 1e-9

@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')
def test_cuda_kernels_on_a_gpu():
    from mlm_explained.lstm_cells import check_fused_lstm
    assert check_fused_lstm('cuda', n_cases=8) < 1e-9

def test_cuda_backend_on_cpu_tensors_says_how_to_simulate():
    from mlm_explained.lstm_cells import LSTMLayer, simulating_cuda
    from mlm_explained.core import UserError
    if simulating_cuda(): pytest.skip('the simulator is on in this process')
    with pytest.raises(UserError, match='NUMBA_ENABLE_CUDASIM'): LSTMLayer(4, 4, backend='cuda')(torch.randn(3, 2, 4))

@pytest.mark.parametrize('arch', ['masked-elmo', 'elmo'])
def test_lstm_archs_pretrain_through_the_cli(tmp_path, arch):
    out = tmp_path/arch
    res = run_cli('pretrain', '--arch', arch, '--max-steps', 10, '--out', out, *TINY_LSTM)
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader((out/'metrics.csv').open()))
    assert [int(r['step']) for r in rows] == [5, 10]
    if arch == 'elmo':   # ELMo's own metrics: a perplexity per direction, in the csv and in the printed lines
        assert all(1 < float(r[k]) < float(r['perplexity']) * 10 for r in rows for k in ('fwd_perplexity', 'bwd_perplexity'))
        assert 'fwd perplexity' in res.stdout
    else: assert 'fwd_perplexity' not in rows[0]
    summary = json.loads((out/'summary.json').read_text())
    assert summary['arch'] == arch and summary['steps'] == 10
    config = json.loads((out/'config.json').read_text())
    assert config['joint'] == (arch == 'masked-elmo') and config['d_hidden'] == 48
    res = run_cli('fill-mask', out, 'the capital of france is [MASK] .', '-k', 2)
    if arch == 'masked-elmo':
        assert res.returncode == 0 and res.stdout.startswith('[MASK] 1: '), res.stderr
    else:
        assert res.returncode == 2 and 'does not fill blanks' in res.stderr and 'Traceback' not in res.stderr

def test_resumed_masked_elmo_and_embeddings(tmp_path):
    out = tmp_path/'run'
    assert run_cli('pretrain', '--arch', 'masked-elmo', '--max-steps', 5, '--out', out, *TINY_LSTM).returncode == 0
    res = run_cli('pretrain', '--max-steps', 10, '--out', out, '--resume')
    assert res.returncode == 0, res.stderr
    assert [int(r['step']) for r in csv.DictReader((out/'metrics.csv').open())] == [5, 10]
    from mlm_explained.train import load_pretrained
    from mlm_explained.elmo import ElmoEmbedder
    model, tok, cfg = load_pretrained(out, 'cpu')
    ids = torch.tensor([tok.encode('the capital of france is paris .').ids])
    emb = ElmoEmbedder(model)(ids)
    assert emb.shape == (1, ids.shape[1], 2 * cfg['d_model']) and torch.isfinite(emb).all()

def test_bert_settings_on_an_lstm_arch_are_refused():
    res = run_cli('pretrain', '--arch', 'masked-elmo', '--out', '/tmp/never', '--config', str(ROOT/'tests'/'tiny.json'))
    assert res.returncode == 2 and 'unknown settings' in res.stderr and 'n_heads' in res.stderr
