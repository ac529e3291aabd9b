"""Does pretraining pay, and why not at a small learning rate? The study behind `14_finetuning`'s section on it.

A tiny BERT (2 layers of 128, 3,000 steps of 32 x 128 tokens = 12.3M tokens of WikiText-2) against its random-init twin,
fine-tuned on SST-2 (samples of 10,000 and 1,000 sentences) and STS-B (all 5,749 pairs), at each learning rate of
LR_GRID, seeds 0, 1, 2 (the pretraining seed, the fine-tuning seed and the twin's seed alike), with `finetune`'s
default epochs; the head on the mean of the states (the default for one text) and, on SST-2 10k, on [CLS] too; on STS-B, on the mean and on
each text's mean (pool 'pair', the default for two texts). Then the measurements of why: what the frozen states hold, how alike the [CLS]
states of different sentences are, how far fine-tuning moves the weights, and what dropout changes.

Every command is resumable: rows already in its csv are skipped, and each row is appended as soon as it exists.
Run at one thread per process, two processes at a time (--part 0/2 and --part 1/2):

  python tools/finetune_study.py pretrain --seed 0          # runs/finetune-study/bert-s0 (and --seed 1, --seed 2); run again to resume
  python tools/finetune_study.py pretrain --seed 0 --steps 12000   # a longer run: runs/finetune-study/bert-12000-s0
  python tools/finetune_study.py grid --part 0/2            # results/finetune_grid.csv, with how far each fine-tuning moved the encoder
  python tools/finetune_study.py states                     # results/finetune_states.csv
  python tools/finetune_study.py dropout --part 0/2         # results/finetune_dropout.csv
  python tools/finetune_study.py warmup --part 0/2          # results/finetune_warmup.csv
  python tools/finetune_study.py grid --edge --part 0/2     # results/finetune_edge.csv: SST-2 1k at lr 1e-2
  python tools/finetune_study.py floor                      # the grid's bag-of-words column, recomputed (only when no grid runs)
  python tools/finetune_study.py report                     # the tables, from the csvs
"""
from __future__ import annotations
import argparse, contextlib, fcntl, io, json, os, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT/'results'   # --results changes it (for a trial run)
SEEDS = (0, 1, 2)
SETTINGS = {'SST-2 10k': ('SST-2', 10_000), 'SST-2 1k': ('SST-2', 1_000), 'STS-B': ('STS-B', None)}


def data_dir() -> Path:
    from mlm_explained.core import shared_data_dir
    d = shared_data_dir()
    if d is None: sys.exit('finetune_study: the shared data folder (../shared/data) is missing: it holds WikiText-2 and GLUE')
    return d


def run_dir(args, seed:int) -> Path:
    "The pretraining run of a seed: bert-s{seed} for the study's 3,000 steps, bert-{steps}-s{seed} for another --steps."
    return Path(args.runs)/(f'bert-s{seed}' if args.steps == 3000 else f'bert-{args.steps}-s{seed}')


def done_keys(path:Path, keys:list[str]) -> set:
    import pandas as pd
    if not path.exists(): return set()
    return {tuple(str(v) for v in row) for row in pd.read_csv(path, dtype=str)[keys].itertuples(index=False)}


def append_row(path:Path, row:dict):
    "Append one csv row (with the header if the file is new), under a lock: two processes share a file."
    import csv
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'a', newline='') as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        new = f.tell() == 0
        w = csv.DictWriter(f, fieldnames=list(row))
        if new: w.writeheader()
        w.writerow(row); f.flush(); os.fsync(f.fileno())
        fcntl.flock(f, fcntl.LOCK_UN)


def mine(items:list, part:str) -> list:
    k, n = map(int, part.split('/'))
    return items[k::n]


def quiet():
    "finetune prints a line per epoch when progress bars are off: keep them out of the study's output."
    return contextlib.redirect_stdout(io.StringIO())


