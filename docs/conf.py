# Sphinx configuration of the docs site. Build it with `make docs` (tools/build_docs.py), which first executes the
# notebooks and writes docs/notebooks/ and docs/api/; everything here works offline (no CDN).
import inspect, re

import mlm_explained

project = 'mlm_explained'
author = 'mlm_explained developers'
copyright = 'mlm_explained developers, Apache-2.0'
release = version = mlm_explained.__version__

extensions = [
    'myst_nb',               # notebooks and Markdown (MyST)
    'sphinx.ext.autodoc',    # API pages
    'sphinx.ext.mathjax',    # math, with MathJax served from the site itself
    'sphinx_copybutton',     # copy buttons on code
]
exclude_patterns = ['_build', 'images', '**/.ipynb_checkpoints', 'Thumbs.db', '.DS_Store']
source_suffix = {'.md': 'myst-nb', '.ipynb': 'myst-nb'}

# MyST-NB: the notebooks are executed by tools/build_docs.py (nbdev's test_nb), never here
nb_execution_mode = 'off'
nb_render_markdown_format = 'myst'
nb_merge_streams = True
nb_output_stderr = 'show'
# ipywidgets: the widget-view JSON needs a kernel (or embedded state plus CDN JavaScript); show the static
# text/html snapshot that tools/build_docs.py stores beside it, else the image or text fallback
nb_mime_priority_overrides = [('html', 'application/vnd.jupyter.widget-view+json', None),
                              ('html', 'application/javascript', None)]
nb_ipywidgets_js = {}
myst_enable_extensions = ['dollarmath', 'amsmath', 'attrs_inline', 'colon_fence']
myst_heading_anchors = 3
suppress_warnings = ['myst.header']   # notebooks (and nbdev's show_doc output) may skip heading levels

# MathJax 3, vendored from npm by tools/build_docs.py into _build/vendor/mathjax/, copied to the site root as mathjax/
# (html_extra_path), outside _static. Sphinx prefixes relative paths with _static/, hence the `..`.
html_extra_path = ['_build/vendor']
mathjax_path = '../mathjax/tex-svg-full.js'

# autodoc: members in source order; the notebook-style parameter comments come from fastcore's docments (below)
autodoc_default_options = {'members': True, 'member-order': 'bysource'}
autodoc_typehints = 'signature'
autodoc_preserve_defaults = True
autodoc_inherit_docstrings = False   # not torch's `forward` docstring on every module
autoclass_content = 'class'
default_role = 'py:obj'   # `name` in docstrings links to the API entry when there is one
add_module_names = False
python_maximum_signature_line_length = 100

html_theme = 'furo'
html_title = 'mlm_explained'
html_static_path = ['_static']
templates_path = ['_templates']
html_css_files = ['custom.css']
html_favicon = '_static/favicon.svg'
html_copy_source = False
html_show_sourcelink = False
html_theme_options = {'navigation_with_keys': True}

copybutton_selector = 'div:not(.output) > div.highlight pre'   # code, not outputs
copybutton_prompt_text = r'>>> |\$ '
copybutton_prompt_is_regexp = True

_re_tick = re.compile(r'(?<!`)`([^`]+)`(?!`)')
_re_name = re.compile(r'[A-Za-z_][A-Za-z0-9_.]*$')

def _md_code_to_rst(line: str) -> str:
    "nbdev docstrings are Markdown: `name` becomes a cross-reference, `[B, T]` a literal, with rst's word boundaries kept."
    def sub(m):
        inner, (a, b) = m.group(1), m.span()
        before = '\\ ' if a > 0 and (line[a-1].isalnum() or line[a-1] in ')]') else ''
        after = '\\ ' if b < len(line) and (line[b].isalnum() or line[b] in '([') else ''
        body = f':py:obj:`{inner}`' if _re_name.match(inner) else f'``{inner}``'
        return before + body + after
    return _re_tick.sub(sub, line)

def _param_docs(app, what, name, obj, options, lines):
    "Markdown-style code in docstrings to rst; nbdev-style parameter comments (`x:int, # what x is`) appended as a field list, via fastcore's docments."
    if what == 'module':   # drop nbdev's `Docs: <url>` line, which points to a site this is not
        lines[:] = [l for l in lines if not l.startswith('Docs: http')]
    if what in ('data', 'attribute') and lines:   # a constant has no docstring: autodoc would show its type's (dict's, int's)
        type_doc = inspect.getdoc(type(obj)) or ''
        if type_doc and '\n'.join(lines).strip() == type_doc.strip(): lines.clear()
    if not any('``' in l for l in lines): lines[:] = [_md_code_to_rst(l) for l in lines]
    if what not in ('function', 'method', 'class'): return
    if what == 'class':   # `Bases:` only when there is something to say (Sphinx 9 prints an empty one for `object`)
        bases = [b for b in getattr(obj, '__bases__', ()) if b is not object]
        if bases: lines[:0] = ['Bases: ' + ', '.join(f':py:class:`{b.__module__}.{b.__qualname__}`' for b in bases), '']
        if hasattr(obj, '__dataclass_fields__'): return   # fields are documented one by one, see _field_docs
    docs = _docments(obj.__init__ if what == 'class' else obj)
    text = '\n'.join(lines)
    extra = [f':param {k}: {_md_code_to_rst(v["docment"])}' for k, v in docs.items()
             if k not in ('return', 'self') and v.get('docment') and f':param {k}:' not in text]
    ret = docs.get('return') or {}
    if ret.get('docment') and ':returns:' not in text: extra.append(f':returns: {_md_code_to_rst(ret["docment"])}')
    if extra: lines.extend([''] + extra + [''])

def _docments(obj) -> dict:
    from fastcore.docments import docments
    try: return docments(obj, full=True)
    except Exception: return {}

def _import(dotted: str):
    import importlib
    parts = dotted.split('.')
    for i in range(len(parts), 0, -1):
        try: obj = importlib.import_module('.'.join(parts[:i]))
        except ImportError: continue
        try:
            for p in parts[i:]: obj = getattr(obj, p)
        except AttributeError: return None
        return obj
    return None

def _field_docs():
    "Dataclass fields: the comment beside each field becomes its doc, as if it were written with Sphinx's `#:`."
    import dataclasses, importlib
    from sphinx.pycode import ModuleAnalyzer
    orig = ModuleAnalyzer.analyze
    def analyze(self):
        done = self._analyzed
        orig(self)
        if done or not self.modname.startswith('mlm_explained'): return
        try: mod = importlib.import_module(self.modname)
        except Exception: return
        for cname, cls in vars(mod).items():
            if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == self.modname:
                for field, d in _docments(cls).items():
                    if d.get('docment') and field in cls.__dataclass_fields__ and (cname, field) not in self.attr_docs:
                        self.attr_docs[(cname, field)] = [_md_code_to_rst(d['docment']), '']
    ModuleAnalyzer.analyze = analyze

def setup(app):
    app.connect('autodoc-process-docstring', _param_docs)
    _field_docs()
