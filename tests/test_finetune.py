"Fine-tuning end to end: every arch on every GLUE layout (small files written in GLUE's exact layouts), the CLI, the real files, and every bad input."
import json
import pytest
import numpy as np
from conftest import run_cli
from test_bad_input import assert_one_line_error

TINY = dict(d_model=32, n_layers=2, seq_len=64, batch_size=8, tokenizer_vocab=512, eval_every=10, max_steps=10)
SHAPES = {'bert': dict(n_heads=2, d_ff=64), '3ml': dict(n_heads=2, d_ff=64), 'exlm': dict(n_heads=2, d_ff=64, expand_states=2),
          'masked-elmo': dict(d_hidden=48), 'elmo': dict(d_hidden=48)}
PAIRS = [('a man is playing a flute .', 'a man plays the flute .'), ('"quoted', 'text" stays'), ('it rains .', 'the sun shines .'),
         ('the capital of france is paris .', 'paris is in france .')]

def examples(name):
    "Four examples of task `name`, labels spelled as its files spell them."
    from mlm_explained.finetuning import GLUE_TASKS
    labels = GLUE_TASKS[name].labels or ('0.4', '4.8', '2.5', '3.0')
    texts = [(a,) for a, _ in PAIRS] if name in ('CoLA', 'SST-2') else PAIRS
    return [(*t, labels[i % len(labels)]) for i, t in enumerate(texts)]

@pytest.fixture(scope='session')
def runs(tmp_path_factory):
    "A 10-step run of every arch on the embedded corpus: these tests check the plumbing, not learning."
    from mlm_explained.train import pretrain
    base = tmp_path_factory.mktemp('runs')
    for arch, shape in SHAPES.items(): pretrain({**TINY, **shape, 'arch': arch}, out=base/arch, progress=False)
    return {arch: base/arch for arch in SHAPES}

@pytest.fixture(scope='session')
def glue(tmp_path_factory):
    from mlm_explained.finetuning import GLUE_TASKS, write_glue_example
    base = tmp_path_factory.mktemp('glue')
    return {name: write_glue_example(base/name, name, examples(name)) for name in GLUE_TASKS}

@pytest.mark.parametrize('arch', list(SHAPES))
def test_every_arch_finetunes_on_every_glue_layout(runs, glue, arch):
    from mlm_explained.finetuning import finetune, GLUE_TASKS
    from mlm_explained.core import get_arch
    for name, folder in glue.items():
        for mode in get_arch(arch).finetune_modes:
            r = finetune(runs[arch], folder, epochs=1, lr=1e-3, bs=2, mode=mode, progress=False)
            task = GLUE_TASKS[name]
            want = {f'{m}_{s}' for m in task.metrics for s in ('matched', 'mismatched')} if name == 'MNLI' else set(task.metrics)
            assert set(r['dev']) == want and all(np.isfinite(v) for v in r['dev'].values()), (name, mode, r['dev'])
            assert (r['task'], r['kind'], r['mode'], r['arch']) == (name, task.kind, mode, arch)

def test_pairs_are_one_sequence_and_stsb_is_a_regression(runs, glue):
    from mlm_explained.finetuning import load_glue, encode_texts, glue_objective, task_model_of
    from mlm_explained.train import load_pretrained
    data = load_glue(glue['STS-B'])
    assert data.train[1] == [0.4, 4.8, 2.5, 3.0] and data.task.kind == 'regression'
    _, tok, _ = load_pretrained(runs['bert'])
    ids, _, _ = encode_texts(data.train[0], tok, 64)
    assert all(x[0] == 2 and x.count(3) == 2 and x[-1] == 3 for x in ids)           # [CLS] a [SEP] b [SEP]
    model, *_ = task_model_of(runs['bert'], glue_objective(data.task).n_outputs, texts=2)
    assert model.classifier.out_features == 1 and model.pool == 'pair'             # one output: the score; a pair's default pool
    assert model.classifier.in_features == 4 * model.encoder.cfg.d_model            # [u, v, |u - v|, u * v]
    assert task_model_of(runs['bert'], 2)[0].pool == 'mean'                         # one text: the mean

