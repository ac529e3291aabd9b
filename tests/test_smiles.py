"SMILES end to end: a SMILES csv as a corpus, the smiles tokenizer through the CLI, scaffold splits, MoleculeNet loading, ROC-AUC and fine-tuning."
import json, itertools, os
import numpy as np
import pytest
from conftest import run_cli, ROOT

os.environ.setdefault('OMP_NUM_THREADS', '1')
TINY = ['--config', str(ROOT/'tests'/'tiny.json')]
RINGS = ['c1ccccc1', 'c1ccncc1', 'C1CCCCC1', 'c1ccoc1', 'C1CCNCC1', 'c1ccc2ccccc2c1', 'c1cc[nH]c1', 'C1CC1', 'c1ccsc1', 'C1CCOC1']
SUBS = ['C', 'CC', 'O', 'N', 'Cl', 'F', 'OC', 'Br', '[NH3+]CC', 'N#C']
LINKERS = ['', 'C', 'CC', 'C(=O)N', 'O', 'S(=O)(=O)']

def made_up_molecules(n:int=300) -> list[str]:
    "Valid SMILES from fragments: substituent + ring + linker + ring; every string distinct."
    combos = itertools.product(SUBS, RINGS, LINKERS, RINGS)
    return [f'{s}{r1}{l}{r2}' for s, r1, l, r2 in itertools.islice(combos, 0, n * 7, 7)]

@pytest.fixture
def smiles_csv(tmp_path):
    path = tmp_path/'mols.csv'
    rng = np.random.default_rng(0)
    rows = [f'{i},{smi},{int(rng.random() < 0.4)}' for i, smi in enumerate(made_up_molecules())]
    path.write_text('id,SMILES,active\n' + '\n'.join(rows) + '\n')
    return path

def test_made_up_molecules_parse():
    from mlm_explained.chemistry import parse_smiles
    mols = made_up_molecules()
    assert len(set(mols)) == len(mols) == 300
    for smi in mols: parse_smiles(smi)

def test_cli_pretrains_on_a_smiles_csv_with_the_smiles_tokenizer(tmp_path, smiles_csv):
    out = tmp_path/'run'
    res = run_cli('pretrain', '--data', smiles_csv, '--tokenizer', 'smiles', '--respect-docs', '--max-steps', 5, '--out', out, *TINY)
    assert res.returncode == 0, res.stderr
    from mlm_explained.data import load_tokenizer, SPECIAL_TOKENS
    tok = load_tokenizer(out/'tokenizer.json')
    assert [tok.token_to_id(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    from mlm_explained.smiles import smiles_tokens
    assert {t for smi in made_up_molecules() for t in smiles_tokens(smi)} <= set(tok.get_vocab())   # every token of the corpus, bracket atoms whole
    assert {'[nH]', 'c', '1'} <= set(tok.get_vocab())
    for smi in made_up_molecules():
        enc = tok.encode(smi)
        assert tok.decode(enc.ids) == smi and 1 not in enc.ids
    assert json.loads((out/'config.json').read_text())['tokenizer'] == 'smiles'

def test_smiles_tokenizer_round_trips_and_knows_its_kind():
    from mlm_explained.data import train_tokenizer, TOKENIZER_KINDS
    from mlm_explained.core import UserError
    import mlm_explained.smiles  # registers the kind
    assert 'smiles' in TOKENIZER_KINDS
    hard = ['[Cl-].CC(C)[NH2+]CC(O)COc1cccc2ccccc12', 'C%10CCCCC%10', 'F/C=C\\F', 'N[C@@H](C)C(=O)O', 'Brc1ccc(Cl)cc1', '[13CH3]O', 'C#N.[Na+]']
    tok = train_tokenizer(hard, 'smiles')
    for smi in hard:
        enc = tok.encode(smi)
        assert ''.join(enc.tokens) == smi and tok.decode(enc.ids) == smi and 1 not in enc.ids
    assert tok.encode('ClCBr').tokens == ['Cl', 'C', 'Br']
    with pytest.raises(UserError, match=r"unknown tokenizer kind 'sentencepiece'.*'smiles'"): train_tokenizer(hard, 'sentencepiece')

def test_zinc_round_trip(shared_data):
    from mlm_explained.data import train_tokenizer, load_corpus
    import mlm_explained.smiles
    corpus = load_corpus(shared_data/'smiles'/'moses_zinc_train10k.csv')
    tok = train_tokenizer(corpus, 'smiles')
    texts = corpus['text'][:]
    encs = tok.encode_batch(texts, add_special_tokens=False)
    assert len(texts) == 9999
    assert all(''.join(e.tokens) == t for e, t in zip(encs, texts))
    assert tok.decode_batch([e.ids for e in encs]) == texts
    assert not any(1 in e.ids for e in encs)

def test_csv_corpus_errors(tmp_path):
    from mlm_explained.data import load_corpus
    from mlm_explained.core import UserError
    (tmp_path/'x.csv').write_text('id,label\n1,0\n')
    with pytest.raises(UserError, match=r"no 'text' or SMILES column \(columns: \['id', 'label'\]\)"): load_corpus(tmp_path/'x.csv')
    (tmp_path/'y.csv').write_text('Canonical_SMILES,y\nCCO,1\n,0\nc1ccccc1,1\n')
    assert load_corpus(tmp_path/'y.csv')['text'][:] == ['CCO', 'c1ccccc1']

def test_scaffold_split_properties(smiles_csv):
    from mlm_explained.chemistry import scaffold_split, scaffold_key, load_moleculenet
    smiles, labels, tasks = load_moleculenet(smiles_csv, tasks=['active'])
    smiles = smiles + ['C1CC', 'CC(C']                                                  # two that do not parse
    split = scaffold_split(smiles)
    assert [i for i, _ in split.rejected] == [300, 301] and 'unclosed' in split.rejected[0][1]
    parts = [split.train, split.valid, split.test]
    assert sorted(sum(parts, [])) == list(range(300))
    keys = [{scaffold_key(smiles[i]) for i in p} for p in parts]
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])
    assert len(split.train) <= 0.8 * 300 and len(split.train) + len(split.valid) <= 0.9 * 300 and len(split.test) >= 0.1 * 300
    assert scaffold_split(smiles) == split                                              # deterministic

