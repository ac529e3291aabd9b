"""Build the docs site from the notebooks, fully offline: `make docs` (or `python tools/build_docs.py`).

1. Copies nbs/*.ipynb to `_proc/` (git-ignored) and executes them there, two at a time, with nbdev's own
   `test_nb` (so cells flagged with `tst_flags`, e.g. `#| slow` or `#| cuda`, stay unexecuted, as in `nbdev-test`).
   Executed notebooks are cached: one is re-run only when its cells, the library or this script change.
   ipywidgets outputs get a static HTML snapshot (the widgets cannot be live without a Python kernel).
2. Converts nbdev's `#|` directives to what MyST-NB understands and writes the notebooks to `docs/notebooks/`, with
   a link to the API entry of every exported name after the cell that defines it, and backticked exported names
   in the prose linked to their API entries. Writes one API page per module to `docs/api/` (autodoc, see conf.py).
3. Vendors MathJax 3 from npm (`npm pack mathjax@3`, cached in docs/_build/vendor) so no page needs a CDN.
4. Runs `sphinx-build -b html -W` into docs/_build/html, then checks that no page loads anything from the network.

Options: --force (re-execute every notebook and rebuild every page), --no-exec (skip execution: pages without outputs,
for quick previews), --exec-only (step 1 alone, index.ipynb included: the notebook tests of `make test`, the same
`test_nb` run as `nbdev-test`, whose executed copies the site then reuses, so CI executes each notebook once),
--workers N (notebooks executed at once; default 2).
"""
from __future__ import annotations
import argparse, ast, hashlib, json, os, re, shutil, subprocess, sys, tarfile, time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NBS, LIB = ROOT/'nbs', ROOT/'mlm_explained'
EXEC = ROOT/'_proc'                              # executed copies; a sibling of nbs/, so relative paths still resolve
DOCS = ROOT/'docs'
GEN_NBS, GEN_API = DOCS/'notebooks', DOCS/'api'  # generated Sphinx sources (git-ignored)
BUILD = DOCS/'_build'
HTML, DOCTREES, VENDOR = BUILD/'html', BUILD/'doctrees', BUILD/'vendor'
MATHJAX = 'mathjax@3'
MATHJAX_FILE = VENDOR/'mathjax'/'tex-svg-full.js'

# Run in every executing shell (as an IPython startup file): ipywidgets get a text/html snapshot of their state
# beside the widget-view JSON, so the static page shows the panel as it was drawn, not `VBox(children=...)`.
WIDGET_SNAPSHOT = r'''
def _mlm_docs_static_widgets():
    import html
    try: import ipywidgets as W
    except ImportError: return
    esc = html.escape
    def label(w):
        d = getattr(w, 'description', '')
        return f'<span class="widget-snapshot-label">{esc(d)}</span> ' if d else ''
    def fmt(w):
        try: return format(w.value, getattr(w, 'readout_format', '') or '')
        except Exception: return str(w.value)
    def render(w):
        if isinstance(w, W.Box):
            d = 'column' if isinstance(w, W.VBox) else 'row'
            inner = ''.join(f'<div>{render(c)}</div>' for c in w.children)
            return f'<div style="display:flex;flex-direction:{d};flex-wrap:wrap;gap:.3em 1.2em">{inner}</div>'
        if isinstance(w, (W.HTML, W.HTMLMath)): return w.value
        if isinstance(w, W.Label): return esc(str(w.value))
        if isinstance(w, (W.Text, W.Textarea)):
            return label(w) + f'<input type="text" value="{esc(w.value, quote=True)}" size="{max(20, len(w.value))}" disabled>'
        if isinstance(w, (W.FloatSlider, W.IntSlider, W.FloatLogSlider)):
            return (label(w) + f'<input type="range" min="{w.min}" max="{w.max}" step="{w.step}" value="{w.value}" disabled> '
                    f'<span class="widget-snapshot-value">{esc(fmt(w))}</span>')
        if isinstance(w, (W.Dropdown, W.Select, W.RadioButtons, W.ToggleButtons)):
            opts = ''.join(f'<option{" selected" if l == w.label else ""}>{esc(str(l))}</option>' for l in w._options_labels)
            return label(w) + f'<select disabled>{opts}</select>'
        if isinstance(w, (W.Checkbox, W.ToggleButton)):
            return label(w) + f'<input type="checkbox"{" checked" if w.value else ""} disabled>'
        if isinstance(w, W.Button): return f'<button disabled>{esc(w.description)}</button>'
        if isinstance(w, W.Output): return ''
        return f'<code>{esc(type(w).__name__)}</code>'
    orig = W.Widget._repr_mimebundle_
    def _repr_mimebundle_(self, **kwargs):
        data = orig(self, **kwargs)
        if isinstance(data, dict) and 'text/plain' in data:
            try: snap = render(self)
            except Exception: return data
            data['text/html'] = (f'<div class="widget-snapshot">{snap}<p class="widget-snapshot-note">A static snapshot of an '
                                 'interactive ipywidgets panel: run the notebook in Jupyter to use it.</p></div>')
        return data
    W.Widget._repr_mimebundle_ = _repr_mimebundle_
_mlm_docs_static_widgets(); del _mlm_docs_static_widgets
'''

