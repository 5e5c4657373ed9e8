"""/docs and /console in headless chromium: what the pages show after real clicks and typing."""
from __future__ import annotations

import json
import urllib.request

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait


def wait(browser, seconds=30):
    return WebDriverWait(browser, seconds)


def css(browser, selector):
    return browser.find_elements(By.CSS_SELECTOR, selector)


def only_this_server(browser, server):
    """Nothing the page loaded came from anywhere but the server (no CDN, no fonts)."""
    urls = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert urls and all(u.startswith(server.url) for u in urls), urls


def test_docs_render_the_document_with_schemas_examples_and_try_it(browser, server, shot):
    with urllib.request.urlopen(server.url + "/openapi.json") as r:
        doc = json.load(r)
    operations = sum(1 for item in doc["paths"].values() for m in item if m in ("get", "post", "put", "patch", "delete"))
    browser.get(server.url + "/docs")
    wait(browser).until(lambda b: len(css(b, "details.op[data-path]")) == operations)
    assert [s.get_attribute("data-tag") for s in css(browser, "section.tag[data-tag]")][:3] == ["search", "records", "collections"]
    only_this_server(browser, server)

    # An operation opens to its request schema, its example and a working try-it.
    op = browser.find_element(By.ID, "hybridSearch")
    op.find_element(By.TAG_NAME, "summary").click()
    body = op.find_element(By.CSS_SELECTOR, ".body")
    assert "top_k" in body.text and "quality_prior" in body.text and "Responses" in body.text
    textarea = op.find_element(By.CSS_SELECTOR, "textarea[name=body]")
    textarea.clear()
    textarea.send_keys('{"query": "fresh citrus perfume for summer", "top_k": 3}')
    op.find_element(By.CSS_SELECTOR, "button.send").click()
    wait(browser).until(lambda b: op.find_elements(By.CSS_SELECTOR, "pre.response"))
    assert op.find_element(By.CSS_SELECTOR, ".status").text.startswith("200")
    reply = json.loads(op.find_element(By.CSS_SELECTOR, "pre.response").text)
    assert reply["total"] == 3 and reply["results"][0]["record"]["name"]
    shot("docs-try-it")

    # A wrong request shows the server's error as it is.
    textarea.clear()
    textarea.send_keys('{"query": "rose", "top_k": 0}')
    op.find_element(By.CSS_SELECTOR, "button.send").click()
    wait(browser).until(lambda b: op.find_element(By.CSS_SELECTOR, ".status").text.startswith("400"))
    assert "OUT_OF_RANGE" in op.find_element(By.CSS_SELECTOR, "pre.response").text

    # Path parameters are filled in; the schemas section resolves references.
    get = browser.find_element(By.ID, "describeCollection")
    get.find_element(By.TAG_NAME, "summary").click()
    get.find_element(By.CSS_SELECTOR, "input[name=name]").send_keys("perfumes")
    get.find_element(By.CSS_SELECTOR, "button.send").click()
    wait(browser).until(lambda b: get.find_elements(By.CSS_SELECTOR, "pre.response"))
    assert json.loads(get.find_element(By.CSS_SELECTOR, "pre.response").text)["records"] == 120
    recipe = browser.find_element(By.ID, "schema-Recipe")
    recipe.find_element(By.TAG_NAME, "summary").click()
    assert "concentration" in recipe.text and "percent" in recipe.text

    # The filter box hides what does not match.
    box = browser.find_element(By.ID, "filter")
    box.send_keys("snapshot")
    visible = [d.get_attribute("id") for d in css(browser, "details.op[data-path]") if d.is_displayed()]
    assert set(visible) == {"snapshotCollection", "restoreSnapshot"}, visible
    box.clear()
    box.send_keys(Keys.BACKSPACE)
    shot("docs")


