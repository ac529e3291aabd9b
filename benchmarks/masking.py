"""Masking throughput: our numba collator vs `transformers.DataCollatorForLanguageModeling` vs plain PyTorch.

What it measures, side by side in one process, on the same 128 x 512 batches of real text (WikiText-2 from the
shared data folder, or the embedded corpus when that is absent) at mask rates 15% and 50%:

1. core masking: corrupting an already-tensorised batch (ours: `mask_fast`, numpy in and out; transformers:
   `torch_mask_tokens`; plain PyTorch: `mask_torch`);
2. full collation: a list of 128 examples (dicts holding python lists) to a batch of tensors
   (ours: stacking plus `MLMCollator`; transformers: the collator's `__call__`);
3. our whole-word and span strategies (and transformers' `whole_word_mask=True` where it applies);
4. one forward + backward + AdamW step on a 128 x 512 batch of our BERT-tiny-sized baseline `BertMLM` (the reference
   that masking time is reported against) and, for comparison, of the same-sized `transformers.BertForMaskedLM`.

It prints a markdown table with tokens/s and ratios (ours / other, >1 means ours is faster) and one verdict per
target (>= 2x the transformers collator; masking < 5% of a training step).

Run it from the project root:

    .venv/bin/python benchmarks/masking.py            # full run, about 2-3 minutes on 2 CPU cores
    .venv/bin/python benchmarks/masking.py --quick    # fewer repetitions
    .venv/bin/python benchmarks/masking.py --json results.json

transformers is a benchmark-only dependency from the `bench` extra: `pip install -e '.[bench]'`.
"""
from __future__ import annotations
import argparse, dataclasses, json, os, platform, statistics, sys, time, warnings
from pathlib import Path
from typing import Callable

try:
    import transformers
except ImportError:
    sys.exit("benchmarks/masking.py needs transformers: install the bench extra with  pip install -e '.[bench]'")

import numba
import numpy as np
import torch

# The benchmark runs from a checkout, where the package may not be pip-installed: make the project root importable.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path: sys.path.insert(0, str(PROJECT_ROOT))

import datasets
from mlm_explained.core import shared_data_dir
from mlm_explained.data import TokenizerInfo, SPECIAL_TOKENS, load_corpus, pack_blocks, train_tokenizer
from mlm_explained.mlm import BertConfig, BertMLM
from mlm_explained.masking import MaskingConfig, MLMCollator, mask_fast, mask_torch

BATCH_SIZE, SEQ_LEN = 128, 512
RATES = (0.15, 0.50)
TOKENS_PER_BATCH = BATCH_SIZE * SEQ_LEN


# ---------------------------------------------------------------- data

def load_texts() -> tuple[datasets.Dataset, str]:
    "WikiText-2 train lines when the shared data folder has them, else the embedded grammar corpus (both through `load_corpus`)."
    data_dir = shared_data_dir()
    wiki = data_dir/'wikitext-2-tokens'/'wiki.train.tokens.gz' if data_dir else None
    if wiki is not None and wiki.exists(): return load_corpus(wiki), 'WikiText-2 train (tokenized v1)'
    return load_corpus('embedded'), 'embedded grammar corpus (WikiText-2 not found)'


def build_batches(n_batches:int) -> tuple[list[dict], object, str]:
    "`n_batches` batches of `BATCH_SIZE` x `SEQ_LEN` blocks: input_ids int32, word_starts int8, row_keys uint64."
    texts, source = load_texts()
    vocab_size = 8000 if source.startswith('WikiText') else 2000     # the small embedded corpus cannot fill 8000 words
    tok = train_tokenizer(texts, 'wordpiece', vocab_size)
    blocks = pack_blocks(texts, tok, SEQ_LEN)
    n_needed = n_batches * BATCH_SIZE
    # the first n_needed blocks; a corpus that is too small is cycled (said in the output) so every batch is full
    order = np.resize(np.arange(len(blocks)), n_needed)
    if len(blocks) < n_needed: source += f', only {len(blocks)} blocks: reused cyclically'
    chosen = blocks[:min(len(blocks), n_needed)]
    ids, starts = np.asarray(chosen['input_ids'], np.int32), np.asarray(chosen['word_starts'], np.int8)
    batches = []
    for i in range(n_batches):
        rows = order[i*BATCH_SIZE:(i+1)*BATCH_SIZE]
        batches.append(dict(input_ids=ids[rows], word_starts=starts[rows], row_keys=np.arange(i*BATCH_SIZE, (i+1)*BATCH_SIZE, dtype=np.uint64)))
    return batches, tok, source