def log(*a): print('docs:', *a, flush=True)

def sha(*parts) -> str:
    h = hashlib.sha256()
    for p in parts: h.update(p if isinstance(p, bytes) else str(p).encode())
    return h.hexdigest()[:16]

def write_if_changed(path: Path, text: str) -> bool:
    "Keep the mtime of unchanged files, so that Sphinx re-reads only what changed."
    if path.exists() and path.read_text() == text: return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return True

def source_notebooks() -> list[Path]:
    "The notebooks that become pages, in learning order (their numeric prefixes); index.ipynb is the README."
    return sorted(p for p in NBS.glob('*.ipynb') if p.name != 'index.ipynb' and not p.name.startswith(('_', '.')))

# ---------------------------------------------------------------------------------------------------- execution

def _execute_one(src: str, dst: str, skip_flags: list[str]) -> tuple[str, bool, float]:
    "In a fresh process: execute `dst` (a copy of `src`) with nbdev's test_nb, saving its outputs."
    from nbdev.test import test_nb
    shutil.copyfile(src, dst)
    ok, secs = test_nb(dst, skip_flags=skip_flags, save=True, profile=True, basepath=str(ROOT), cell_timeout=900)
    return dst, ok, secs

def execute(nbs: list[Path], force=False, workers=2) -> float:
    from nbdev.config import get_config
    t0 = time.time()
    cfg = get_config(ROOT)
    skip_flags = cfg.tst_flags.split() if isinstance(cfg.tst_flags, str) else list(cfg.tst_flags or [])
    EXEC.mkdir(exist_ok=True)
    startup = EXEC/'.ipython'/'profile_default'/'startup'
    startup.mkdir(parents=True, exist_ok=True)
    write_if_changed(startup/'50-static-widgets.py', WIDGET_SNAPSHOT)
    os.environ['IPYTHONDIR'] = str(EXEC/'.ipython')
    lib = sha(*[p.read_bytes() for p in sorted(LIB.rglob('*')) if p.suffix in ('.py', '.json') and '_modidx' not in p.name],
              WIDGET_SNAPSHOT, skip_flags)
    cache_file = EXEC/'.exec_cache.json'
    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    todo = []
    for nb in nbs:
        cells = [(c['cell_type'], ''.join(c['source'])) for c in json.loads(nb.read_text())['cells']]
        key = sha(json.dumps(cells), lib)
        if not force and cache.get(nb.name, {}).get('key') == key and (EXEC/nb.name).exists(): continue
        todo.append((nb, key))
    for stale in set(p.name for p in EXEC.glob('*.ipynb')) - {nb.name for nb in nbs}: (EXEC/stale).unlink()
    if not todo:
        log(f'{len(nbs)} notebooks unchanged since their last execution: reusing their outputs')
        return 0.
    # longest first (from the last run's timings, else the later notebooks, which train models), two at a time
    todo.sort(key=lambda o: (cache.get(o[0].name, {}).get('secs', 0), o[0].name), reverse=True)
    log(f'executing {len(todo)} notebook(s) in _proc/ with {workers} workers: {", ".join(nb.name for nb, _ in todo)}')
    failed = []
    # each worker gets its share of the cores: two notebooks each running torch on every core oversubscribe the CPU, and
    # OpenMP's spinning threads then make both several times slower (measured: 683 s for 08_late_masking against ~180 s alone)
    share = str(max(1, (os.cpu_count() or 2) // max(1, min(workers, len(todo)))))
    os.environ.setdefault('OMP_NUM_THREADS', share)
    # numba's parallel kernels (the masker, ExLM's DAG loss) start their own pool of one thread per core unless told otherwise
    os.environ.setdefault('NUMBA_NUM_THREADS', share)
    ctx = get_context('spawn')
    with ProcessPoolExecutor(max_workers=max(1, min(workers, len(todo))), mp_context=ctx, max_tasks_per_child=1) as ex:
        futs = {ex.submit(_execute_one, str(nb), str(EXEC/nb.name), skip_flags): (nb, key) for nb, key in todo}
        for fut in futs:
            nb, key = futs[fut]
            _, ok, secs = fut.result()
            log(f'  {nb.name}: {"ok" if ok else "FAILED"} in {secs:.0f} s')
            if ok: cache[nb.name] = {'key': key, 'secs': round(secs, 1)}
            else: cache.pop(nb.name, None); failed.append(nb.name)
            cache_file.write_text(json.dumps(cache, indent=1))
    if failed: sys.exit(f'docs: executing {", ".join(failed)} failed (traceback above); fix the notebook, or build with --no-exec')
    return time.time() - t0

# ---------------------------------------------------------------------------------------------------- conversion

def module_constants(py: Path, exported: list[str]) -> list[tuple[str, str | None, str]]:
    "Exported module-level assignments (autodoc documents only functions and classes by itself): name, short source of the value, comment."
    src = py.read_text()
    lines, defs, out = src.splitlines(), set(), {}
    tree = ast.parse(src)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)): defs.add(node.name)
    for node in tree.body:
        if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None: continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
        seg = ast.get_source_segment(src, node.value) or ''
        value = seg if len(names) == 1 and '\n' not in seg and len(seg) <= 70 else None
        comment, i = [], node.lineno - 2          # the comment lines just above, or the one at the end of the line
        while i >= 0 and lines[i].lstrip().startswith('#') and not lines[i].lstrip().startswith('# %%'):
            comment.insert(0, lines[i].lstrip()[1:].strip()); i -= 1
        tail = lines[node.end_lineno - 1].split('  # ', 1)
        if not comment and len(tail) == 2: comment = [tail[1].strip()]
        for n in names:
            if n in exported and n not in defs and n not in out: out[n] = (value, ' '.join(comment))
    return [(n, *out[n]) for n in exported if n in out]

