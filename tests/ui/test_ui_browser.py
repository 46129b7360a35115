"""The web UI in a real browser (Debian's Chromium driven by Playwright): every page
loads against the demo lake and shows what the lake holds, the lineage graph clicks
through from a model to its source table, a search runs, an alias is set; the same pages
with a ``read`` key (writes refused) and with no key (401, the key form).

Screenshots of every page go to the test's directory, or to ``$LAKEBED_UI_SCREENSHOTS``
(the README's pictures come from there). Page load times (navigation start to the page's
``lakebed:ready`` mark) are printed, not asserted: ``bench/ui.py`` measures them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.server.conftest import serving

import lakebed
from lakebed.server import create_app
from lakebed.server import keys as key_store
from lakebed.ui import STATIC

CHROMIUM = os.environ.get("LAKEBED_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"

pytestmark = pytest.mark.skipif(not (STATIC / "index.html").is_file(), reason="the UI is not built")


@dataclass
class Site:
    url: str
    lake: lakebed.Lake
    keys: dict[str, str]
    shots: Path


@pytest.fixture(scope="module")
def site(demo_lake: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("ui") / "lake"
    shutil.copytree(demo_lake[0], root)
    shots = Path(os.environ.get("LAKEBED_UI_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    shots.mkdir(parents=True, exist_ok=True)
    with lakebed.connect(root) as lake:
        keys = {"admin": str(key_store.create(lake, "ops", scopes=["admin"]).secret),
                "read": str(key_store.create(lake, "analyst", scopes=["read"]).secret)}
        with serving(create_app(lake)) as url:
            yield Site(url, lake, keys, shots)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        if os.environ.get("LAKEBED_REQUIRE_SERVICES") == "1":
            pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install chromium")
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


class Tab:
    """One browser tab signed in with a key (or none), collecting console errors."""

    def __init__(self, browser: Any, site: Site, key: str | None) -> None:
        self.site = site
        self.shots = key == site.keys["admin"]
        self.context = browser.new_context(viewport={"width": 1400, "height": 900})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        if key is not None:
            self.page.goto(f"{site.url}/ui/login")
            self.page.get_by_test_id("key-input").fill(key)
            self.page.get_by_test_id("key-submit").click()
            self.page.wait_for_selector('[data-testid="page-overview"][data-ready="1"]')

    def open(self, path: str, name: str, shot: str | None = None, charts: int = 0) -> Any:
        """Go to ``path``, wait until page ``name`` has its data (a screenshot named ``shot``
        with the write key); the page's root element."""
        self.page.goto(self.site.url + path)
        root = self.page.locator(f'[data-testid="page-{name}"][data-ready="1"]')
        root.wait_for(timeout=15_000)
        if charts:  # ECharts loads on demand and draws after the data: wait for the drawings
            self.page.wait_for_function(
                f"() => document.querySelectorAll('.chart svg path').length > 0 && "
                f"document.querySelectorAll('.chart svg').length >= {charts}", timeout=15_000)
        ms = self.page.evaluate(
            "() => { const m = performance.getEntriesByName('lakebed:ready'); return m.length ? m[m.length - 1]"
            ".startTime : null }")
        if shot and self.shots:
            self.page.screenshot(path=str(self.site.shots / f"{shot}.png"), full_page=False)
        print(f"{path}: ready in {ms:.0f} ms" if ms is not None else f"{path}: no ready mark")
        return root

    def close(self) -> None:
        self.context.close()


@pytest.mark.parametrize("who", ["admin", "read"])
def test_every_page_shows_the_lake(browser: Any, site: Site, who: str) -> None:
    """The same flows with a write key and a read key (which sees every page); screenshots
    are taken once, with the write key."""
    lake = site.lake
    tab = Tab(browser, site, site.keys[who])
    page = tab.page
    run_id = lake.models.get("fraud@1").run_id
    assert run_id is not None

    root = tab.open("/ui/", "overview", "overview")
    assert str(len(lake.tables.list())) in root.inner_text()

    root = tab.open("/ui/tables", "tables", "tables")
    assert "silver.transactions" in root.inner_text()

    n1 = lake.tables.read("gold.user_features").num_rows
    root = tab.open("/ui/tables/gold.user_features", "table", "table")
    assert f"{n1:,}" in page.get_by_test_id("row-count").inner_text() or str(n1) in root.inner_text()
    n0 = lake.tables.read("gold.user_features", version=0).num_rows
    root = tab.open("/ui/tables/gold.user_features?version=0", "table")
    assert f"{n0:,}" in page.get_by_test_id("row-count").inner_text() or str(n0) in root.inner_text()

    tab.open("/ui/sql", "sql", None)
    page.get_by_test_id("sql-input").fill("SELECT count(*) AS n FROM silver.transactions")
    page.get_by_test_id("sql-run").click()
    n = lake.tables.read("silver.transactions").num_rows
    page.wait_for_function(f"() => document.body.innerText.includes('{n}')", timeout=10_000)
    if tab.shots:
        page.screenshot(path=str(site.shots / "sql.png"))
    # a long result paints its first rows at once and every row just after
    page.get_by_test_id("sql-input").fill("SELECT * FROM silver.transactions ORDER BY 1 LIMIT 150")
    page.get_by_test_id("sql-run").click()
    page.wait_for_function("() => document.querySelectorAll('[data-testid=sql-row]').length === 150", timeout=10_000)
    last = lake.sql("SELECT * FROM silver.transactions ORDER BY 1 LIMIT 150").to_pylist()[-1]
    assert str(next(iter(last.values()))) in page.get_by_test_id("sql-row").nth(149).inner_text()

    tab.open("/ui/collections", "collections", "collections")
    tab.open("/ui/collections/lakebed_docs", "collection", None)
    page.get_by_test_id("search-mode").select_option("text")
    page.get_by_test_id("search-input").fill("how are feature values served online?")
    page.get_by_test_id("search-run").click()
    hit = page.locator('[data-testid="hit"]').first
    hit.wait_for(timeout=15_000)
    expect = lake.collections.open("lakebed_docs").query("how are feature values served online?",
                                                         mode="vector", k=1)[0].id
    assert hit.get_attribute("data-id") == str(expect)
    if tab.shots:
        page.screenshot(path=str(site.shots / "collection.png"))

    root = tab.open("/ui/features", "features", "features")
    assert "user_clicks" in root.inner_text() and "clicks" in root.inner_text()
    tab.open("/ui/features/views/user_profile", "view", "view")

    root = tab.open("/ui/runs?experiment=fraud", "runs", "runs", charts=2)  # metric over steps, parallel
    assert root.get_by_test_id("run-row").count() == lake.runs.count(experiment="fraud")
    auc = lake.runs.get(run_id).metrics["auc"]
    root = tab.open(f"/ui/runs/{run_id}", "run", "run", charts=1)
    assert f"{auc:.4f}"[:5] in root.inner_text()
    ids = lake.runs.search("", limit=2).column("run_id").to_pylist()
    tab.open(f"/ui/compare?ids={','.join(ids)}", "compare", "compare", charts=1)

    root = tab.open("/ui/models/fraud", "model", "model")
    assert "champion" in root.inner_text()

    root = tab.open("/ui/quality", "quality", "quality")
    assert "silver.transactions" in root.inner_text()
    tab.open("/ui/quality/silver.transactions", "quality-table", "quality-table")
    assert not tab.errors, tab.errors
    tab.close()


