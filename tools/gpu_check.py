"""The GPU check: everything this project has only ever run on a CPU, run once on an NVIDIA GPU, in one table.

    make gpu-check        # on a fresh GPU machine: installs torch (CUDA build) and numba-cuda, then runs this
    .venv/bin/python tools/gpu_check.py [--out gpu-check]        # the checks alone, on an installed machine
    .venv/bin/python tools/gpu_check.py --cpu --quick            # what runs without a GPU (CI): kernels in numba's CUDA
                                                                 # simulator, benchmarks and pretraining on the CPU, small

Steps, each in its own process (a failure is a row of the table, not the end of the check):
1. the environment: torch and its CUDA, the GPU, numba's CUDA target;
2. the numba.cuda LSTM kernels against the reference on the GPU (values and gradients, float64), not in the simulator;
3. benchmarks/lstm.py: our fused layer against cuDNN's nn.LSTM;
4. benchmarks/throughput.py: every arch against transformers' BertForMaskedLM, with MFU;
5. a 200-step bf16 pretraining of every arch (its *-tiny preset) on the embedded corpus.
The table is written to OUT/gpu_check.md with every step's output beside it (OUT/NAME.log).
"""
from __future__ import annotations
import argparse, os, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
ARCHS = ('bert', '3ml', 'exlm', 'masked-elmo', 'elmo')

KERNEL_CHECK = '''
import torch, sys
from mlm_explained.lstm_cells import check_fused_lstm, simulating_cuda
on_gpu = torch.cuda.is_available() and not simulating_cuda()
err = check_fused_lstm('cuda', n_cases=int(sys.argv[1]), device='cuda' if on_gpu else None)
print(f"numba.cuda fused LSTM vs reference ({'on ' + torch.cuda.get_device_name() if on_gpu else 'numba CUDA simulator'}): values and gradients agree to {err:.1e} (float64)")
'''
ENV_CHECK = '''
import torch
line = f"torch {torch.__version__}, CUDA {torch.version.cuda}, "
line += (f"{torch.cuda.get_device_name()} ({torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB), bf16 {torch.cuda.is_bf16_supported()}" if torch.cuda.is_available() else "no GPU")
try:
    from numba import cuda; line += f"; numba CUDA target {'available' if cuda.is_available() else 'not available'}"
except Exception as e: line += f"; numba CUDA target missing ({type(e).__name__})"
print(line)
'''

def steps(cpu:bool, quick:bool, out:Path) -> list[tuple[str, list[str], dict]]:
    "(name, command, extra environment) of every step."
    device = 'cpu' if cpu else 'cuda'
    sim = {'NUMBA_ENABLE_CUDASIM': '1'} if cpu else {}
    lstm = ['--hidden', '64', '--batch', '8', '--seq', '16', '--reps', '1'] if quick else []
    thr = ['--shapes', 'tiny', '--steps', '1', '--archs', 'bert', 'elmo'] if quick else ([] if cpu else ['--bs-base', '32'])
    pre_steps = '5' if quick else '200'
    rows = [('environment', [PY, '-c', ENV_CHECK], {}),
            ('LSTM kernels', [PY, '-c', KERNEL_CHECK, '2' if quick else '4'], sim),
            ('LSTM benchmark', [PY, str(ROOT/'benchmarks'/'lstm.py'), '--device', device, *lstm], {}),
            ('throughput', [PY, str(ROOT/'benchmarks'/'throughput.py'), '--device', device, *thr], {})]
    for arch in ARCHS:
        rows.append((f'pretrain {arch}', [PY, '-m', 'mlm_explained', 'pretrain', '--config', f'{arch}-tiny', '--max-steps', pre_steps, '--eval-every', pre_steps,
                                          '--precision', 'bf16', '--device', device, '--no-progress', '--out', str(out/'runs'/arch)], {}))
    return rows

def cells(row:str) -> list[str]: return [c.strip() for c in row.strip().strip('|').split('|')]

def throughput_summary(lines:list[str]) -> str:
    "The target's verdict where the base shape ran, and bert's ratio to BertForMaskedLM at every shape."
    bert = [cells(l) for l in lines if l.startswith('| ') and 'mlm_explained bert ' in l + ' ']
    ratios = ', '.join(f"bert {c[6]} BertForMaskedLM at {c[0]} ({c[5]} tokens/s)" for c in bert)
    target = next((l for l in lines if l.startswith('target:')), '')
    return '; '.join(x for x in (ratios, target) if x)

def lstm_summary(lines:list[str]) -> str:
    "Per hidden size: our fused layer's tokens/s against each PyTorch row (its kernel through our weights, and nn.LSTM itself: cuDNN on a GPU, oneDNN on the CPU)."
    out, hidden = [], None
    for l in lines:
        if l.startswith('hidden '): hidden = l.split(':')[0]
        elif l.startswith('| fused (ours)'): ours = float(cells(l)[2])
        elif l.startswith('| torch') and hidden:
            theirs = float(cells(l)[2])
            out.append(f"{hidden}: fused {ours:,.0f} tokens/s, {cells(l)[0]} {theirs:,.0f} ({ours / theirs:.2f}x)")
    return '; '.join(out)

def main():
    ap = argparse.ArgumentParser(description='the GPU check, in one table')
    ap.add_argument('--out', default='gpu-check', help='a folder for the table, the logs and the runs (default gpu-check/)')
    ap.add_argument('--cpu', action='store_true', help='no GPU: the kernels in numba\'s CUDA simulator, the rest on the CPU')
    ap.add_argument('--quick', action='store_true', help='small shapes and 5 pretraining steps (a test of the check itself)')
    args = ap.parse_args()
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    table, t_all = ['| step | status | seconds | result |', '|---|---|---|---|'], time.time()
    for name, cmd, env in steps(args.cpu, args.quick, out):
        t0 = time.time()
        res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, **env, 'PYTHONPATH': str(ROOT)})
        log = out/f"{name.replace(' ', '_')}.log"
        log.write_text(res.stdout + res.stderr)
        lines = [l for l in res.stdout.splitlines() if l.strip()]
        if name == 'throughput': result = throughput_summary(lines)
        elif name.startswith('pretrain'): result = next((l for l in lines if l.startswith('done:')), '')
        elif name == 'LSTM benchmark': result = lstm_summary(lines)
        else: result = lines[-1] if lines else ''
        if res.returncode: result = (res.stderr.strip().splitlines() or ['?'])[-1][:200]
        table.append(f"| {name} | {'ok' if res.returncode == 0 else f'FAILED ({res.returncode})'} | {time.time() - t0:.0f} | {result.replace('|', '/')} |")
        print(table[-1], flush=True)
    (out/'gpu_check.md').write_text('\n'.join(table) + f'\n\nIn all {time.time() - t_all:.0f} s. Outputs: {out}/*.log\n')
    print(f"\nwritten: {out/'gpu_check.md'}")
    sys.exit(0 if all('| ok |' in row for row in table[2:]) else 1)

if __name__ == '__main__': main()