def test_scaffold_split_of_moleculenet_sets(shared_data):
    from mlm_explained.chemistry import scaffold_split, load_moleculenet
    for name, expected in [('BBBP.csv', (2050, ['p_np'])), ('bace.csv', (1513, ['Class'])), ('clintox.csv', (1484, ['FDA_APPROVED', 'CT_TOX']))]:
        smiles, labels, tasks = load_moleculenet(shared_data/'smiles'/'moleculenet'/name)
        assert (len(smiles), tasks) == expected and labels.shape == (len(smiles), len(tasks))
        split = scaffold_split(smiles)
        n = len(split.train) + len(split.valid) + len(split.test)
        assert n == len(smiles) and not split.rejected
        assert abs(len(split.train) / n - 0.8) < 0.01 and abs(len(split.valid) / n - 0.1) < 0.01
        for part in (split.valid, split.test):                                          # both classes of every task
            assert all(0 < np.nanmean(labels[part, t]) < 1 for t in range(len(tasks)))

def test_scaffolds_agree_with_rdkit(shared_data):
    pytest.importorskip('rdkit')
    import pandas as pd
    from mlm_explained.chemistry import scaffold_agreement
    for name, col in [('BBBP.csv', 'SMILES'), ('bace.csv', 'mol'), ('clintox.csv', 'smiles')]:
        agreement = scaffold_agreement(pd.read_csv(shared_data/'smiles'/'moleculenet'/name)[col].tolist())
        assert agreement['same_group'] == 1.0 and agreement['groups_ours'] == agreement['groups_rdkit'], (name, agreement)