def hf_tokenizer(tok):
    "Wrap our `tokenizers.Tokenizer` so transformers' collator can use it."
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, mask_token='[MASK]', pad_token='[PAD]',
                                                cls_token='[CLS]', sep_token='[SEP]', unk_token='[UNK]')


def as_examples(batch:dict, info:TokenizerInfo, with_special_mask:bool=False, with_word_starts:bool=False) -> list[dict]:
    "The batch as the list of per-example dicts of python lists that a `Dataset` hands a collator."
    examples = []
    for r in range(BATCH_SIZE):
        ex = {'input_ids': batch['input_ids'][r].tolist()}
        if with_special_mask: ex['special_tokens_mask'] = (batch['input_ids'][r] < info.n_special).astype(int).tolist()
        if with_word_starts: ex['word_starts'] = batch['word_starts'][r].tolist(); ex['row_key'] = int(batch['row_keys'][r])
        examples.append(ex)
    return examples


def word_offsets(word_starts:np.ndarray) -> torch.Tensor:
    """Character offsets `[B, T, 2]` that encode our word boundaries the way transformers' whole-word masking reads them:
    a token starts a new word when its start differs from the previous token's end."""
    t = np.arange(word_starts.shape[1])
    ends = np.broadcast_to(2*t + 1, word_starts.shape)
    starts = np.where(word_starts.astype(bool), 2*t, 2*t - 1)        # a gap before a word start, none inside a word
    return torch.from_numpy(np.stack([starts, ends], -1).astype(np.int64))


# ---------------------------------------------------------------- timing

def cores_busy_elsewhere(seconds:float=1.0) -> float|None:
    """CPU cores that other processes kept busy while we slept (Linux /proc/stat; None elsewhere).
    Why it matters: torch and numba run OpenMP thread teams that wait at barriers; when another process takes a core,
    one team member is descheduled and every parallel call stalls for whole scheduler slices, inflating all timings."""
    def busy_and_total():
        with open('/proc/stat') as f: fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + fields[4]                         # idle + iowait
        return sum(fields) - idle, sum(fields)
    try:
        busy0, total0 = busy_and_total(); own0, wall0 = time.process_time(), time.perf_counter()
        time.sleep(seconds)
        busy1, total1 = busy_and_total(); own1, wall1 = time.process_time(), time.perf_counter()
    except (OSError, ValueError, IndexError): return None
    all_busy = (busy1 - busy0) / max(total1 - total0, 1) * (os.cpu_count() or 1)
    return max(0.0, all_busy - (own1 - own0) / (wall1 - wall0))     # our own idle-spinning threads do not count

@dataclasses.dataclass
class Result:
    section: str          # 'core', 'collate', 'strategy'
    method: str
    strategy: str
    rate: float
    measures: str         # exactly what the timed call does
    seconds: float        # median per batch
    masked_frac: float    # share of maskable tokens that got a label: the methods must do the same amount of work
    ratio: float|None = None   # our tokens/s divided by this row's

    @property
    def tokens_per_s(self) -> float: return TOKENS_PER_BATCH / self.seconds


