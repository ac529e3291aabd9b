"""3ML benchmark: one training step (forward, backward, AdamW update) of 3ML (50% masking, BERT-base's 12 blocks as the
encoder and 2 decoder blocks on top, the paper's shape) against the BERT baseline (15% masking, 12 blocks) at the same width,
batch and sequence length, side by side in one process. FLOPs are counted by torch's FlopCounterMode (CPU attention included, see 08_late_masking) and compared
with the analytic formula at the expected token counts; step times are the best of --reps after a warm-up.

    python benchmarks/late_masking.py [--batch 8] [--seq 128] [--vocab 8000] [--reps 3] [--device cpu|cuda]
"""
import argparse, time
import numpy as np
import torch
from mlm_explained.data import TokenizerInfo
from mlm_explained.masking import MaskingConfig, MLMCollator
from mlm_explained.mlm import BertMLM, bert_base
from mlm_explained.late_masking import LateMaskMLM, LateMaskConfig, count_flops, mlm_flops, train_flops, expected_counts


def masked_batch(B, T, vocab, rate, seed=0):
    "Full blocks of random tokens ([CLS] ... [SEP]), masked 80/10/10 with exactly round(rate * n) labels per row."
    ids = np.random.default_rng(seed).integers(5, vocab, (B, T)).astype(np.int32)
    ids[:, 0], ids[:, -1] = 2, 3
    return MLMCollator(TokenizerInfo(vocab_size=vocab), MaskingConfig(rate=rate, exact=True))({'input_ids': ids}, np.arange(B))


def step_seconds(model, batch, reps, device):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times = []
    for r in range(reps + 1):                                        # the first one warms up
        if device.type == 'cuda': torch.cuda.synchronize()
        t0 = time.perf_counter()
        model(batch).loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
        if device.type == 'cuda': torch.cuda.synchronize()
        if r: times.append(time.perf_counter() - t0)
    return min(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--batch', type=int, default=8)
    p.add_argument('--seq', type=int, default=128)
    p.add_argument('--vocab', type=int, default=8000, help="vocabulary size (this project's default tokenizer: 8000; BERT's: 30522)")
    p.add_argument('--reps', type=int, default=3)
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    args = p.parse_args()
    device, B, T, V = torch.device(args.device), args.batch, args.seq, args.vocab
    base = bert_base(vocab_size=V, max_len=max(512, T))
    dims = dict(d=base.d_model, d_ff=base.d_ff, vocab=V, n_layers=base.n_layers)
    print(f'device {device} ({torch.cuda.get_device_name() if device.type == "cuda" else f"{torch.get_num_threads()} CPU threads"}), '
          f'torch {torch.__version__}; BERT-base width (12 blocks of 768, feed-forward 3072), batch {B}, sequence {T}, vocabulary {V}; '
          'one training step = forward, backward, AdamW')
    rows = []
    late = lambda decoder: lambda: LateMaskMLM(LateMaskConfig(**base.__dict__, decoder_layers=2, decoder=decoder))
    for name, rate, make in [('BERT, 15%, 12 blocks', 0.15, lambda: BertMLM(base)),
                             ('3ML_self, 50%, 12+2', 0.5, late('self')), ('3ML_cross, 50%, 12+2', 0.5, late('cross')),
                             ('labelled, 50%, 12+2', 0.5, late('labelled'))]:
        torch.manual_seed(0)
        batch = masked_batch(B, T, V, rate)
        model = make()
        counted = count_flops(model, batch, backward=True)                # on the CPU: the counter needs no device
        model.zero_grad(set_to_none=True)
        k, decoder = (0 if rate == 0.15 else 2), next((d for d in ('cross', 'labelled') if d in name), 'self')
        m, n_v = expected_counts(T, rate)
        formula = B * train_flops(mlm_flops(T, n_labels=m, n_visible=n_v, decoder_layers=k, decoder=decoder, **dims))
        n_v_batch = int(((batch['input_ids'] != 4) & batch['attention_mask'].bool()).sum(1).max())     # rows padded to the longest
        formula_batch = B * train_flops(mlm_flops(T, n_labels=m, n_visible=n_v_batch, decoder_layers=k, decoder=decoder, **dims))
        model = model.to(device)
        seconds = step_seconds(model, {k: v.to(device) for k, v in batch.items()}, args.reps, device)
        rows.append(dict(name=name, counted=counted, formula=formula, formula_batch=formula_batch, seconds=seconds))
        del model
    bert = rows[0]
    print(f'\n| {"model":22s} | {"GFLOP counted":>13s} | {"formula, batch":>14s} | {"formula, expected":>17s} | {"FLOPs vs BERT":>13s} | {"ms/step":>8s} | {"time vs BERT":>12s} |')
    print('|' + '|'.join('-' * w for w in (24, 15, 16, 19, 15, 10, 14)) + '|')
    for r in rows:
        print(f'| {r["name"]:22s} | {r["counted"] / 1e9:13.1f} | {r["formula_batch"] / r["counted"]:13.4f}x | {r["formula"] / r["counted"]:16.4f}x | '
              f'{r["counted"] / bert["counted"]:13.3f} | {r["seconds"] * 1e3:8.0f} | {r["seconds"] / bert["seconds"]:12.3f} |')
    print('\nformula / counted, two ways: at the batch\'s own token counts (the encoder\'s rows padded to the longest visible row), '
          'and at the expected counts (80% of the labels removed, no padding): the difference is the cost of the padding')


if __name__ == '__main__':
    main()
