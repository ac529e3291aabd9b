"Repeated-MLM masking: exact counts of both ratios on random blocks, labels only at [MASK]s, specials never masked, bad settings refused."
import numpy as np
import pytest, torch
from mlm_explained.core import UserError
from mlm_explained.data import TokenizerInfo
from mlm_explained.corrupted_semantics import (RepeatedMaskingConfig, RepeatedMLMCollator, corruption_ratios, repeat_tokens,
                                               repeated_counts, lost_originals)

INFO = TokenizerInfo(vocab_size=60)

@pytest.mark.parametrize('k,r,c', [(2, 0.4, 0.0), (2, 0.4, 0.2), (2, 0.3, 0.3), (3, 0.5, 0.2), (1, 0.15, 0.15)])
def test_collator_hits_both_counts_in_every_row(k, r, c):
    rng = np.random.default_rng(k)
    ids = rng.integers(5, 60, (16, 40)); ids[:, 0], ids[:, -1] = 2, 3
    ids[:8, 20] = 3; ids[4:, 35:] = 0                                     # document breaks and padding
    cfg = RepeatedMaskingConfig(k, r, c)
    batch = RepeatedMLMCollator(INFO, cfg, seed=3)({'input_ids': ids}, np.arange(16))
    masked = batch['labels'] != -100
    assert torch.equal(masked, batch['input_ids'] == INFO.mask_id)      # every masked position is [MASK] and labelled
    repeated, _ = repeat_tokens(ids, k, INFO)
    assert (repeated[masked.numpy()] >= INFO.n_special).all()           # specials and padding never masked
    is_orig, lost = lost_originals(batch)
    for b in range(16):
        n = int((ids[b] >= INFO.n_special).sum())
        assert int(is_orig[b].sum()) == n
        assert (int(lost[b].sum()), int(masked[b].sum())) == repeated_counts(n, cfg)
    ratios = corruption_ratios(batch)
    assert abs(ratios['mask_ratio'] - r) < 0.05 and abs(ratios['corrupt_ratio'] - c) < 0.05

def test_infeasible_ratios_are_refused():
    for k, r, c in [(2, 0.6, 0.1), (2, 0.1, 0.2), (1, 0.3, 0.1), (0, 0.3, 0.3)]:
        with pytest.raises(UserError): RepeatedMaskingConfig(k, r, c)