def cmd_pretrain(args):
    from mlm_explained.core import RunStopped
    from mlm_explained.train import pretrain
    wiki = data_dir()/'wikitext-2-tokens'
    out = run_dir(args, args.seed)
    if (out/'summary.json').exists(): print(f'{out} exists'); return
    resume = (out/'checkpoint.pt').exists()                  # a stopped run goes on where its last checkpoint left it
    try: pretrain(dict(arch='bert', data=str(wiki/'wiki.train.tokens.gz'), valid_data=str(wiki/'wiki.valid.tokens'), max_steps=args.steps, eval_every=500,
                       seed=args.seed), out=out, resume=resume, progress=False)
    except RunStopped as e: sys.exit(f'finetune_study: {e}; run the same command again to go on')


def keep_fitted_model() -> dict:
    "Wrap finetune's rate search so that the model it keeps (the best epoch of the best rate) can be read after `finetune` returns."
    import mlm_explained.finetuning as ft
    kept, search = {}, ft._search
    def keeping(*a, **k):
        out = search(*a, **k); kept['model'] = out[0].model; return out
    ft._search = keeping
    return kept


def moved(start, end) -> dict:
    "How far fine-tuning moved the encoder: |after - before| / |before| over the token embeddings, the blocks, and everything."
    import torch
    a, b = start.encoder.state_dict(), end.encoder.state_dict()
    def rel(pick):
        ks = [k for k in a if pick(k)]
        return float(torch.sqrt(sum(((b[k].double() - a[k].double()) ** 2).sum() for k in ks) / sum((a[k].double() ** 2).sum() for k in ks)))
    return dict(moved_embeddings=rel(lambda k: k.startswith('tok_emb')), moved_blocks=rel(lambda k: k.startswith('blocks')), moved_all=rel(lambda k: True))


def cmd_grid(args):
    from mlm_explained.core import set_seed
    from mlm_explained.finetuning import finetune, task_model_of, LR_GRID
    kept = keep_fitted_model()
    glue = data_dir()/'glue'
    path = RESULTS/(('finetune_edge' if args.edge else 'finetune_grid') + ('' if args.steps == 3000 else f'_{args.steps}') + '.csv')   # a longer pretraining: its own table
    keys = ['seed', 'init', 'setting', 'pool', 'lr']
    done = done_keys(path, keys)
    # the pools are compared on SST-2 10k; SST-2 1k runs with its default pool (mean); STS-B with mean and with its default, pair
    jobs = [(seed, init, setting, pool, lr) for setting, pools in (('SST-2 10k', ('cls', 'mean')), ('STS-B', ('pair',)), ('SST-2 1k', ('mean',)), ('STS-B', ('mean',)))
            for seed in SEEDS for pool in pools for init in ('pretrained', 'random') for lr in LR_GRID]
    if args.extra: jobs = [(seed, init, setting, 'cls', lr) for setting in ('STS-B', 'SST-2 1k') for seed in SEEDS for init in ('pretrained', 'random') for lr in LR_GRID]
    if args.edge: jobs = [(seed, init, 'SST-2 1k', 'mean', 1e-2) for seed in SEEDS for init in ('pretrained', 'random')]   # past the grid's largest rate, which SST-2 1k's pretrained runs chose
    for seed, init, setting, pool, lr in mine(jobs, args.part):
        if (str(seed), init, setting, pool, str(lr)) in done: continue
        task, max_train = SETTINGS[setting]
        t0 = time.time()
        with quiet(): r = finetune(run_dir(args, seed), glue/task, lr=lr, pool=pool, seed=seed, max_train=max_train, random_init=init == 'random', progress=False)
        metric, seconds = r['monitor'], round(time.time() - t0, 1)
        set_seed(seed)                                        # the model the search started from: the same seed, so the same head and twin
        start = task_model_of(run_dir(args, seed), 1, pool=pool, random_init=init == 'random', device='cpu', texts=2 if pool == 'pair' else 1)[0]
        append_row(path, dict(seed=seed, init=init, setting=setting, pool=pool, lr=lr, metric=metric, score=r['dev'][metric], epochs=r['settings']['epochs'],
                              best_epoch=r['best_epoch'], by_epoch=json.dumps([round(e[metric], 4) for e in r['by_epoch']]),
                              bag_of_words=r['baselines']['bag_of_words'][metric], **moved(start, kept['model']), seconds=seconds))
        print(f'{seed} {init:10} {setting:9} {pool:4} lr {lr:g}: {metric} {r["dev"][metric]:.4f} (epoch {r["best_epoch"]} of {r["settings"]["epochs"]}; {time.time() - t0:.0f}s)', flush=True)