def time_interleaved(calls:dict[str, Callable[[int], object]], n_batches:int, reps:int) -> dict[str, float]:
    """Median seconds per call of each `calls[name](batch_index)`.
    Methods take turns within every round, so load from other processes on this small machine hits them alike."""
    for fn in calls.values():                               # warm-up: numba compiles, allocators and caches settle
        for b in range(n_batches): fn(b)
    times = {name: [] for name in calls}
    for r in range(reps):
        for name, fn in calls.items():
            t0 = time.perf_counter(); fn(r % n_batches); times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def masked_fraction(labels, input_ids, info:TokenizerInfo) -> float:
    labels, input_ids = np.asarray(labels), np.asarray(input_ids)
    return float((labels != -100).sum() / (input_ids >= info.n_special).sum())


# ---------------------------------------------------------------- the measurements

def core_masking(batches, info, hf_tok, rate, reps) -> list[Result]:
    "Masking a batch that is already an array/tensor."
    cfg = MaskingConfig(rate=rate, strategy='token')
    ids_long = [torch.from_numpy(b['input_ids'].astype(np.int64)) for b in batches]   # transformers/torch take int64
    special = [(t < info.n_special).long() for t in ids_long]
    hf = transformers.DataCollatorForLanguageModeling(tokenizer=hf_tok, mlm_probability=rate)
    # torch_mask_tokens corrupts its input in place, so it gets a fresh copy (ours writes new arrays too)
    calls = {
        'ours': lambda i: mask_fast(batches[i]['input_ids'], batches[i]['word_starts'], batches[i]['row_keys'], cfg, info),
        'hf_fast': lambda i: hf.torch_mask_tokens(ids_long[i].clone(), special_tokens_mask=special[i]),
        'hf_default': lambda i: hf.torch_mask_tokens(ids_long[i].clone()),
        'torch': lambda i: mask_torch(ids_long[i], rate, info),
    }
    secs = time_interleaved(calls, len(batches), reps)
    frac = {name: masked_fraction(fn(0)[1], batches[0]['input_ids'], info) for name, fn in calls.items()}
    described = {
        'ours': ('ours: mask_fast', 'numpy int32 [B,T] in, int64 ids+labels out; numba, parallel over rows'),
        'hf_fast': ('transformers torch_mask_tokens', 'int64 tensor + precomputed special_tokens_mask (its fast path)'),
        'hf_default': ('transformers torch_mask_tokens', 'int64 tensor, no special_tokens_mask: tokenizer builds it per row'),
        'torch': ('plain PyTorch: mask_torch', 'int64 tensor; torch.bernoulli 80/10/10'),
    }
    return [Result('core', described[n][0], 'token', rate, described[n][1], secs[n], frac[n]) for n in calls]


def full_collation(batches, info, hf_tok, rate, reps) -> list[Result]:
    "From a list of 128 example dicts (python lists) to a batch of tensors, as a DataLoader's collate_fn sees it."
    ours = MLMCollator(info, MaskingConfig(rate=rate, strategy='token'))
    hf = transformers.DataCollatorForLanguageModeling(tokenizer=hf_tok, mlm_probability=rate)
    ours_examples = [as_examples(b, info, with_word_starts=True) for b in batches]
    plain_examples = [as_examples(b, info) for b in batches]
    special_examples = [as_examples(b, info, with_special_mask=True) for b in batches]

    def collate_ours(examples):
        # stacking the lists is part of collation, so it is inside the timed call
        blocks = {'input_ids': np.array([e['input_ids'] for e in examples], np.int32),
                  'word_starts': np.array([e['word_starts'] for e in examples], np.int8)}
        return ours(blocks, [e['row_key'] for e in examples])

    calls = {
        'ours': lambda i: collate_ours(ours_examples[i]),
        'hf_default': lambda i: hf(plain_examples[i]),
        'hf_special': lambda i: hf(special_examples[i]),
    }
    secs = time_interleaved(calls, len(batches), reps)
    frac = {name: masked_fraction(fn(0)['labels'], batches[0]['input_ids'], info) for name, fn in calls.items()}
    described = {
        'ours': ('ours: stack + MLMCollator', 'examples {input_ids, word_starts} lists -> np.array -> mask_fast -> torch'),
        'hf_default': ('transformers collator __call__', 'examples {input_ids} lists (tokenizer.pad, special mask per row)'),
        'hf_special': ('transformers collator __call__', 'examples {input_ids, special_tokens_mask} lists (the special mask its docs recommend)'),
    }
    return [Result('collate', described[n][0], 'token', rate, described[n][1], secs[n], frac[n]) for n in calls]