def test_lineage_clicks_through_from_model_to_source_table(browser: Any, site: Site) -> None:
    tab = Tab(browser, site, site.keys["admin"])
    page = tab.page
    run_id = site.lake.models.get("fraud@1").run_id
    tab.open("/ui/models/fraud", "model")
    page.locator('[data-testid="page-model"] a[href*="/ui/lineage"]').first.click()  # the model's lineage
    page.locator('[data-testid="page-lineage"][data-ready="1"]').wait_for(timeout=15_000)
    assert "ref=model%3Afraud%401" in page.url or "ref=model:fraud@1" in page.url
    page.screenshot(path=str(site.shots / "lineage.png"))
    edges = page.get_by_test_id("lineage-edges").inner_text()
    assert f"run:{run_id}" in edges and "model:fraud@1" in edges
    table_node = page.locator('[data-testid="lineage-node"][data-ref^="table:"]').first
    ref = table_node.get_attribute("data-ref")
    assert ref is not None
    name = ref.split(":", 1)[1].split("@", 1)[0]
    table_node.click()
    root = page.locator('[data-testid="page-table"][data-ready="1"]')
    root.wait_for(timeout=15_000)
    assert f"/ui/tables/{name}" in page.url and name in root.inner_text()
    assert not tab.errors, tab.errors
    tab.close()


def test_writes_with_a_write_key_and_refused_with_a_read_key(browser: Any, site: Site) -> None:
    lake = site.lake
    admin = Tab(browser, site, site.keys["admin"])
    admin.open("/ui/models/fraud", "model")
    admin.page.get_by_test_id("alias-input").fill("staging")
    admin.page.get_by_test_id("alias-version").select_option("1")
    admin.page.get_by_test_id("alias-submit").click()
    admin.page.wait_for_function("() => document.body.innerText.includes('staging')", timeout=10_000)
    assert lake.models.list()[0]["aliases"].get("staging") == 1
    admin.close()

    reader = Tab(browser, site, site.keys["read"])
    page = reader.page
    reader.open("/ui/models/fraud", "model")
    page.get_by_test_id("read-only").wait_for(timeout=10_000)  # the session answers beside the page's data
    assert page.get_by_test_id("alias-submit").is_disabled()
    # the server refuses the write whatever the page shows
    status = page.evaluate("""async () => (await fetch('/ui/api/models/fraud/aliases', {method: 'POST',
        headers: {'Content-Type': 'application/json', Authorization: 'Bearer ' + sessionStorage.getItem('lakebed.key')},
        body: JSON.stringify({alias: 'prod', version: 1})})).status""")
    assert status == 403 and "prod" not in lake.models.list()[0]["aliases"]
    reader.open("/ui/quality/silver.transactions", "quality-table")
    assert page.get_by_test_id("validate-run").is_disabled()
    reader.close()


def test_no_key_is_401_and_the_key_form(browser: Any, site: Site) -> None:
    tab = Tab(browser, site, None)
    page = tab.page
    statuses: list[int] = []
    page.on("response", lambda r: "/ui/api/" in r.url and statuses.append(r.status))
    page.goto(f"{site.url}/ui/runs?experiment=fraud")
    page.locator('[data-testid="page-login"]').wait_for(timeout=15_000)
    assert 401 in statuses and "/ui/login" in page.url and "next=" in page.url
    page.screenshot(path=str(site.shots / "login.png"))
    # a wrong key is refused on the form; the right one goes back where the user was going
    page.get_by_test_id("key-input").fill("lb_000000000000_wrong")
    page.get_by_test_id("key-submit").click()
    page.get_by_test_id("error").wait_for(timeout=10_000)
    page.get_by_test_id("key-input").fill(site.keys["read"])
    page.get_by_test_id("key-submit").click()
    page.locator('[data-testid="page-runs"][data-ready="1"]').wait_for(timeout=15_000)
    assert "experiment=fraud" in page.url
    tab.close()