def cmd_states(args):
    "What the frozen encoder's vectors hold, pretrained and twin: probes and similarities on SST-2 (10,000 train sentences, the dev set)."
    import numpy as np
    from mlm_explained.core import set_seed
    from mlm_explained.finetuning import load_glue, encode_texts, task_model_of, pooled_states, mean_cosine, frozen_probe, weight_scale, _sample
    path = RESULTS/'finetune_states.csv'
    done = done_keys(path, ['seed', 'init'])
    sst = load_glue(data_dir()/'glue'/'SST-2')
    for seed in args.seeds:
        for init in ('pretrained', 'random'):
            if (str(seed), init) in done: continue
            row = dict(seed=seed, init=init)
            for pool in ('cls', 'mean'):
                set_seed(seed)
                model, tok, cfg, _, _ = task_model_of(run_dir(args, seed), 2, random_init=init == 'random', pool=pool, device='cpu')
                rows = _sample(len(sst.train[0]), 10_000, seed)
                train_x = pooled_states(model, encode_texts([sst.train[0][i] for i in rows], tok, cfg['max_len'])[0])
                dev_x = pooled_states(model, encode_texts(sst.dev['dev'][0], tok, cfg['max_len'])[0])
                row.update({f'probe_{pool}': frozen_probe(train_x, np.asarray(sst.train[1])[rows], dev_x, sst.dev['dev'][1], 2),
                            f'cosine_{pool}': mean_cosine(dev_x), f'norm_{pool}': float(dev_x.norm(dim=1).mean()),
                            f'spread_{pool}': float(dev_x.std(0).mean())})
            row.update(weight_scale(model.encoder))
            append_row(path, row)
            print(f'states {seed} {init}: ' + ', '.join(f'{k} {v:.3f}' for k, v in row.items() if k not in ('seed', 'init')), flush=True)


def small_rate_variant(args, name:str, column:str, values:tuple, changed):
    "SST-2 10k, pool cls, lr 1e-4 (where the pretrained encoder trails), seeds 0-2, pretrained and twin, with one setting `column` at each of `values`; `changed(value)` is a context manager giving finetune's extra arguments. Rows go to results/finetune_{name}.csv."
    from mlm_explained.finetuning import finetune
    path = RESULTS/f'finetune_{name}.csv'
    done = done_keys(path, ['seed', 'init', 'lr', column])
    jobs = [(seed, init, lr, v) for v in values for seed in SEEDS for init in ('pretrained', 'random') for lr in (1e-4,)]
    for seed, init, lr, v in mine(jobs, args.part):
        if (str(seed), init, str(lr), str(v)) in done: continue
        with quiet(), changed(v) as extra:
            r = finetune(run_dir(args, seed), data_dir()/'glue'/'SST-2', lr=lr, pool='cls', seed=seed, max_train=10_000, random_init=init == 'random', progress=False, **extra)
        append_row(path, {'seed': seed, 'init': init, 'lr': lr, column: v, 'score': r['dev']['accuracy'], 'best_epoch': r['best_epoch']})
        print(f'{name} {seed} {init} lr {lr:g} {column} {v}: {r["dev"]["accuracy"]:.4f}', flush=True)


def cmd_dropout(args):
    "Fine-tuning without dropout (the default is 0.1, the grid's rows; pretraining had none)."
    @contextlib.contextmanager
    def changed(d): yield dict(dropout=d)
    small_rate_variant(args, 'dropout', 'dropout', (0.0,), changed)


def cmd_warmup(args):
    "A shorter warm-up (fit_one_cycle's pct_start: 0.25 by default, the grid's rows)."
    from functools import partialmethod
    from fastai.learner import Learner
    import fastai.callback.schedule                           # adds Learner.fit_one_cycle
    one_cycle = Learner.fit_one_cycle
    @contextlib.contextmanager
    def changed(pct):
        Learner.fit_one_cycle = partialmethod(one_cycle, pct_start=pct)
        try: yield {}
        finally: Learner.fit_one_cycle = one_cycle
    small_rate_variant(args, 'warmup', 'pct_start', (0.1, 0.01), changed)


