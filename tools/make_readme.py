"""Write README.md from nbs/index.ipynb (nbdev's own README builder needs Quarto, which cannot be installed here).
Markdown cells are copied; code cells become ```python blocks without their `#|` directives; `#| hide` cells are left out.
`--check` exits 1 if README.md differs from what the notebook gives."""
import json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def readme_text(nb_path=ROOT/'nbs'/'index.ipynb') -> str:
    parts = []
    for cell in json.loads(nb_path.read_text())['cells']:
        src = ''.join(cell['source']).strip('\n')
        lines = src.splitlines()
        directives = [l for l in lines if l.startswith('#|')]
        if any(d.replace(' ', '') in ('#|hide', '#|include:false') for d in directives): continue
        if cell['cell_type'] == 'markdown': parts.append(src)
        elif cell['cell_type'] == 'code':
            code = '\n'.join(l for l in lines if not l.startswith('#|')).strip('\n')
            if code: parts.append(f'```python\n{code}\n```')
    return '<!-- generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file -->\n\n' + '\n\n'.join(parts) + '\n'

if __name__ == '__main__':
    text, target = readme_text(), ROOT/'README.md'
    if '--check' in sys.argv:
        if target.read_text() != text: sys.exit('README.md is out of date with nbs/index.ipynb: run `make readme` and commit it')
        print('README.md matches nbs/index.ipynb')
    else:
        target.write_text(text); print('wrote', target)
