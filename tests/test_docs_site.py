"""The docs site in a real browser: build it (tools/build_docs.py, incremental), serve it on 127.0.0.1 and open every
page in headless Chromium through Selenium and Debian's chromedriver.

Checks: no broken internal links (pages, anchors, assets) or missing images, no JavaScript errors in the console,
every page has a title and a first heading, nothing is fetched from outside the site, the math is typeset by MathJax,
the site search finds a page by a word on it, every exported name has an API entry linked from its notebook.
Screenshots of the landing page and two notebook pages go to docs/_build/screenshots/.

Needs the docs extra (`pip install -e '.[docs]'`), Chromium and chromedriver (`apt-get install chromium
chromium-driver`) and, on the first build only, npm (MathJax comes from `npm pack mathjax@3`); skipped without them.
"""
import base64, functools, http.server, importlib, importlib.util, json, shutil, subprocess, sys, tempfile, threading, time
import urllib.error, urllib.parse, urllib.request
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT/'docs'/'_build'/'html'
SHOTS = ROOT/'docs'/'_build'/'screenshots'
MATHJAX = ROOT/'docs'/'_build'/'vendor'/'mathjax'/'tex-svg-full.js'

_missing = [m for m in ('sphinx', 'myst_nb', 'furo', 'sphinx_copybutton', 'selenium') if importlib.util.find_spec(m) is None]
CHROMIUM = next((shutil.which(b) for b in ('chromium', 'chromium-browser', 'google-chrome') if shutil.which(b)), None)
CHROMEDRIVER = shutil.which('chromedriver')
pytestmark = [
    pytest.mark.skipif(bool(_missing), reason=f"docs extra not installed ({', '.join(_missing)}): pip install -e '.[docs]'"),
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason='Chromium and chromedriver not found: apt-get install chromium chromium-driver'),
    pytest.mark.skipif(not MATHJAX.exists() and not shutil.which('npm'), reason='npm not found (needed once, to fetch MathJax)'),
]

@pytest.fixture(scope='module')
def site():
    "Build the site (a no-op past a fresh build: notebooks are re-executed only when they or the library changed)."
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'build_docs.py')], cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, f'docs build failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}'
    print(r.stdout.strip().splitlines()[-2])
    return HTML

@pytest.fixture(scope='module')
def server(site):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a): pass
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{httpd.server_address[1]}/'
    httpd.shutdown()

@pytest.fixture(scope='module')
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix='docs-chromium-')
    # offline and quiet: without these, Chromium tries to reach Google's services
    for a in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
              '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', '--window-size=1280,900',
              f'--user-data-dir={profile}'):
        opts.add_argument(a)
    opts.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)   # explicit driver: no Selenium Manager download
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)

def pages(html_dir):
    return sorted(str(p.relative_to(html_dir)) for p in html_dir.rglob('*.html') if not p.relative_to(html_dir).parts[0].startswith('_'))

_COLLECT = """
const out = {title: document.title, h1: (document.querySelector('h1') || {}).textContent || '',
  links: [...document.querySelectorAll('a[href]')].map(a => a.href),
  assets: [...document.querySelectorAll('script[src]')].map(s => s.src).concat([...document.querySelectorAll('link[href]')].map(l => l.href)),
  images: [...document.querySelectorAll('img')].map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0})),
  resources: performance.getEntriesByType('resource').map(r => r.name),
  math: document.querySelectorAll('.math').length,
  mjx: document.querySelectorAll('mjx-container').length,
  mjx_svg: document.querySelectorAll('mjx-container svg').length,
  mjx_errors: document.querySelectorAll('mjx-merror, [data-mjx-error]').length,
  code_cells: document.querySelectorAll('div.cell_input').length,
  copy_buttons: document.querySelectorAll('button.copybtn').length};
return out;"""