def module_exports() -> dict[str, list[str]]:
    "module name -> its `__all__`, read from the exported files without importing them."
    out = {}
    for py in sorted(LIB.glob('*.py')):
        if py.name.startswith('_'): continue
        names = []
        for node in ast.parse(py.read_text()).body:
            if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == '__all__' for t in node.targets):
                names = ast.literal_eval(node.value)
        out[py.stem] = names
    return out

_re_default_exp = re.compile(r'^\s*#\|\s*default_exp\s+(\S+)', re.M)
def default_exp(nb_path: Path) -> str | None:
    for c in json.loads(nb_path.read_text())['cells']:
        if c['cell_type'] == 'code' and (m := _re_default_exp.search(''.join(c['source']))): return m.group(1)
    return None

def defined_names(source: str) -> list[str]:
    "Top-level names a code cell defines (functions, classes, assignments), in order."
    src = '\n'.join(l for l in source.splitlines() if not l.lstrip().startswith(('%', '!')))
    try: tree = ast.parse(src)
    except SyntaxError: return []
    names = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)): names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                for n in ast.walk(t):
                    if isinstance(n, ast.Name): names.append(n.id)
    return list(dict.fromkeys(names))

def collapse_cr(text: str) -> str:
    "What a terminal would show for text with carriage returns (progress bars), trailing spaces dropped."
    out = []
    for line in text.split('\n'):
        shown = ''
        for seg in line.split('\r'): shown = seg + shown[len(seg):]
        out.append(shown.rstrip())
    return '\n'.join(out)

_re_ansi = re.compile(r'\x1B(?:[@-Z\\-_]|\[[0-?]*[ -/]*[@-~])')
_re_tick = re.compile(r'(?<![`\w{}<])`([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)(\(\))?`(?!`)')
_re_md_img = re.compile(r'(!\[[^\]]*\]\()([^)\s]+)')
_re_html_img = re.compile(r'(<img\b[^>]*?\bsrc=")([^"]+)')

