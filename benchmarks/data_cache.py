"""What `datasets`' cache saves the in-memory path: the same `prepare_data` (load WikiText-2's train split, train the
8,000-piece WordPiece, tokenize, pack into blocks of 128; the validation split too) run twice, each time in a fresh
process, sharing one fresh cache folder. The second run finds the trained tokenizer (named by the corpus's fingerprint,
the settings and the training code) and the tokenized and packed tables (under fingerprints of the corpus, the tokenizer
and the code that made them) and loads them instead of computing them. It checks that both runs give the same
tokenizer and blocks and prints a markdown table.

    .venv/bin/python benchmarks/data_cache.py
"""
from __future__ import annotations
import json, os, subprocess, sys, tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CHILD = r'''
import hashlib, json, sys, time
sys.path.insert(0, sys.argv[1])
from mlm_explained.core import shared_data_dir
from mlm_explained.train import resolve_config, prepare_data
d = shared_data_dir()
data = str(d/'wikitext-2-tokens'/'wiki.train.tokens.gz') if d else 'embedded'
valid = str(d/'wikitext-2-tokens'/'wiki.valid.tokens') if d else None
t0 = time.perf_counter()
tok, train, valid_blocks = prepare_data(resolve_config({'data': data, 'valid_data': valid}))
seconds = time.perf_counter() - t0
digest = hashlib.sha256(train['input_ids'][:].tobytes() + valid_blocks['input_ids'][:].tobytes() + tok.to_str().encode()).hexdigest()
print(json.dumps({'seconds': seconds, 'blocks': len(train), 'digest': digest, 'data': data}))
'''

def run(cache:str) -> dict:
    env = {**os.environ, 'HF_DATASETS_CACHE': cache, 'HF_DATASETS_DISABLE_PROGRESS_BARS': '1'}
    out = subprocess.run([sys.executable, '-c', CHILD, str(PROJECT_ROOT)], capture_output=True, text=True, env=env, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])

def main():
    with tempfile.TemporaryDirectory() as cache:
        first, second = run(cache), run(cache)
    assert first['digest'] == second['digest'], 'the cached tokenizer or blocks differ from the computed ones'
    print(f"corpus: {first['data']}, {first['blocks']:,} train blocks of 128 tokens\n")
    print('| run | prepare_data (s) |\n|---|---|')
    print(f"| first (fresh cache) | {first['seconds']:.1f} |\n| second (same cache) | {second['seconds']:.1f} |")
    print(f"\nsaved: {first['seconds'] - second['seconds']:.1f} s ({first['seconds'] / second['seconds']:.1f}x)")

if __name__ == '__main__': main()
