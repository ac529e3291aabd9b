"""LSTM benchmark: forward+backward of a 2-layer bidirectional LSTM (each layer reads both directions below,
as torch.nn.LSTM(bidirectional=True) and Masked ELMo do), batch 64, sequence 128, hidden 512 and 1024.

Side by side in one process: our fused layer ('fused'; on the CPU its per-step float32 products by oneDNN where they are
large enough, `cpu_gemm('auto')`, and once more all by BLAS, torch.mm, to show what the library choice is worth), the plain
per-step PyTorch loop ('reference'), PyTorch's own LSTM kernel through the same weights ('torch': oneDNN on the CPU, cuDNN
on a GPU), and torch.nn.LSTM itself (the same 2-layer bidirectional model with its own flat weights). Prints tokens/s and the memory of what autograd saves for the
backward (and, on a GPU, the peak allocated memory), each as a ratio to the per-step loop. The matrix products' FLOPs are
counted from the shapes, and the achieved rate is set beside the machine's own rate on the largest GEMM of the model
(the input projection of layer 2, all time steps at once), a practical ceiling for any LSTM implementation here.

The implementations take turns, one run each per round (a drifting machine slows them alike); each one's figure is its
best round, and the fused layer's speed against PyTorch's kernel is also given round by round.

    python benchmarks/lstm.py [--hidden 512 1024] [--reps 3] [--device cpu|cuda]
"""
import argparse, time
import torch
import torch.nn as nn
from mlm_explained.elmo import BiLSTMStack, ElmoConfig
from mlm_explained.lstm_cells import cpu_gemm, mm_t


def saved_bytes(fn) -> int:
    "Bytes of the tensors autograd saves for the backward while `fn` runs (each storage counted once)."
    seen = {}
    def pack(t):
        seen[(t.untyped_storage().data_ptr(), t.device)] = t.untyped_storage().nbytes()
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t): out = fn()
    return out, sum(seen.values())


def lstm_flops(T, B, H, n_layers=2) -> float:
    """FLOPs of the matrix products of a forward+backward of the joint biLSTM stack: per direction and layer, the input GEMM
    2*T*B*I*4H and the recurrent GEMMs 2*T*B*H*4H (I = H for layer 1, 2H above), forward once and backward twice."""
    fwd = sum(2 * (2 * T * B * (H if l == 0 else 2 * H) * 4 * H + 2 * T * B * H * 4 * H) for l in range(n_layers))
    return 3 * fwd


def gemm_rate(m, k, n, device, reps=5) -> float:
    "FLOP/s of the faster of torch.mm and oneDNN (mm_t) on an [m, k] x [k, n] product (best of reps)."
    return max(_gemm_rate(m, k, n, device, lib, reps) for lib in (('blas', 'onednn') if device.type == 'cpu' else ('blas',)))


def _gemm_rate(m, k, n, device, lib, reps) -> float:
    a, w = torch.randn(m, k, device=device), torch.randn(n, k, device=device)
    best = float('inf')
    for r in range(reps + 1):
        if device.type == 'cuda': torch.cuda.synchronize()
        t0 = time.perf_counter()
        with cpu_gemm(lib): mm_t(a, w)
        if device.type == 'cuda': torch.cuda.synchronize()
        if r: best = min(best, time.perf_counter() - t0)
    return 2 * m * k * n / best


def bench(rows, x, lengths, reps, device) -> list[dict]:
    """Time each (name, make_model, gemm) of `rows` on x, `reps` times after one warm-up. The rows take turns, one run each
    per round, so that a machine whose speed drifts (a shared VM) slows them all alike; each row's figure is its best run."""
    runs = [(name, make_model().to(device), gemm) for name, make_model, gemm in rows]
    results = [{'name': name, 'times': [], 'saved': 0, 'peak': 0} for name, _, _ in runs]
    for r in range(reps + 1):                                      # round 0 warms up
        for (name, model, gemm), res in zip(runs, results):
            with cpu_gemm(gemm): seconds, res['saved'], peak = _run_once(model, x, lengths, device)
            if r: res['times'].append(seconds); res['peak'] = max(res['peak'], peak or 0)
    for res in results: res['seconds'] = min(res['times'])
    return results