def link_names(md: str, symbols: dict[str, str]) -> str:
    "Backticked exported names in prose become links to their API entries (not inside fenced code or math)."
    out, fence = [], None
    for line in md.split('\n'):
        s = line.lstrip()
        if fence is None and (s.startswith('```') or s.startswith('~~~')): fence = s[:3]
        elif fence is not None and s.startswith(fence): fence = None
        elif fence is None and '$$' not in line:
            def sub(m):
                name, call = m.group(1), m.group(2) or ''
                target = symbols.get(name) or (symbols.get(name.split('.')[0], '') + '.' + name.split('.', 1)[1] if '.' in name and name.split('.')[0] in symbols else None)
                return f'{{py:obj}}`{name}{call} <{target}>`' if target else m.group(0)
            line = _re_tick.sub(sub, line)
        out.append(line)
    return '\n'.join(out)

def fix_relative_paths(md: str) -> str:
    "Images are written relative to nbs/; the page lives in docs/notebooks/."
    def fix(m):
        p = m.group(2)
        if re.match(r'^([a-z]+:|/|#|data:)', p): return m.group(0)
        return m.group(1) + os.path.relpath(NBS/p, GEN_NBS).replace(os.sep, '/')
    return _re_html_img.sub(fix, _re_md_img.sub(fix, md))

def _md_to_rst(text: str) -> str:
    "Markdown `code` in a source comment to rst literals."
    return re.sub(r'(?<!`)`([^`]+)`(?!`)', r'``\1``', text)

def md_cell(source: str, **meta) -> dict:
    return {'cell_type': 'markdown', 'metadata': meta, 'source': source}

def convert(src: Path, module: str | None, exports: dict[str, list[str]], symbols: dict[str, str]) -> dict:
    "nbdev notebook -> MyST-NB notebook: directives become tags, helper cells go, API links are added."
    from nbdev.process import NBProcessor
    from nbdev.processors import hide_line, filter_stream_, rm_header_dash
    nb = NBProcessor(src, procs=[hide_line, filter_stream_, rm_header_dash], rm_directives=True, process=True).nb
    mod_all = set(exports.get(module or '', []))
    cells = []
    for c in nb.cells:
        d = getattr(c, 'directives_', {}) or {}
        meta = {k: v for k, v in dict(c.get('metadata', {})).items() if k not in ('tags', 'execution')}   # execnb's timings break the schema
        if c.cell_type == 'markdown':
            cells.append(md_cell(fix_relative_paths(link_names(c.source, symbols)), **meta))
            continue
        if c.cell_type != 'code': continue
        flag = lambda k, v='false': str(d.get(k, '')).strip().lower() == v
        if {'default_exp', 'hide'} & d.keys() or flag('include') or not c.source.strip(): continue
        tags = []
        if flag('echo'): tags.append('remove-input')
        if flag('output') or 'hide_output' in d: tags.append('remove-output')
        if 'code-fold' in d and str(d['code-fold']).strip().lower() != 'false': tags.append('hide-input')
        if 'collapse_output' in d or 'collapse' in d: tags.append('hide-output')
        outputs = []
        for o in c.get('outputs', []):
            o = dict(o)
            if o.get('output_type') == 'stream':
                text = collapse_cr(_re_ansi.sub('', ''.join(o['text']) if isinstance(o['text'], list) else o['text'])).strip('\n')
                if not text: continue
                o['text'] = text + '\n'
            elif 'data' in o:
                data = dict(o['data'])
                if 'text/markdown' in data:   # show_doc output starts with `---`, which docutils reads as a transition
                    md = ''.join(data['text/markdown']) if isinstance(data['text/markdown'], list) else data['text/markdown']
                    data['text/markdown'] = re.sub(r'^\s*---\s*\n', '', md)
                if 'text/plain' in data and 'text/html' not in data and 'image/png' not in data:
                    tp = ''.join(data['text/plain']) if isinstance(data['text/plain'], list) else data['text/plain']
                    data['text/plain'] = _re_ansi.sub('', tp)
                o['data'] = data
            outputs.append(o)
        cells.append({'cell_type': 'code', 'execution_count': c.get('execution_count'), 'id': c.get('id'),
                      'metadata': {**meta, 'tags': tags} if tags else meta, 'outputs': outputs, 'source': c.source})
        if {'export', 'exports', 'exporti'} & d.keys():
            names = [n for n in defined_names(c.source) if n in mod_all]
            if names:
                links = ', '.join(f'{{py:obj}}`{n} <mlm_explained.{module}.{n}>`' for n in names)
                cells.append(md_cell(f':::{{container}} api-link\nAPI: {links}\n:::'))
    for c in cells:
        if c['cell_type'] == 'markdown': c.pop('id', None)
    out = {'cells': cells, 'metadata': {'kernelspec': nb.metadata.get('kernelspec', {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}),
                                        'language_info': {'name': 'python'}},
           'nbformat': 4, 'nbformat_minor': 5}
    for i, c in enumerate(out['cells']): c['id'] = c.get('id') or f'cell-{i}'
    return out