def other_strategies(batches, info, hf_tok, rate, reps) -> list[Result]:
    "Our whole-word and span masking; transformers has whole-word masking (via offsets) but no span masking."
    ww, span = MaskingConfig(rate=rate, strategy='whole_word'), MaskingConfig(rate=rate, strategy='span')
    ids_long = [torch.from_numpy(b['input_ids'].astype(np.int64)) for b in batches]
    special = [(t < info.n_special).long() for t in ids_long]
    offsets = [word_offsets(b['word_starts']) for b in batches]
    with warnings.catch_warnings():                  # it announces that it turns off random replacement; said below
        warnings.simplefilter('ignore')
        hf_ww = transformers.DataCollatorForLanguageModeling(tokenizer=hf_tok, mlm_probability=rate, whole_word_mask=True)
    calls = {
        'ours_ww': lambda i: mask_fast(batches[i]['input_ids'], batches[i]['word_starts'], batches[i]['row_keys'], ww, info),
        'ours_span': lambda i: mask_fast(batches[i]['input_ids'], batches[i]['word_starts'], batches[i]['row_keys'], span, info),
        'hf_ww': lambda i: hf_ww.torch_mask_tokens(ids_long[i].clone(), special_tokens_mask=special[i], offset_mapping=offsets[i]),
    }
    secs = time_interleaved(calls, len(batches), reps)
    frac = {name: masked_fraction(fn(0)[1], batches[0]['input_ids'], info) for name, fn in calls.items()}
    described = {
        'ours_ww': ('ours: mask_fast', 'whole_word', 'each word with probability rate; 80/10/10'),
        'ours_span': ('ours: mask_fast', 'span', 'SpanBERT geometric spans of words up to an exact budget; 80/10/10'),
        'hf_ww': ('transformers torch_mask_tokens', 'whole_word', 'whole_word_mask=True, offsets + special mask given; all [MASK], no 10/10'),
    }
    return [Result('strategy', described[n][0], described[n][1], rate, described[n][2], secs[n], frac[n]) for n in calls]


def add_ratios(results:list[Result]):
    "ratio = our tokens/s / this row's tokens/s, against our row of the same section, strategy and rate."
    for r in results:
        ours = [o for o in results if o.method.startswith('ours') and (o.section, o.strategy, o.rate) == (r.section, r.strategy, r.rate)]
        if ours: r.ratio = ours[0].tokens_per_s / r.tokens_per_s


def _median_step_seconds(step, reps:int) -> float:
    step(slice(0, 16))                     # warm-up on a slice: a full step takes seconds on 2 cores
    times = []
    for _ in range(reps):
        t0 = time.perf_counter(); step(slice(None)); times.append(time.perf_counter() - t0)
    return statistics.median(times)