def test_the_same_command_twice_gives_the_same_result(runs, glue):
    from mlm_explained.finetuning import finetune
    a, b = (finetune(runs['exlm'], glue['MRPC'], epochs=2, bs=2, seed=3, progress=False) for _ in range(2))
    assert a['by_epoch'] == b['by_epoch'] and a['dev'] == b['dev']

def test_random_init_is_the_same_arch_without_pretraining(runs):
    import torch
    from mlm_explained.finetuning import task_model_of
    pre, *_ = task_model_of(runs['3ml'], 2)
    twin, *_ = task_model_of(runs['3ml'], 2, random_init=True)
    a, b = pre.state_dict(), twin.state_dict()
    assert a.keys() == b.keys() and not torch.equal(a['encoder.tok_emb.weight'], b['encoder.tok_emb.weight'])
    assert not any(k.startswith('decoder') or '.decoder.' in k for k in a)           # 3ML's decoder is not fine-tuned

def test_elmo_frozen_trains_only_the_mix_and_the_task_model(runs, glue):
    from mlm_explained.finetuning import task_model_of
    model, *_ = task_model_of(runs['elmo'], 2, mode='frozen')
    assert not any(p.requires_grad for p in model.embedder.lm.parameters())
    full, *_ = task_model_of(runs['elmo'], 2, mode='full')
    assert all(p.requires_grad for p in full.embedder.lm.parameters())

def test_cli_finetune_writes_summary_and_plot(runs, glue, tmp_path):
    res = run_cli('finetune', runs['masked-elmo'], glue['MNLI'], '--epochs', 2, '--bs', 2, '--mode', 'full', '--out', tmp_path/'ft', '--no-progress')
    assert res.returncode == 0, res.stderr[-2000:]
    assert 'done: MNLI dev accuracy_matched' in res.stdout and 'mode full' in res.stdout
    summary = json.loads((tmp_path/'ft'/'summary.json').read_text())
    assert summary['settings']['epochs'] == 2 and len(summary['by_epoch']) == 2 and summary['chosen_on'] == 'matched'
    assert (tmp_path/'ft'/'metric_by_epoch.png').stat().st_size > 1000
    res = run_cli('finetune', runs['bert'], glue['SST-2'], '--epochs', 1, '--bs', 2, '--random-init', '--no-progress')
    assert res.returncode == 0 and 'random init' in res.stdout, res.stderr[-2000:]

def _bom_crlf(folder, to, bom:bool, crlf:bool):
    "A copy of a task folder with a UTF-8 byte-order mark and/or Windows line ends, as GLUE's own download leaves some tasks."
    to.mkdir(parents=True)
    for f in folder.iterdir():
        body = f.read_bytes()
        (to/f.name).write_bytes((b'\xef\xbb\xbf' if bom else b'') + (body.replace(b'\n', b'\r\n') if crlf else body))
    return to

@pytest.mark.parametrize('bom,crlf', [(True, False), (False, True), (True, True)])
def test_every_task_reads_with_a_bom_and_crlf(glue, tmp_path, bom, crlf):
    from mlm_explained.finetuning import load_glue
    for name, folder in glue.items():
        plain, odd = load_glue(folder), load_glue(_bom_crlf(folder, tmp_path/name, bom, crlf))
        assert (odd.train, odd.dev) == (plain.train, plain.dev), name

def test_cli_finetunes_mrpc_as_glue_writes_it(runs, glue, tmp_path):
    folder = _bom_crlf(glue['MRPC'], tmp_path/'MRPC', True, True)                    # MRPC's header begins with the mark
    res = run_cli('finetune', runs['bert'], folder, '--epochs', 1, '--lr', '1e-3', '--bs', 2, '--no-progress')
    assert res.returncode == 0 and 'done: MRPC dev f1' in res.stdout, res.stderr[-2000:]

