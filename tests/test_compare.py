"The comparison grid end to end: units in worker processes give the rows one process gives, a rerun reads every finished run back, twins are shared across budgets, and bad settings fail in one line. Also the shared tiny fixture and helper of 03_mlm."
import pytest
import torch

TINY = dict(data='embedded', d_model=32, n_layers=2, n_heads=2, d_ff=64, seq_len=64, batch_size=8, tokenizer_vocab=512)
SENTENCES = ['a fine film .', 'a dull film .', 'the best day .', 'the worst day .']

@pytest.fixture(scope='module')
def sst2(tmp_path_factory):
    from mlm_explained.finetuning import write_glue_example
    return write_glue_example(tmp_path_factory.mktemp('glue')/'SST-2', 'SST-2', [(s, str(i % 2)) for i, s in enumerate(SENTENCES * 4)])

def grid(runs_dir, sst2, jobs, **budget):
    from mlm_explained.compare import run_grid
    return run_grid({'bert': dict(arch='bert')}, TINY, runs_dir, {'SST-2': sst2}, seeds=(0, 1), finetune_settings=dict(epochs=1, lr=1e-3),
                    evaluations=1, jobs=jobs, **budget)

def test_worker_processes_give_the_rows_of_one_process(tmp_path, sst2):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                                    # as each of the two workers runs
    try: one = grid(tmp_path/'one', sst2, 1, reference_steps=3)
    finally: torch.set_num_threads(threads)
    two = grid(tmp_path/'two', sst2, 2, reference_steps=3)
    cols = ['contender', 'seed', 'task', 'init', 'steps', 'flops', 'masked_acc', 'valid_loss', 'score']
    assert one[cols].equals(two[cols])                          # same seeds, one thread each: the same numbers
    assert (tmp_path/'two'/'grid-flops.csv').exists() and len(two) == 4

def test_a_rerun_reads_finished_runs_back_and_twins_serve_both_budgets(tmp_path, sst2):
    first = grid(tmp_path, sst2, 1, reference_steps=3)
    stamp = {p: p.stat().st_mtime_ns for p in tmp_path.rglob('summary.json')}
    again = grid(tmp_path, sst2, 1, reference_steps=3)
    assert first.equals(again) and stamp == {p: p.stat().st_mtime_ns for p in tmp_path.rglob('summary.json')}   # nothing retrained
    timed = grid(tmp_path, sst2, 1, minutes=0.02)
    assert (timed.budget == 'minutes').all() and (timed.seconds < 0.02 * 60 + 10).all()
    twins = lambda t: t[t.init == 'random'].set_index('seed')['score']
    assert twins(timed).equals(twins(first))                   # the random-init twin does not depend on the budget: fine-tuned once
    assert len(list((tmp_path/'random-init').rglob('summary.json'))) == 2

def test_bad_grid_settings_fail_in_one_line(tmp_path, sst2):
    from mlm_explained.core import UserError
    from mlm_explained.compare import run_full_grid
    with pytest.raises(UserError, match='one budget'): grid(tmp_path, sst2, 1)
    with pytest.raises(UserError, match='jobs=0'): grid(tmp_path, sst2, 0, reference_steps=3)
    with pytest.raises(UserError, match="unknown grid setting 'seed'.*use one of contenders"): run_full_grid(tmp_path, seed=1)
    with pytest.raises(UserError, match='needs the shared data.*MLM_EXPLAINED_DATA'): run_full_grid(tmp_path, tmp_path/'nowhere')

def test_tiny_corpus_is_built_once_and_train_tiny_repeats_exactly():
    from mlm_explained.mlm import tiny_corpus, train_tiny
    corpus = tiny_corpus(vocab=300, seq_len=32, valid_docs=20)
    assert tiny_corpus(vocab=300, seq_len=32, valid_docs=20) is corpus and corpus.info.vocab_size == 300
    threads = torch.get_num_threads()
    runs = [train_tiny('bert', 6, corpus, seed=3, d_model=16, n_layers=1, n_heads=2, d_ff=32) for _ in range(2)]
    assert runs[0].metrics == runs[1].metrics and list(runs[0].metrics)[:2] == ['valid_loss', 'masked_acc']
    assert runs[0].learn.step_counter.step == 6 and runs[0].seconds > 0 and torch.get_num_threads() == threads
