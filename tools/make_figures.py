"Static pictures for the README: the masking explorer's figure (docs/images/masking_explorer.png)."
from pathlib import Path
import matplotlib; matplotlib.use('Agg')
import matplotlib.pyplot as plt
import datasets; datasets.disable_progress_bars()
from mlm_explained.data import embedded_corpus, train_tokenizer
from mlm_explained.masking import plot_masking

out = Path(__file__).resolve().parent.parent/'docs'/'images'
out.mkdir(parents=True, exist_ok=True)
tok = train_tokenizer(embedded_corpus('train', n_docs=2000), vocab_size=512)
ax = plot_masking('the capital of france is paris . an angry cat sleeps loudly . three plus four equals seven .', tok,
                  settings=((0.15, 'token'), (0.15, 'whole_word'), (0.3, 'span'), (0.5, 'token'), (0.8, 'token')))
ax.set_title('masking explorer: yellow [MASK], red random token, green kept (but predicted)', fontsize=9)
plt.savefig(out/'masking_explorer.png', dpi=110, bbox_inches='tight')
print('wrote', out/'masking_explorer.png')