def test_console_search_filters_facets_and_plan(browser, server, shot):
    browser.get(server.url + "/console")
    wait(browser).until(lambda b: css(b, "button.coll.active"))
    names = [b.get_attribute("data-name") for b in css(browser, "button.coll")]
    assert {"perfumes", "materials"} <= set(names)
    assert browser.find_element(By.CSS_SELECTOR, "button.coll.active").get_attribute("data-name") == "perfumes"
    wait(browser).until(lambda b: "seasons" in b.find_element(By.ID, "schema-table").text)
    wait(browser).until(lambda b: css(b, "#facets .facet"))
    only_this_server(browser, server)

    q = browser.find_element(By.ID, "q")
    q.send_keys("fresh citrus perfume for summer")
    browser.find_element(By.ID, "explain").click()
    browser.find_element(By.ID, "search").click()
    wait(browser).until(lambda b: css(b, "#hits .hit"))
    hits = css(browser, "#hits .hit")
    assert 0 < len(hits) <= 10
    assert all(h.find_element(By.TAG_NAME, "b").text for h in hits)
    plan = browser.find_element(By.ID, "plan-table").text
    assert "path" in plan and "candidates" in plan and "understood" in plan and "summer" in plan
    assert any("matches" in h.text for h in hits), [h.text for h in hits]
    shot("console-search")

    # A facet value becomes a filter clause, and the search runs under it.
    family = browser.find_element(By.CSS_SELECTOR, '#facets .facet[data-field="family"] a')
    value = family.get_attribute("data-value")
    family.click()
    wait(browser).until(lambda b: f"family = '{value}'" in b.find_element(By.ID, "filter-text").text)
    wait(browser).until(lambda b: f"family = '{value}'" in b.find_element(By.ID, "summary").text)
    ids = [h.get_attribute("data-id") for h in css(browser, "#hits .hit")]
    assert ids
    for rid in ids:
        with urllib.request.urlopen(f"{server.url}/api/v1/collections/perfumes/records/{rid}") as r:
            assert json.load(r)["family"] == value
    # The facets now count under the filter.
    wait(browser).until(lambda b: b.find_element(By.CSS_SELECTOR, "#facets .muted").text.split()[0] != "120")

    # The builder: a numeric clause is written unquoted.
    browser.find_element(By.ID, "add-clause").click()
    row = css(browser, "#builder .clause")[-1]
    Select(row.find_elements(By.TAG_NAME, "select")[0]).select_by_value("year")
    row = css(browser, "#builder .clause")[-1]
    Select(row.find_elements(By.TAG_NAME, "select")[1]).select_by_visible_text(">=")
    row = css(browser, "#builder .clause")[-1]
    row.find_element(By.TAG_NAME, "input").send_keys("2000")
    assert "year >= 2000" in browser.find_element(By.ID, "filter-text").text
    browser.find_element(By.ID, "search").click()
    wait(browser).until(lambda b: "year >= 2000" in b.find_element(By.ID, "summary").text)

    # A bad filter shows the server's error.
    row.find_element(By.TAG_NAME, "input").clear()
    row.find_element(By.TAG_NAME, "input").send_keys("'")
    browser.find_element(By.ID, "search").click()
    wait(browser).until(lambda b: "BAD_FILTER" in b.find_element(By.ID, "error").text or "BAD_" in b.find_element(By.ID, "error").text)
    shot("console-filter")


def test_console_browse_recipe_and_live_view(browser, server, shot):
    browser.get(server.url + "/console")
    wait(browser).until(lambda b: css(b, "button.coll.active"))
    browser.find_element(By.CSS_SELECTOR, '#tabs button[data-tab="browse"]').click()
    browser.find_element(By.ID, "browse-order").send_keys("rating:desc")
    browser.find_element(By.ID, "browse").click()
    wait(browser).until(lambda b: "page 1" in b.find_element(By.ID, "browse-count").text)
    assert "120 records match" in browser.find_element(By.ID, "browse-count").text
    rows = css(browser, "#browse-table tr")[1:]
    assert len(rows) == 20
    first = rows[0].find_element(By.TAG_NAME, "td").text
    browser.find_element(By.ID, "browse-next").click()
    wait(browser).until(lambda b: "page 2" in b.find_element(By.ID, "browse-count").text)
    assert css(browser, "#browse-table tr")[1].find_element(By.TAG_NAME, "td").text != first
    shot("console-browse")

    browser.execute_script("window.scrollTo(0, 0)")   # the tabs are at the top of the page
    browser.find_element(By.CSS_SELECTOR, '#tabs button[data-tab="recipe"]').click()
    Select(browser.find_element(By.CSS_SELECTOR, "#recipe-form select[name=season]")).select_by_visible_text("spring")
    product = browser.find_element(By.CSS_SELECTOR, "#recipe-form input[name=product]")
    product.send_keys("body_lotion")
    browser.find_element(By.ID, "generate").click()
    wait(browser, 60).until(lambda b: css(b, "#recipe-verdict"))
    verdict = browser.find_element(By.ID, "recipe-verdict").text
    assert "valid and compliant" in verdict and "IFRA category 5A" in verdict, verdict
    materials = [r for r in css(browser, "#recipe-table tr") if r.find_elements(By.TAG_NAME, "td")]
    assert 15 <= len(materials) <= 40
    assert browser.find_element(By.ID, "recipe-allergens").text
    shot("console-recipe")

    browser.execute_script("window.scrollTo(0, 0)")   # the tabs are at the top of the page
    browser.find_element(By.CSS_SELECTOR, '#tabs button[data-tab="live"]').click()
    for _ in range(5):
        urllib.request.urlopen(urllib.request.Request(server.url + "/api/v1/search/hybrid", data=b'{"query": "rose"}',
                                                      headers={"Content-Type": "application/json"})).read()
    wait(browser, 20).until(lambda b: b.find_element(By.ID, "live-rate").text not in ("–", ""))
    float(browser.find_element(By.ID, "live-rate").text)
    assert browser.find_element(By.ID, "live-rss").text.endswith("MiB")
    shot("console-live")