def test_lr_auto_pool_and_the_floor(runs, glue, tmp_path):
    from mlm_explained.finetuning import finetune, LR_GRID
    res = run_cli('finetune', runs['bert'], glue['STS-B'], '--epochs', 1, '--bs', 2, '--out', tmp_path/'ft', '--no-progress')   # lr auto, pool pair: the defaults
    assert res.returncode == 0, res.stderr[-2000:]
    s = json.loads((tmp_path/'ft'/'summary.json').read_text())
    assert [t['lr'] for t in s['lr_search']] == list(LR_GRID) and s['settings']['lr'] in LR_GRID and s['pool'] == 'pair'
    assert 'best of 0.0001, 0.0003, 0.001, 0.003' in res.stdout and 'bag-of-words floor: dev pearson' in res.stdout
    assert set(s['baselines']['bag_of_words']) == {'alpha', 'pearson', 'spearman'}
    a = finetune(runs['bert'], glue['SST-2'], epochs=2, bs=2, lr=[1e-4, 3e-3], progress=False)
    b = finetune(runs['bert'], glue['SST-2'], epochs=2, bs=2, lr=a['settings']['lr'], progress=False)   # the winner alone gives the same run
    assert a['by_epoch'] == b['by_epoch'] and a['dev'] == b['dev']
    c = finetune(runs['bert'], glue['SST-2'], epochs=2, bs=2, lr=1e-3, pool='cls', progress=False)
    assert c['pool'] == 'cls' and c['settings']['lrs'] == [1e-3]

def test_real_glue_files(runs, shared_data):
    from mlm_explained.finetuning import finetune
    r = finetune(runs['bert'], shared_data/'glue'/'CoLA', epochs=1, max_train=64, progress=False)
    assert r['sizes'] == {'train': 64, 'train_file': 8551, 'dev': 1043} and -1 <= r['dev']['matthews'] <= 1

def test_the_main_verbs_are_at_the_top_level():
    import mlm_explained
    from mlm_explained.finetuning import finetune
    from mlm_explained.train import pretrain, load_pretrained
    from mlm_explained.mlm import fill_mask, mlm_learner
    assert (mlm_explained.finetune, mlm_explained.pretrain, mlm_explained.load_pretrained, mlm_explained.fill_mask, mlm_explained.mlm_learner) == \
           (finetune, pretrain, load_pretrained, fill_mask, mlm_learner)
    with pytest.raises(AttributeError): mlm_explained.no_such_verb

# ---- bad input: one line, exit status 2
def test_a_task_folder_with_a_missing_file(runs, glue, tmp_path):
    import shutil
    folder = shutil.copytree(glue['MNLI'], tmp_path/'MNLI')
    (folder/'dev_mismatched.tsv').unlink()
    assert_one_line_error(run_cli('finetune', runs['bert'], folder), 'dev_mismatched.tsv is missing', 'dev_matched.tsv and dev_mismatched.tsv')

def test_an_unknown_layout_or_task(runs, glue, tmp_path):
    assert_one_line_error(run_cli('finetune', runs['bert'], glue['SST-2'], '--task', 'RTE'), "not in GLUE's RTE layout", "header lacks 'sentence1'")
    (tmp_path/'reviews').mkdir()
    assert_one_line_error(run_cli('finetune', runs['bert'], tmp_path/'reviews'), "the folder name 'reviews' is not a GLUE task", '--task')
    cola = tmp_path/'CoLA'; cola.mkdir()
    (cola/'train.tsv').write_text('sentence\tlabel\nthe cat sat .\t1\n'); (cola/'dev.tsv').write_text('sentence\tlabel\n')
    assert_one_line_error(run_cli('finetune', runs['bert'], cola), 'its first line looks like a header')