def training_step_seconds(batch:dict, vocab_size:int, reps:int) -> dict[str, float]:
    """Median seconds of forward + backward + AdamW step on one 128 x 512 batch, of two BERT-tiny-sized models:
    our baseline `BertMLM` (sparse head: the vocabulary projection only at masked positions) and `transformers.BertForMaskedLM`."""
    torch.manual_seed(0)
    ours = BertMLM(BertConfig(vocab_size=vocab_size, d_model=128, n_layers=2, n_heads=4, d_ff=512, max_len=SEQ_LEN)).train()
    hf = transformers.BertForMaskedLM(transformers.BertConfig(vocab_size=vocab_size, hidden_size=128, num_hidden_layers=2,
                                      num_attention_heads=2, intermediate_size=512, max_position_embeddings=SEQ_LEN)).train()
    opts = {m: torch.optim.AdamW(m.parameters(), lr=1e-4) for m in (ours, hf)}

    def step_ours(rows):
        out = ours({k: v[rows] for k, v in batch.items()})
        out.loss.backward(); opts[ours].step(); opts[ours].zero_grad(set_to_none=True)

    def step_hf(rows):
        out = hf(input_ids=batch['input_ids'][rows], attention_mask=batch['attention_mask'][rows], labels=batch['labels'][rows])
        out.loss.backward(); opts[hf].step(); opts[hf].zero_grad(set_to_none=True)

    return {'ours': _median_step_seconds(step_ours, reps), 'transformers': _median_step_seconds(step_hf, reps)}


# ---------------------------------------------------------------- report

def markdown_table(results:list[Result], step_s:float) -> str:
    head = ['section', 'method', 'strategy', 'rate', 'ms/batch', 'Mtok/s', 'ours/this', '% of train step', 'masked %', 'what is timed']
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for r in results:
        ratio = '—' if r.ratio is None else f'{r.ratio:.2f}x'
        lines.append(f'| {r.section} | {r.method} | {r.strategy} | {r.rate:.0%} | {r.seconds*1e3:.2f} | {r.tokens_per_s/1e6:.2f} '
                     f'| {ratio} | {100*r.seconds/step_s:.3f}% | {100*r.masked_frac:.1f} | {r.measures} |')
    return '\n'.join(lines)