def write_sources(nbs: list[Path], executed: bool) -> tuple[int, int]:
    exports = module_exports()
    symbols = {n: f'mlm_explained.{m}.{n}' for m, names in exports.items() for n in names}
    modules = []
    GEN_NBS.mkdir(parents=True, exist_ok=True)
    for nb in nbs:
        module = default_exp(nb)
        converted = convert(EXEC/nb.name if executed else nb, module, exports, symbols)
        write_if_changed(GEN_NBS/nb.name, json.dumps(converted, indent=1, ensure_ascii=False) + '\n')
        if module and module in exports: modules.append((module, nb.stem))
    for stale in set(p.name for p in GEN_NBS.glob('*.ipynb')) - {nb.name for nb in nbs}:   # a notebook was removed or renamed
        (GEN_NBS/stale).unlink(); (HTML/'notebooks'/stale).with_suffix('.html').unlink(missing_ok=True)
    # one API page per module, in the order of the notebooks that build them
    GEN_API.mkdir(parents=True, exist_ok=True)
    pages = []
    for module, stem in modules:
        consts = module_constants(LIB/f'{module}.py', exports[module])
        const_rst = ''
        if consts:
            const_rst = '\n.. rubric:: Constants\n'
            for name, value, comment in consts:
                opt = f':annotation: = {value}' if value else ':no-value:'
                const_rst += f'\n.. autodata:: mlm_explained.{module}.{name}\n   {opt}\n' + (f'\n   {_md_to_rst(comment)}\n' if comment else '')
        title = json.loads((GEN_NBS/f'{stem}.ipynb').read_text())['cells'][0]['source'].split('\n')[0].lstrip('# ').strip()
        write_if_changed(GEN_API/f'{module}.md', f"""# mlm_explained.{module}

Built step by step in the notebook {{doc}}`{title} <../notebooks/{stem}>`; every name it exports, with its signature, docstring and parameters.

```{{eval-rst}}
.. automodule:: mlm_explained.{module}
   :members:
   :undoc-members:
   :member-order: bysource
{const_rst}```
""")
        pages.append(module)
    toc = '\n'.join(pages)
    rows = '\n'.join(f'| {{doc}}`mlm_explained.{m} <{m}>` | {{doc}}`../notebooks/{s}` |' for m, s in modules)
    write_if_changed(GEN_API/'index.md', f"""# API reference

One page per module, generated by Sphinx autodoc from the exported code: signatures, docstrings, and the parameter comments written beside each argument in the notebooks.

| module | notebook |
|---|---|
{rows}

```{{toctree}}
:hidden:

{toc}
```
""")
    for stale in set(p.stem for p in GEN_API.glob('*.md')) - set(pages) - {'index'}:
        (GEN_API/f'{stale}.md').unlink(); (HTML/'api'/f'{stale}.html').unlink(missing_ok=True)
    return len(nbs), len(pages)

# ---------------------------------------------------------------------------------------------------- mathjax, sphinx

def vendor_mathjax():
    "MathJax 3's single-file TeX-to-SVG bundle from npm, cached; it is served from the site, never from a CDN."
    if MATHJAX_FILE.exists(): return
    if not shutil.which('npm'): sys.exit('docs: npm is needed once, to fetch MathJax (`npm pack mathjax@3`); install Node.js/npm')
    VENDOR.mkdir(parents=True, exist_ok=True)
    log(f'fetching {MATHJAX} with npm pack (once; cached in {VENDOR.relative_to(ROOT)})')
    r = subprocess.run(['npm', 'pack', MATHJAX, '--silent', '--pack-destination', str(VENDOR)], capture_output=True, text=True)
    if r.returncode: sys.exit(f'docs: npm pack {MATHJAX} failed: {r.stderr.strip()}')
    tgz = VENDOR/r.stdout.strip().splitlines()[-1]
    with tarfile.open(tgz) as tf:
        member = tf.getmember('package/es5/tex-svg-full.js')
        MATHJAX_FILE.parent.mkdir(parents=True, exist_ok=True)
        MATHJAX_FILE.write_bytes(tf.extractfile(member).read())
        lic = tf.extractfile(tf.getmember('package/LICENSE')).read()
        (MATHJAX_FILE.parent/'LICENSE').write_bytes(lic)
    tgz.unlink()