def test_a_label_outside_the_tasks_set(runs, tmp_path):
    qnli = tmp_path/'QNLI'; qnli.mkdir()
    (qnli/'train.tsv').write_text('index\tquestion\tsentence\tlabel\n0\twhy ?\tbecause .\tentailment\n1\twho ?\tnobody .\tcontradiction\n')
    (qnli/'dev.tsv').write_text('index\tquestion\tsentence\tlabel\n0\twhy ?\tbecause .\tentailment\n')
    assert_one_line_error(run_cli('finetune', runs['bert'], qnli), "line 3: label 'contradiction' is not one of QNLI's entailment, not_entailment")

def test_a_run_with_another_vocabulary(glue, tmp_path):
    import datasets
    from mlm_explained.train import pretrain
    (tmp_path/'mols.csv').write_text('smiles\n' + '\n'.join(['CCO', 'c1ccccc1', 'CCN', 'CC(=O)O', 'CCCl'] * 40) + '\n')
    pretrain({**TINY, **SHAPES['bert'], 'data': str(tmp_path/'mols.csv'), 'tokenizer': 'smiles', 'max_steps': 2, 'eval_every': 2}, out=tmp_path/'smiles_run', progress=False)
    assert_one_line_error(run_cli('finetune', tmp_path/'smiles_run', glue['SST-2']), "[UNK]: the run was pretrained on other text")

def test_an_elmo_run_asked_what_it_cannot_do(runs, glue):
    assert_one_line_error(run_cli('fill-mask', runs['elmo'], 'the [MASK] .'), 'does not fill blanks')
    assert_one_line_error(run_cli('finetune', runs['elmo'], glue['SST-2'], '--mode', 'top'), "fine-tunes in mode frozen or full, not 'top'")
    assert_one_line_error(run_cli('finetune', runs['bert'], glue['SST-2'], '--mode', 'frozen'), "fine-tunes in mode full, not 'frozen'")
    assert_one_line_error(run_cli('finetune', runs['elmo'], glue['SST-2'], '--pool', 'mean'), "pools its states by max, not 'mean'", '--pool')
    assert_one_line_error(run_cli('finetune', runs['bert'], glue['SST-2'], '--pool', 'max'), "pools its states by mean or cls or pair, not 'max'")
    assert_one_line_error(run_cli('finetune', runs['bert'], glue['SST-2'], '--pool', 'pair'), "pool 'pair' reads the two texts of a pair task", '--pool mean')
    assert_one_line_error(run_cli('finetune', runs['elmo'], glue['STS-B'], '--pool', 'pair'), "pools its states by max, not 'pair'")

def test_the_hub_offline_and_other_bad_requests(runs, glue, tmp_path):
    from mlm_explained.data import hub_reachable
    res = run_cli('finetune', runs['bert'], 'hub:glue/sst2', env={'HF_HUB_OFFLINE': '0', 'HF_DATASETS_OFFLINE': '0'})   # the real network call
    if hub_reachable(): pytest.skip('the Hub is reachable from here: the offline path cannot be exercised')
    assert_one_line_error(res, "cannot reach the Hugging Face Hub", "GLUE's SST-2")
    assert_one_line_error(run_cli('finetune', runs['bert'], 'hub:glue/nope'), "'nope' is not a GLUE task")
    assert_one_line_error(run_cli('finetune', runs['bert'], glue['SST-2'], '--epochs', 0), '--epochs must be a whole number of at least 1')
    assert_one_line_error(run_cli('finetune', runs['bert'], glue['SST-2'], '--lr', 'fast'), "'fast' is not 'auto' or learning rates")
    assert_one_line_error(run_cli('finetune', runs['bert'], glue['SST-2'], '--lr', '1e-3,-1'), 'learning rates must be above 0')
    assert_one_line_error(run_cli('finetune', runs['bert'], glue['SST-2'], '--epochs', 'many'), "'many' is not 'auto' or a whole number")
    assert_one_line_error(run_cli('finetune', tmp_path, glue['SST-2']), 'is not a pretraining run folder')
    assert_one_line_error(run_cli('finetune', runs['bert'], tmp_path/'x.csv', '--task', 'SST-2'), '--task names a GLUE task')