def verdicts(results:list[Result], step_s:float) -> list[str]:
    "One line per target, met or not, with the numbers it rests on."
    def ratios(section): return [(r.rate, r.ratio, r.measures) for r in results
                                 if r.section == section and r.method.startswith('transformers') and r.strategy == 'token']
    lines = []
    for section, label in [('core', 'core masking'), ('collate', 'full collation')]:
        worst = min(ratios(section), key=lambda x: x[1])
        lines.append(f"target >= 2x transformers ({label}): {'MET' if worst[1] >= 2 else 'NOT MET'}; "
                     f"worst ratio {worst[1]:.2f}x at {worst[0]:.0%} vs '{worst[2]}'; all: "
                     + ', '.join(f'{x[1]:.2f}x@{x[0]:.0%}' for x in ratios(section)))
    ours = [r for r in results if r.method.startswith('ours')]
    slowest = max(ours, key=lambda r: r.seconds)
    collate = max((r for r in ours if r.section == 'collate'), key=lambda r: r.seconds)
    hf = max((r for r in results if r.section == 'collate' and r.method.startswith('transformers')), key=lambda r: r.seconds)
    lines.append(f"target masking < 5% of a training step ({step_s:.2f} s): {'MET' if slowest.seconds < 0.05 * step_s else 'NOT MET'}; "
                 f"ours worst case {100*slowest.seconds/step_s:.2f}% ({slowest.section} {slowest.strategy} {slowest.rate:.0%}), "
                 f"ours full collation {100*collate.seconds/step_s:.2f}%, transformers collator up to {100*hf.seconds/step_s:.2f}%")
    return lines


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true', help='fewer repetitions (a rough number in about a minute)')
    p.add_argument('--json', type=Path, help='also write the results to this JSON file')
    p.add_argument('--threads', type=int, help='torch and numba threads (default: their defaults, one per core); '
                   '1 gives steadier numbers on a machine other processes are using')
    args = p.parse_args(argv)
    reps, step_reps, n_batches = (5, 1, 2) if args.quick else (15, 2, 4)
    if args.threads: torch.set_num_threads(args.threads); numba.set_num_threads(args.threads)
    busy_before = cores_busy_elsewhere()

    datasets.disable_progress_bars(); transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    t_start = time.perf_counter()
    batches, tok, source = build_batches(n_batches)
    info, hf_tok = TokenizerInfo.from_tokenizer(tok), hf_tokenizer(tok)
    assert hf_tok.convert_tokens_to_ids(SPECIAL_TOKENS) == list(range(info.n_special))   # both sides agree on ids

    results = []
    for rate in RATES: results += core_masking(batches, info, hf_tok, rate, reps)
    for rate in RATES: results += full_collation(batches, info, hf_tok, rate, reps)
    for rate in RATES: results += other_strategies(batches, info, hf_tok, rate, reps)
    add_ratios(results)
    busy_mid = cores_busy_elsewhere()

    train_batch = MLMCollator(info, MaskingConfig(rate=0.15))(batches[0], batches[0]['row_keys'])
    step_times = training_step_seconds(train_batch, info.vocab_size, step_reps)
    step_s = step_times['ours']      # the project's own baseline step, the stricter reference (it is the faster one)
    busy_after = cores_busy_elsewhere()

    print(f'# Masking throughput, {BATCH_SIZE} x {SEQ_LEN} tokens per batch\n')
    print(f'corpus: {source}; WordPiece vocab {info.vocab_size}; {n_batches} batches; median of {reps} timed calls per method '
          f'(after one warm-up call per batch), methods interleaved')
    print(f'threads: torch {torch.get_num_threads()}, numba {numba.get_num_threads()} ({numba.threading_layer()} layer); '
          f'torch {torch.__version__}, transformers {transformers.__version__}, {platform.processor() or platform.machine()}')
    print(f'baseline training step, forward + backward + AdamW on one 128 x 512 batch (median of {step_reps}), hidden 128, 2 layers, '
          f'intermediate 512, vocab {info.vocab_size}: our BertMLM (sparse head) {step_times["ours"]:.2f} s; '
          f'transformers.BertForMaskedLM (dense head) {step_times["transformers"]:.2f} s. "% of train step" uses ours.')
    busy = [b for b in (busy_before, busy_mid, busy_after) if b is not None]
    if len(busy) == 3:
        print(f'cores busy with other processes (of {os.cpu_count()}): {busy_before:.2f} at start, {busy_mid:.2f} after the '
              f'masking timings, {busy_after:.2f} after the training step')
    if busy and max(busy) > 0.25 and torch.get_num_threads() > 1:
        print('WARNING: other processes were using the CPU; with more than one thread per OpenMP team, parallel calls then '
              'stall for whole scheduler slices and every number below is inflated. Rerun on an idle machine, or with --threads 1.')
    print()
    print(markdown_table(results, step_s))
    print('\nsections: core = masking an array/tensor already in memory; collate = list of 128 example dicts -> tensor batch; '
          'strategy = our other strategies. ours/this = our tokens/s / that row\'s (same section, strategy, rate). '
          'masked % = labelled share of maskable tokens (checks equal work).')
    print('transformers whole-word masking replaces every chosen token by [MASK] (it turns off the 10% random / 10% kept) and '
          'compares every pair of tokens in a row ([B,T,T]); our word boundaries are passed to it as character offsets. '
          'transformers has no span masking, so the span row is only compared with itself.\n')
    lines = verdicts(results, step_s)
    for line in lines: print(line)
    print(f'\n(total run time {time.perf_counter() - t_start:.0f} s)')

    if args.json:
        payload = dict(batch_size=BATCH_SIZE, seq_len=SEQ_LEN, corpus=source, vocab_size=info.vocab_size, n_batches=n_batches,
                       reps=reps, train_step_s=step_times, torch_threads=torch.get_num_threads(), numba_threads=numba.get_num_threads(),
                       cores_busy_elsewhere=dict(start=busy_before, after_masking=busy_mid, after_step=busy_after), verdicts=lines,
                       results=[dict(dataclasses.asdict(r), tokens_per_s=r.tokens_per_s) for r in results])
        args.json.write_text(json.dumps(payload, indent=2))
        print(f'wrote {args.json}')


if __name__ == '__main__':
    main()