def _run_once(model, x, lengths, device):
    run = (lambda: model(x)[0]) if isinstance(model, nn.LSTM) else (lambda: torch.cat(model(x, lengths)[0][-1], -1))
    if device.type == 'cuda': torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    out, saved = saved_bytes(run)
    out.float().sum().backward()
    if device.type == 'cuda': torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    model.zero_grad(set_to_none=True)
    return seconds, saved, (torch.cuda.max_memory_allocated() if device.type == 'cuda' else None)


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--hidden', type=int, nargs='+', default=[512, 1024])
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--seq', type=int, default=128)
    p.add_argument('--reps', type=int, default=3)
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    args = p.parse_args()
    device = torch.device(args.device)
    print(f'device {device} ({torch.cuda.get_device_name() if device.type == "cuda" else f"{torch.get_num_threads()} CPU threads"}), '
          f'torch {torch.__version__}, batch {args.batch}, sequence {args.seq}, 2 bidirectional layers, forward+backward, float32')
    for H in args.hidden:
        torch.manual_seed(0)
        x = torch.randn(args.seq, args.batch, H, device=device, requires_grad=True)
        lengths = torch.full((args.batch,), args.seq, device=device)
        stack = lambda impl: BiLSTMStack(ElmoConfig(d_model=H, d_hidden=H, n_layers=2, joint=True, residual=False, impl=impl))
        todo = [('per-step loop (reference)', lambda: stack('reference'), 'onednn'),
                ('fused (ours)', lambda: stack('fused'), 'auto'),
                *([('fused, BLAS products (torch.mm)', lambda: stack('fused'), 'blas')] if device.type == 'cpu' else []),
                ('torch LSTM kernel, same weights', lambda: stack('torch'), 'onednn'),
                (f'torch.nn.LSTM itself ({"cuDNN" if device.type == "cuda" else "oneDNN"}, flat)', lambda: nn.LSTM(H, H, 2, bidirectional=True), 'onednn')]
        rows = bench(todo, x, lengths, args.reps, device)
        base = rows[0]
        tokens = args.batch * args.seq
        flops, peak = lstm_flops(args.seq, args.batch, H), gemm_rate(args.seq * args.batch, 2 * H, 4 * H, device)
        print(f'\nhidden {H}: {flops / 1e9:.0f} GFLOP of matrix products per forward+backward; this machine does the largest of them '
              f'(input GEMM of layer 2, by the faster of BLAS and oneDNN) at {peak / 1e9:.0f} GFLOP/s, so no implementation can beat {flops / peak * 1e3:.0f} ms '
              f'({base["seconds"] * peak / flops:.2f}x the loop)')
        print(f'| {"implementation":38s} | {"ms":>8s} | {"tokens/s":>9s} | {"GFLOP/s":>8s} | {"speed vs loop":>13s} | {"saved MiB":>9s} | {"memory vs loop":>14s} |' +
              (f' {"peak MiB":>8s} |' if device.type == 'cuda' else ''))
        print('|' + '|'.join('-' * w for w in (40, 10, 11, 10, 15, 11, 16)) + '|' + ('----------|' if device.type == 'cuda' else ''))
        for r in rows:
            print(f'| {r["name"]:38s} | {r["seconds"]*1e3:8.0f} | {tokens / r["seconds"]:9.0f} | {flops / r["seconds"] / 1e9:8.0f} | {base["seconds"] / r["seconds"]:12.2f}x | '
                  f'{r["saved"] / 2**20:9.0f} | {r["saved"] / base["saved"]:13.2f}x |' + (f' {r["peak"] / 2**20:8.0f} |' if r['peak'] else ''))
        fused = rows[1]
        for prefix in ('torch LSTM kernel', 'torch.nn.LSTM'):
            other = next(r for r in rows if r['name'].startswith(prefix))
            per_round = sorted(k / f for f, k in zip(fused['times'], other['times']))
            print(f'fused / {prefix} in speed: {other["seconds"] / fused["seconds"]:.2f}x best against best; '
                  f'round by round {per_round[0]:.2f}x to {per_round[-1]:.2f}x, median {per_round[len(per_round) // 2]:.2f}x ({len(per_round)} rounds)')


if __name__ == '__main__':
    main()