def test_moleculenet_loader_errors(tmp_path, smiles_csv):
    from mlm_explained.chemistry import load_moleculenet
    from mlm_explained.core import UserError
    with pytest.raises(UserError, match='no MoleculeNet file at'): load_moleculenet(tmp_path/'missing.csv')
    (tmp_path/'nosmiles.csv').write_text('id,p_np\n1,0\n')
    with pytest.raises(UserError, match=r"no SMILES column \(columns: \['id', 'p_np'\]\)"): load_moleculenet(tmp_path/'nosmiles.csv')
    with pytest.raises(UserError, match=r"unknown task columns \['toxic'\].*'active'"): load_moleculenet(smiles_csv, tasks=['toxic'])
    with pytest.raises(UserError, match='not a MoleculeNet set this loader knows'): load_moleculenet(smiles_csv)
    (tmp_path/'words.csv').write_text('smiles,active\nCCO,yes\n')
    with pytest.raises(UserError, match='not numbers'): load_moleculenet(tmp_path/'words.csv', tasks='active')
    (tmp_path/'tox21.csv').write_text('NR-AR,NR-AR-LBD,NR-AhR,NR-Aromatase,NR-ER,NR-ER-LBD,NR-PPAR-gamma,SR-ARE,SR-ATAD5,SR-HSE,SR-MMP,SR-p53,mol_id,smiles\n'
                                      '0,,1,0,0,0,0,1,0,0,0,0,TOX1,CCO\n')
    smiles, labels, tasks = load_moleculenet(tmp_path/'tox21.csv')
    assert len(tasks) == 12 and smiles == ['CCO'] and np.isnan(labels[0, 1]) and labels[0, 2] == 1

def test_roc_auc_matches_sklearn():
    from sklearn.metrics import roc_auc_score
    from mlm_explained.chemistry import roc_auc, mean_roc_auc
    rng = np.random.default_rng(1)
    for _ in range(20):
        labels = rng.random(200) < 0.3; scores = rng.integers(0, 5, 200).astype(float)
        assert abs(roc_auc(scores, labels) - roc_auc_score(labels, scores)) < 1e-12
    y = np.array([[1, 1], [0, 1], [np.nan, 1]]); p = np.array([[0.9, 0.1], [0.2, 0.3], [0.5, 0.2]])
    mean, per_task = mean_roc_auc(p, y)
    assert mean == 1.0 and per_task[0] == 1.0 and np.isnan(per_task[1])

def test_finetune_a_cli_run_on_bbbp(tmp_path, shared_data):
    out = tmp_path/'bert'
    res = run_cli('pretrain', '--data', shared_data/'smiles'/'moses_zinc_test10k.csv', '--tokenizer', 'smiles', '--respect-docs',
                  '--max-steps', 5, '--out', out, *TINY)
    assert res.returncode == 0, res.stderr
    from mlm_explained.finetuning import finetune
    result = finetune(out, shared_data/'smiles'/'moleculenet'/'BBBP.csv', epochs=1, bs=64, out=tmp_path/'ft', progress=False)
    assert result['split'] == {'train': 1640, 'valid': 205, 'test': 205, 'scaffolds': 1027}
    assert 0 <= result['test'] <= 1 and result['best_epoch'] == 1 and result['kind'] == 'classification'
    assert json.loads((tmp_path/'ft'/'summary.json').read_text())['test'] == result['test']
    res = run_cli('finetune', out, shared_data/'smiles'/'moleculenet'/'BBBP.csv', '--epochs', 1, '--bs', 64, '--out', tmp_path/'cli', '--no-progress')
    assert res.returncode == 0 and 'test ROC-AUC' in res.stdout, res.stderr
    assert json.loads((tmp_path/'cli'/'summary.json').read_text())['test'] == result['test']        # the CLI is the same function, same seed

def test_exlm_pretrains_on_smiles_and_finetunes_through_the_cli(tmp_path, shared_data):
    out = tmp_path/'exlm'
    res = run_cli('pretrain', '--arch', 'exlm', '--expand-states', 2, '--data', shared_data/'smiles'/'moses_zinc_test10k.csv', '--tokenizer', 'smiles',
                  '--respect-docs', '--max-steps', 5, '--out', out, *TINY)
    assert res.returncode == 0, res.stderr
    res = run_cli('finetune', out, shared_data/'smiles'/'moleculenet'/'clintox.csv', '--epochs', 1, '--bs', 64, '--out', tmp_path/'ft', '--no-progress')
    assert res.returncode == 0 and 'test ROC-AUC' in res.stdout, res.stderr
    result = json.loads((tmp_path/'ft'/'summary.json').read_text())
    assert 0 <= result['test'] <= 1

def test_finetune_refuses_a_folder_that_is_not_a_run(tmp_path, smiles_csv):
    from mlm_explained.finetuning import finetune
    from mlm_explained.core import UserError
    with pytest.raises(UserError, match='is not a pretraining run folder'): finetune(tmp_path, smiles_csv, tasks='active')