def _wait(driver, script, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        if driver.execute_script(script): return True
        time.sleep(0.1)
    return False

@pytest.fixture(scope='module')
def visits(site, server, browser):
    "Open every page once; what each page showed, its console messages and the resources it loaded."
    out = {}
    for page in pages(site):
        browser.get(server + page)
        _wait(browser, "return document.readyState === 'complete'")
        # MathJax typesets after load: wait until it has finished (pages with math only)
        if browser.execute_script("return document.querySelectorAll('.math').length"):
            browser.execute_async_script("const done = arguments[arguments.length-1];"
                                         "(window.MathJax && MathJax.startup ? MathJax.startup.promise : Promise.resolve()).then(() => done(true), () => done(false))")
        info = browser.execute_script(_COLLECT)
        info['console'] = browser.get_log('browser')
        out[page] = info
    return out

def test_every_page_has_title_and_heading(visits):
    assert len(visits) >= 10, f'too few pages: {sorted(visits)}'
    bad = [p for p, v in visits.items() if not v['title'].strip() or not v['h1'].strip(' ¶#\n')]
    assert not bad, f'pages without a <title> or an <h1>: {bad}'
    names = {p for p in visits if p.startswith('notebooks/')}
    expected = {f'notebooks/{nb.stem}.html' for nb in (ROOT/'nbs').glob('*.ipynb') if nb.name != 'index.ipynb' and not nb.name.startswith('_')}
    assert names == expected, f'one page per notebook: missing {expected - names}, extra {names - expected}'

def test_no_javascript_errors(visits):
    errors = {p: [e['message'] for e in v['console'] if e['level'] == 'SEVERE'] for p, v in visits.items()}
    errors = {p: e for p, e in errors.items() if e}
    assert not errors, f'JavaScript errors in the console: {json.dumps(errors, indent=1)}'

def test_nothing_loaded_from_outside(visits, server):
    outside = {p: [r for r in v['resources'] + v['assets'] if not r.startswith(server) and not r.startswith(('data:', 'blob:'))] for p, v in visits.items()}
    outside = {p: r for p, r in outside.items() if r}
    assert not outside, f'pages load resources from outside the site (they fail offline): {outside}'

def _fetch(url, cache={}):
    if url not in cache:
        try:
            with urllib.request.urlopen(url, timeout=10) as r: cache[url] = (r.status, r.read())
        except urllib.error.HTTPError as e: cache[url] = (e.code, b'')
    return cache[url]

def test_no_broken_links_or_images(visits, server):
    broken, images = [], []
    for page, v in visits.items():
        images += [f"{page}: {i['src']}" for i in v['images'] if not i['ok']]
        for url in set(v['links'] + v['assets'] + [i['src'] for i in v['images']]):
            if not url.startswith(server): continue          # external links are not followed offline
            target, _, frag = url.partition('#')
            status, body = _fetch(target)
            if status != 200: broken.append(f'{page} -> {url} ({status})')
            elif frag and target.endswith('.html'):
                frag = urllib.parse.unquote(frag)
                if f'id="{frag}"'.encode() not in body: broken.append(f'{page} -> {url} (no element with id {frag!r})')
    assert not (images or broken), f'images that did not load: {images}\nbroken internal links:\n' + '\n'.join(sorted(broken))

def test_math_is_rendered(visits):
    mlm = visits['notebooks/03_mlm.html']
    assert mlm['math'] >= 1, 'the RoPE equation is missing from 03_mlm'
    assert mlm['mjx_svg'] >= mlm['math'], f"MathJax did not typeset every equation to SVG: {mlm['mjx_svg']} of {mlm['math']}"
    bad = {p: v['mjx_errors'] for p, v in visits.items() if v['mjx_errors']}
    assert not bad, f'TeX errors: {bad}'
    untypeset = {p: (v['math'], v['mjx']) for p, v in visits.items() if v['math'] and v['mjx'] < v['math']}
    assert not untypeset, f'pages whose math was not typeset (math elements, typeset): {untypeset}'

def test_notebook_pages_show_code_outputs_and_copy_buttons(visits):
    for page in ('notebooks/01_data.html', 'notebooks/02_masking.html', 'notebooks/03_mlm.html'):
        v = visits[page]
        assert v['code_cells'] > 5 and v['copy_buttons'] >= v['code_cells'], f'{page}: {v["code_cells"]} code cells, {v["copy_buttons"]} copy buttons'
        assert any('_images/' in i['src'] for i in v['images']), f'{page}: no plot'
    html = (HTML/'notebooks'/'02_masking.html').read_text()
    assert 'widget-snapshot' in html and 'VBox(children' not in html, 'the masking explorer should show its static snapshot'
    for page, name in (('06_elmo', 'gates'), ('08_late_masking', 'compute'), ('11_exlm', 'alignment'), ('16_compare', 'results')):
        html = (HTML/'notebooks'/f'{page}.html').read_text()
        snap = html[html.find('widget-snapshot'):]
        assert 'widget-snapshot' in html and 'VBox(children' not in html, f'the {name} explorer of {page} should show its static snapshot'
        assert '<img src="data:image/png;base64,' in snap[:200_000], f'the {name} explorer of {page} should show its figure in the snapshot'

def test_every_export_has_an_api_entry_linked_from_its_notebook():
    missing, unlinked = [], []
    for py in sorted((ROOT/'mlm_explained').glob('*.py')):
        if py.name.startswith('_'): continue
        mod = importlib.import_module(f'mlm_explained.{py.stem}')
        api = (HTML/'api'/f'{py.stem}.html').read_text()
        nb_pages = ''.join(p.read_text() for p in (HTML/'notebooks').glob('*.html'))
        for name in getattr(mod, '__all__', []):
            anchor = f'mlm_explained.{py.stem}.{name}'
            if f'id="{anchor}"' not in api: missing.append(anchor)
            if f'api/{py.stem}.html#{anchor}"' not in nb_pages: unlinked.append(anchor)
    assert not missing, f'exported names without an API entry: {missing}'
    assert not unlinked, f'API entries no notebook page links to: {unlinked}'

def test_search_finds_a_page(browser, server, site):
    browser.get(server + 'search.html?q=numba')
    assert _wait(browser, "return document.querySelectorAll('#search-results ul.search li a, ul.search li a').length > 0", 30), \
        'the search for "numba" returned nothing'
    hits = browser.execute_script("return [...document.querySelectorAll('ul.search li a')].map(a => a.getAttribute('href'))")
    assert any('02_masking' in h for h in hits), f'search for "numba" did not return the masking notebook: {hits}'
    severe = [e['message'] for e in browser.get_log('browser') if e['level'] == 'SEVERE']
    assert not severe, f'JavaScript errors on the search page: {severe}'

def _screenshot(browser, url, path, max_height=6000):
    "A full-page PNG through the DevTools protocol (headless Chromium's viewport alone would cut the page)."
    browser.get(url)
    browser.execute_script('sessionStorage.clear(); localStorage.clear()')   # no highlighting left over from the search test
    browser.get(url)
    _wait(browser, "return document.readyState === 'complete'")
    if browser.execute_script("return document.querySelectorAll('.math').length"):
        browser.execute_async_script("const d = arguments[arguments.length-1]; (window.MathJax ? MathJax.startup.promise : Promise.resolve()).then(() => d(1))")
    h = min(max_height, browser.execute_script('return document.documentElement.scrollHeight'))
    shot = browser.execute_cdp_cmd('Page.captureScreenshot', {'format': 'png', 'captureBeyondViewport': True,
                                                             'clip': {'x': 0, 'y': 0, 'width': 1280, 'height': h, 'scale': 1}})
    path.write_bytes(base64.b64decode(shot['data']))
    return path

def test_screenshots(browser, server, site):
    SHOTS.mkdir(parents=True, exist_ok=True)
    for page, name in [('index.html', 'landing'), ('notebooks/02_masking.html', '02_masking'), ('notebooks/03_mlm.html', '03_mlm')]:
        p = _screenshot(browser, server + page, SHOTS/f'{name}.png')
        assert p.stat().st_size > 20_000, f'{p} looks empty'
