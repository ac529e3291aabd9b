"""Training throughput: tokens per second of a full training step (collation, forward, backward, AdamW) of every arch,
side by side with `transformers.BertForMaskedLM` and its `DataCollatorForLanguageModeling` at the same shape, batch and
sequence length, in the same process.

Shapes: each arch's `*-tiny` and `*-base` preset (their widths, depths, heads and vocabulary; BertForMaskedLM at
bert's). The batches are real text: WikiText-2's train split from the shared data folder (the embedded corpus when
that is absent), tokenized by a WordPiece of the preset's vocabulary size, in blocks of --seq-len, masked at 15% by each
system's own collator. Each system runs in its own defaults: ours with the sparse head (logits only at the masked
positions), transformers with its dense head and SDPA attention. Both use torch's AdamW. On a GPU both autocast to bf16
(--precision) and the table adds MFU: the FLOPs of a step (PyTorch's counter on our model) over its time and the GPU's
dense peak.

It prints a markdown table: tokens/s, ratio to BertForMaskedLM of the same shape (> 1: faster), and the verdict of the
target (the bert arch at >= 1.0x BertForMaskedLM at the base shape).

    .venv/bin/python benchmarks/throughput.py                     # tiny at batch 32, base at batch 8, sequence 128
    .venv/bin/python benchmarks/throughput.py --shapes tiny --steps 3
    .venv/bin/python benchmarks/throughput.py --json out.json
"""
from __future__ import annotations
import argparse, contextlib, json, sys, time
from pathlib import Path
try: import transformers
except ImportError: sys.exit("benchmarks/throughput.py needs transformers: install the bench extra with  pip install -e '.[bench]'")
import numpy as np
import torch

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path: sys.path.insert(0, str(PROJECT_ROOT))
from mlm_explained.core import get_arch, config_from_dict, shared_data_dir
from mlm_explained.data import TokenizerInfo, load_corpus, pack_blocks, train_tokenizer
from mlm_explained.late_masking import count_flops
from mlm_explained.masking import MaskingConfig
from mlm_explained.train import resolve_config
from mlm_explained.scale import DEVICE_PEAKS

ARCHS = ('bert', '3ml', 'exlm', 'masked-elmo', 'elmo')

def corpus():
    d = shared_data_dir()
    wiki = d/'wikitext-2-tokens'/'wiki.train.tokens.gz' if d else None
    return (load_corpus(wiki), 'WikiText-2 train') if wiki is not None and wiki.exists() else (load_corpus('embedded'), 'embedded corpus')

def blocks_for(texts, vocab:int, seq_len:int, n:int):
    sample = texts.select(range(min(len(texts), 20_000)))
    tok = train_tokenizer(sample, 'wordpiece', vocab)
    blocks = pack_blocks(sample, tok, seq_len)
    return tok, {k: np.asarray(blocks[:n][k]) for k in ('input_ids', 'word_starts')}

def autocast(device, precision):
    if precision == 'fp32': return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if precision == 'bf16' else torch.float16)

def time_steps(step, steps:int, device) -> float:
    step()                                                     # warm-up (and kernels' first compilations)
    if device.type == 'cuda': torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps): step()
    if device.type == 'cuda': torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps

def ours(arch, shape, tok, blocks, bs, device, precision, steps):
    cfg = resolve_config(config_file=f'{arch}-{shape}')
    spec, info = get_arch(arch), TokenizerInfo.from_tokenizer(tok)
    model = spec.model_cls(config_from_dict(spec.config_cls, {**cfg, 'vocab_size': tok.get_vocab_size(), 'pad_id': info.pad_id,
                                                              'max_len': blocks['input_ids'].shape[1]})).to(device).train()
    collate = spec.make_collator(info, MaskingConfig(), 0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    state = {'i': 0}
    def step():
        i = state['i'] = (state['i'] + 1) % (len(blocks['input_ids']) // bs)
        batch = {k: v.to(device) for k, v in collate({k: v[i * bs:(i + 1) * bs] for k, v in blocks.items()}, np.arange(i * bs, (i + 1) * bs)).items()}
        with autocast(device, precision): out = model(batch)
        out.loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
    seconds = time_steps(step, steps, device)
    batch = {k: v.to(device) for k, v in collate({k: v[:bs] for k, v in blocks.items()}, np.arange(bs)).items()}
    flops = count_flops(model, batch, backward=True)
    return seconds, flops, sum(p.numel() for p in model.parameters())

def theirs(shape, tok, blocks, bs, device, precision, steps):
    cfg = resolve_config(config_file=f'bert-{shape}')
    info = TokenizerInfo.from_tokenizer(tok)
    hf_tok = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token='[PAD]', mask_token='[MASK]', cls_token='[CLS]', sep_token='[SEP]', unk_token='[UNK]')
    model = transformers.BertForMaskedLM(transformers.BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=cfg['d_model'], num_hidden_layers=cfg['n_layers'],
                                         num_attention_heads=cfg['n_heads'], intermediate_size=cfg['d_ff'], max_position_embeddings=blocks['input_ids'].shape[1],
                                         pad_token_id=info.pad_id, attn_implementation='sdpa')).to(device).train()
    collate = transformers.DataCollatorForLanguageModeling(hf_tok, mlm_probability=0.15)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    examples = [{'input_ids': list(map(int, row))} for row in blocks['input_ids']]   # the collator's input: one dict of lists per example
    state = {'i': 0}
    def step():
        i = state['i'] = (state['i'] + 1) % (len(examples) // bs)
        batch = {k: v.to(device) for k, v in collate(examples[i * bs:(i + 1) * bs]).items()}
        with autocast(device, precision): out = model(**batch)
        out.loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
    return time_steps(step, steps, device), sum(p.numel() for p in model.parameters())

def peak(device, precision):
    if device.type != 'cuda': return None
    name = torch.cuda.get_device_name(device).lower()
    found = [k for k in DEVICE_PEAKS if k in name]
    return DEVICE_PEAKS[found[0]].get(precision) if found else None

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--shapes', nargs='+', default=['tiny', 'base'])
    ap.add_argument('--archs', nargs='+', default=list(ARCHS))
    ap.add_argument('--seq-len', type=int, default=128)
    ap.add_argument('--bs-tiny', type=int, default=32)
    ap.add_argument('--bs-base', type=int, default=8, help='rows per step at the base shape (default 8 on a CPU; pass 32 or more on a GPU)')
    ap.add_argument('--steps', type=int, default=3)
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    ap.add_argument('--precision', default=None, help='bf16 on a GPU, fp32 on the CPU (default)')
    ap.add_argument('--json', default=None)
    args = ap.parse_args()
    device = torch.device(args.device)
    precision = args.precision or ('bf16' if device.type == 'cuda' else 'fp32')
    texts, source = corpus()
    print(f"corpus: {source}; device {device} ({torch.get_num_threads()} threads), {precision}; sequence {args.seq_len}; {args.steps} timed steps after one warm-up\n")
    rows, the_peak = [], peak(device, precision)
    for shape in args.shapes:
        bs = args.bs_tiny if shape == 'tiny' else args.bs_base
        vocab = resolve_config(config_file=f'bert-{shape}')['tokenizer_vocab']
        tok, blocks = blocks_for(texts, vocab, args.seq_len, bs * (args.steps + 2))
        torch.manual_seed(0)
        hf_s, hf_n = theirs(shape, tok, blocks, bs, device, precision, args.steps)
        rows.append(dict(shape=shape, system='transformers BertForMaskedLM', bs=bs, seconds=hf_s, tokens_per_s=bs * args.seq_len / hf_s, ratio=1.0, mfu=None, params=hf_n))
        for arch in args.archs:
            torch.manual_seed(0)
            s, flops, n = ours(arch, shape, tok, blocks, bs, device, precision, args.steps)
            rows.append(dict(shape=shape, system=f'mlm_explained {arch}', bs=bs, seconds=s, tokens_per_s=bs * args.seq_len / s, ratio=hf_s / s,
                             mfu=flops / s / the_peak if the_peak else None, params=n))
            print(f"  {shape} {arch}: {rows[-1]['tokens_per_s']:,.0f} tokens/s", flush=True)
    print('\n| shape | system | parameters | batch | s/step | tokens/s | vs BertForMaskedLM | MFU |\n|---|---|---|---|---|---|---|---|')
    for r in rows:
        params = '' if r['params'] is None else f"{r['params'] / 1e6:.1f}M"
        mfu = '' if r['mfu'] is None else f"{r['mfu']:.1%}"
        print(f"| {r['shape']} | {r['system']} | {params} | {r['bs']} x {args.seq_len} | {r['seconds']:.3f} | {r['tokens_per_s']:,.0f} | {r['ratio']:.2f}x | {mfu} |")
    base = [r for r in rows if r['shape'] == 'base' and r['system'] == 'mlm_explained bert']
    if base: print(f"\ntarget: bert at >= 1.0x BertForMaskedLM at the base shape: {base[0]['ratio']:.2f}x, {'met' if base[0]['ratio'] >= 1 else 'NOT met'}")
    if args.json: Path(args.json).write_text(json.dumps(rows, indent=2))

if __name__ == '__main__': main()