def sphinx(force=False, jobs=1):
    # Sphinx does not notice edits to the functions in conf.py or to this script: rebuild everything when they change
    stamp, conf = BUILD/'.conf_key', sha(*[p.read_bytes() for p in [DOCS/'conf.py', Path(__file__), *sorted((DOCS/'_static').rglob('*')), *sorted((DOCS/'_templates').rglob('*'))] if p.is_file()])
    force = force or not stamp.exists() or stamp.read_text() != conf
    cmd = [sys.executable, '-m', 'sphinx', '-b', 'html', '-W', '--keep-going', '-q', '-d', str(DOCTREES), '-j', str(jobs),
           str(DOCS), str(HTML)]
    if force: cmd.insert(3, '-E')
    r = subprocess.run(cmd, cwd=ROOT)
    if r.returncode:
        stamp.unlink(missing_ok=True)
        sys.exit(f'docs: sphinx-build failed (exit {r.returncode}); warnings count as errors (-W)')
    stamp.write_text(conf)

_re_remote = re.compile(r'<(?:script|link|img|iframe|source)\b[^>]*?\b(?:src|href)="((?:https?:)?//[^"]+)"', re.I)

def offline_check() -> list[str]:
    "Every script, stylesheet and image a page loads must come from the site itself."
    bad = []
    for page in HTML.rglob('*.html'):
        for url in _re_remote.findall(page.read_text(errors='replace')):
            bad.append(f'{page.relative_to(HTML)}: {url}')
    for css in (HTML/'_static').rglob('*.css'):
        for url in re.findall(r'url\(\s*["\']?((?:https?:)?//[^)"\']+)', css.read_text(errors='replace')):
            bad.append(f'{css.relative_to(HTML)}: {url}')
    return bad

def pages() -> list[Path]:
    return sorted(p for p in HTML.rglob('*.html') if not p.relative_to(HTML).parts[0].startswith('_'))

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--force', action='store_true', help='re-execute every notebook and rebuild every page')
    ap.add_argument('--no-exec', action='store_true', help='do not execute the notebooks (pages without outputs)')
    ap.add_argument('--exec-only', action='store_true', help="only execute (test) the notebooks, index.ipynb included; no site")
    ap.add_argument('--workers', type=int, default=2, help='notebooks executed at once (default 2)')
    ap.add_argument('--jobs', type=int, default=1, help='sphinx-build -j (default 1)')
    args = ap.parse_args(argv)
    t0 = time.time()
    nbs = source_notebooks()
    # index.ipynb (the README) is executed with the others, so its examples are tested too; it is not a page of its own
    t_exec = 0. if args.no_exec else execute(nbs + [NBS/'index.ipynb'], force=args.force, workers=args.workers)
    if args.exec_only:
        log(f'all {len(nbs) + 1} notebooks pass (executed in {t_exec:.0f} s; unchanged ones reused from their last passing run)')
        return
    t1 = time.time()
    n_nb, n_api = write_sources(nbs, executed=not args.no_exec)
    vendor_mathjax()
    t2 = time.time()
    sphinx(force=args.force, jobs=args.jobs)
    t_sphinx = time.time() - t2
    bad = offline_check()
    if bad: sys.exit('docs: pages load remote resources, which fail offline:\n  ' + '\n  '.join(bad[:20]))
    n = len(pages())
    log(f'built {n} pages ({n_nb} notebooks, {n_api} API pages, landing page, API index, search, index) '
        f'in {time.time() - t0:.0f} s (execute {t_exec:.0f} s, convert {t2 - t1:.1f} s, sphinx {t_sphinx:.0f} s)')
    log(f'open {(HTML/"index.html").relative_to(ROOT)}, or serve it: python -m http.server -d {HTML.relative_to(ROOT)}')

if __name__ == '__main__': main()