def cmd_floor(args):
    "Recompute the grid's bag-of-words column with the current code: the floor depends only on a seed's sample of the task and its run's tokenizer."
    import numpy as np, pandas as pd
    from tokenizers import Tokenizer
    from mlm_explained.finetuning import load_glue, bow_baseline, _sample
    path = RESULTS/'finetune_grid.csv'
    g = pd.read_csv(path)
    for (seed, setting), rows in g.groupby(['seed', 'setting']):
        task, max_train = SETTINGS[setting]
        data = load_glue(data_dir()/'glue'/task)
        pick = _sample(len(data.train[0]), max_train, int(seed))
        tok = Tokenizer.from_file(str(run_dir(args, int(seed))/'tokenizer.json'))
        floor = bow_baseline(([data.train[0][i] for i in pick], np.asarray(data.train[1])[pick]), data.dev, data.task, tok)
        g.loc[rows.index, 'bag_of_words'] = floor[rows.metric.iloc[0]]
        print(f'floor {seed} {setting}: {floor}', flush=True)
    tmp = path.with_suffix('.tmp'); g.to_csv(tmp, index=False); tmp.replace(path)


def cmd_report(args):
    import pandas as pd
    from mlm_explained.finetuning import auto_rows
    g = pd.read_csv(RESULTS/'finetune_grid.csv')
    def ms(x): return f'{x.mean():.3f} ± {x.std(ddof=0):.3f}'
    print('## each rate and pool: dev score, mean ± std over seeds')
    print(g.groupby(['setting', 'pool', 'lr', 'init'])['score'].agg(ms).unstack('init').to_string())
    auto = auto_rows(g)
    print('\n## lr auto (the best rate of each fine-tuning): mean ± std over seeds')
    print(auto.groupby(['setting', 'pool', 'init'])['score'].agg(ms).unstack('init').to_string())
    print(auto.groupby(['setting', 'pool', 'init'])['lr'].agg(lambda x: ', '.join(f'{v:g}' for v in x)).unstack('init').to_string())
    print('\nbag of words:', g.groupby('setting')['bag_of_words'].agg(ms).to_dict())
    for name in ('states', 'dropout', 'warmup'):
        p = RESULTS/f'finetune_{name}.csv'
        if p.exists():
            t = pd.read_csv(p); by = {'states': ['init'], 'dropout': ['init', 'lr'], 'warmup': ['init', 'lr', 'pct_start']}[name]
            print(f'\n## {name}: mean over seeds'); print(t.drop(columns=['seed']).groupby(by).mean().round(4).to_string())


def main():
    global RESULTS
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('command', choices=['pretrain', 'grid', 'states', 'dropout', 'warmup', 'floor', 'report'])
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--steps', type=int, default=3000, help='pretrain: steps of 32 x 128 tokens (another count is its own run, bert-STEPS-sSEED); the other commands: which runs to fine-tune')
    p.add_argument('--seeds', type=int, nargs='+', default=list(SEEDS), help='states: the seeds to measure')
    p.add_argument('--extra', action='store_true', help='grid: the cls pool on STS-B and SST-2 1k too')
    p.add_argument('--edge', action='store_true', help='grid: SST-2 1k at lr 1e-2, past the grid, into results/finetune_edge.csv')
    p.add_argument('--part', default='0/1', help='k/n: this process takes every n-th job from the k-th')
    p.add_argument('--runs', default=str(ROOT/'runs'/'finetune-study'), help='where the pretraining runs are')
    p.add_argument('--results', default=str(ROOT/'results'), help='where the csvs go')
    args = p.parse_args()
    RESULTS = Path(args.results)
    import torch; torch.set_num_threads(1)
    {'pretrain': cmd_pretrain, 'grid': cmd_grid, 'states': cmd_states, 'dropout': cmd_dropout, 'warmup': cmd_warmup, 'floor': cmd_floor, 'report': cmd_report}[args.command](args)


if __name__ == '__main__': main()
