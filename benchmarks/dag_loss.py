"""ExLM's DAG loss benchmark: the marginal likelihood over monotone alignments, forward + backward, by the numba kernel
and by the vectorized PyTorch recursion (and PyTorch on the GPU when there is one), side by side in one process; then
its share of a whole ExLM training step (forward, backward, AdamW), and that step against BERT's of the same width.

The working size is the paper's per sequence: 128-token blocks, 15% masking (19 masks), k = 4, so the expanded sequence
has 191 slots, of which 84 are the DAG's states, and the target has 21 tokens. The DAG runs over the 84 states; the
table also shows it over all 191 slots (a DAG as long as the expanded sequence).

    python benchmarks/dag_loss.py [--batch 64] [--reps 5] [--d-model 128] [--layers 2] [--vocab 8000]
"""
import argparse, time
import numpy as np
import torch
from mlm_explained.data import TokenizerInfo
from mlm_explained.masking import MaskingConfig
from mlm_explained.dag_loss import random_dag_problem, dag_loss
from mlm_explained.mlm import BertMLM, BertConfig
from mlm_explained.exlm import ExLM, ExLMConfig, make_exlm_collator, expanded_sizes


def best_ms(fn, reps, cuda=False):
    "Best wall time of fn() in ms over reps runs, after one warm-up run (numba compiles, CUDA initialises)."
    fn()
    times = []
    for _ in range(reps):
        if cuda: torch.cuda.synchronize()
        t0 = time.perf_counter(); fn()
        if cuda: torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return 1000 * min(times)


def dag_step(em, logT, tl, nl, impl):
    def run():
        e, t = em.detach().requires_grad_(), logT.detach().requires_grad_()
        dag_loss(e, t, tl, nl, impl).backward()
    return run


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--reps', type=int, default=5)
    p.add_argument('--d-model', dest='d_model', type=int, default=128)
    p.add_argument('--layers', type=int, default=2)
    p.add_argument('--vocab', type=int, default=8000)
    args = p.parse_args()
    B, T, k = args.batch, 128, 4
    sizes = expanded_sizes(T, 0.15, k)
    M, N, L = sizes['target_len'], sizes['states'], sizes['expanded_len']
    gpu = torch.cuda.is_available()
    print(f'torch {torch.__version__}, {torch.get_num_threads()} CPU threads' + (f', GPU {torch.cuda.get_device_name()}' if gpu else ', no GPU'))
    print(f'batch {B}, target length {M}, k = {k}: {N} DAG states in an expanded sequence of {L}; float32; forward + backward\n')
    print(f"{'DAG size':>9} | {'implementation':<22} | {'ms':>8} | {'vs torch CPU':>12}")
    print('-' * 62)
    for n_states in (N, L):
        em, logT, tl, nl = random_dag_problem(B, M, n_states, seed=0, dtype=torch.float32, ragged=False)
        t_torch = best_ms(dag_step(em, logT, tl, nl, 'torch'), args.reps)
        rows = [('PyTorch, CPU', t_torch), ('numba kernel, CPU', best_ms(dag_step(em, logT, tl, nl, 'numba'), args.reps))]
        if gpu:
            g = [x.cuda() for x in (em, logT, tl, nl)]
            rows.append(('PyTorch, GPU', best_ms(dag_step(*g, 'torch'), args.reps, cuda=True)))
        for name, ms in rows: print(f'{n_states:>9} | {name:<22} | {ms:8.2f} | {t_torch / ms:11.2f}x')

    # the loss's share of a whole training step, on real expanded batches of random tokens
    V = args.vocab
    ids = np.random.default_rng(0).integers(5, V, (B, T)).astype(np.int32); ids[:, 0], ids[:, -1] = 2, 3
    batch = make_exlm_collator(TokenizerInfo(vocab_size=V), MaskingConfig(rate=0.15, exact=True))({'input_ids': ids}, np.arange(B))
    devices = ['cpu'] + (['cuda'] if gpu else [])
    print(f"\nExLM training step (d_model {args.d_model}, {args.layers} blocks, vocabulary {V}, batch {B}): forward, backward, AdamW")
    print(f"{'device':>6} | {'DAG impl':<8} | {'step ms':>8} | {'DAG loss ms':>11} | {'DAG share':>9} | {'vs BERT step':>12}")
    print('-' * 71)
    for dev in devices:
        # the baseline: BERT of the same width on the same blocks, masked the same way, without expansion or DAG
        torch.manual_seed(0)
        bert = BertMLM(BertConfig(vocab_size=V, d_model=args.d_model, n_layers=args.layers, n_heads=max(2, args.d_model // 64), d_ff=4 * args.d_model)).to(dev)
        bert_opt = torch.optim.AdamW(bert.parameters(), lr=1e-4)
        bb = {key: v.to(dev) for key, v in batch.items()}
        def bert_step():
            bert(bb).loss.backward(); bert_opt.step(); bert_opt.zero_grad(set_to_none=True)
        bert_ms = best_ms(bert_step, args.reps, cuda=dev == 'cuda')
        print(f"{dev:>6} | {'(BERT)':<8} | {bert_ms:8.1f} | {'':>11} | {'':>9} | {1:11.2f}x")
        for impl in (['numba', 'torch'] if dev == 'cpu' else ['torch']):
            torch.manual_seed(0)
            model = ExLM(ExLMConfig(vocab_size=V, d_model=args.d_model, n_layers=args.layers, n_heads=max(2, args.d_model // 64),
                                    d_ff=4 * args.d_model, dag_impl=impl)).to(dev)
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
            b = {key: v.to(dev) for key, v in batch.items()}
            def step():
                model(b).loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
            step_ms = best_ms(step, args.reps, cuda=dev == 'cuda')
            # the same DAG problem the model solves, timed alone: its emission and transition tables, detached
            with torch.no_grad(): _, _, em, logT, ex = model.tables(b['input_ids'], b['attention_mask'], b['labels'])
            dag_ms = best_ms(dag_step(em, logT, ex['target_len'], ex['node_len'], impl), args.reps, cuda=dev == 'cuda')
            print(f'{dev:>6} | {impl:<8} | {step_ms:8.1f} | {dag_ms:11.2f} | {dag_ms / step_ms:8.1%} | {step_ms / bert_ms:11.2f}x')


if __name__ == '__main__':
    main()
