"""Resuming a streamed run: the checkpoint's stream position (ours) against skipping batches by reading the stream again
from its start (what a resume by skipping does, e.g. transformers' Trainer).

Side by side in one process, on WikiText-2's train split from the shared data folder (the embedded corpus when that is
absent), read as a stream and packed into blocks of 128 tokens, batches of 32, windows of 1,000 documents shuffled: for
a run stopped after a quarter, half, and all of one pass over the corpus, the seconds from a fresh loader to its first
batch, (a) loading the saved position and (b) reading and skipping every batch before it. It checks that both give the
batch an uninterrupted loader gives, and prints a markdown table with the ratio (b) / (a).

    .venv/bin/python benchmarks/streaming_resume.py
"""
from __future__ import annotations
import sys, time
from pathlib import Path
import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
from mlm_explained.core import shared_data_dir
from mlm_explained.data import TokenizerInfo, train_tokenizer, embedded_corpus
from mlm_explained.masking import MLMCollator, MaskingConfig
from mlm_explained.streaming import CorpusStream, stream_corpus

def main():
    data = shared_data_dir()
    spec = str(data/'wikitext-2-tokens'/'wiki.train.tokens.gz') if data else 'embedded'
    tok = train_tokenizer(embedded_corpus('train'), 'wordpiece', 8000)
    collate = MLMCollator(TokenizerInfo.from_tokenizer(tok), MaskingConfig(), seed=0)
    make = lambda: stream_corpus(spec)
    loader = lambda: CorpusStream(make, tok, collate, bs=32, seq_len=128, batches_per_epoch=1, window_docs=1000)
    probe = loader()                                           # one pass, to know its length
    n_batches = 0
    while probe.state['pass'] == 0: next(iter(probe)); n_batches += 1
    print(f"corpus: {spec}; one pass = {n_batches} batches of 32 x 128")
    rows = []
    for share in (0.25, 0.5, 1.0):
        position = max(1, int(n_batches * share) - 1)
        run = loader()
        for _ in range(position): next(iter(run))             # the run so far (not timed)
        saved, cursor = run.state_dict(), run.cursor
        expected = next(iter(run))[0]['input_ids']
        t0 = time.perf_counter()
        resumed = loader(); resumed.load_state_dict(saved); resumed.cursor = cursor
        got = next(iter(resumed))[0]['input_ids']
        ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        skipping = loader()
        for _ in range(position): next(iter(skipping))        # skip by reading: every batch before the position, made and dropped
        skipped = next(iter(skipping))[0]['input_ids']
        theirs = time.perf_counter() - t0
        assert np.array_equal(got.numpy(), expected.numpy()) and np.array_equal(skipped.numpy(), expected.numpy())
        rows.append((share, position, ours, theirs))
    print('\n| stopped after | batches to skip | saved position (s) | skip by reading (s) | ratio |\n|---|---|---|---|---|')
    for share, position, ours, theirs in rows:
        print(f"| {share:.0%} of a pass | {position:,} | {ours:.2f} | {theirs:.2f} | {theirs / ours:.1f}x |")

if __name__ == '__main__': main()
