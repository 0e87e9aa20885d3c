"""Charts: drawn with the object API, PNG and SVG, in the reader's language, cached by their
data, served with an ETag; and the usage chart of the API."""

from __future__ import annotations

import io
import sys
import xml.etree.ElementTree as ET

import pytest

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def draws(monkeypatch, app, tmp_path):
    """Counts the charts actually drawn (not served from the cache), with a fresh cache."""
    from reports import charts

    monkeypatch.setitem(app.extensions, "councildesk_chart_cache",
                        charts.ChartCache(str(tmp_path / "charts"), 16 << 20, 100))

    calls = []
    real = charts.draw

    def counting(spec, fmt="png", dpi=100):
        calls.append((spec["chart"], fmt))
        return real(spec, fmt, dpi)

    monkeypatch.setattr(charts, "draw", counting)
    return calls


def test_pyplot_is_never_imported(dataset, world, client_for):
    assert client_for(world.manager).get(f"/reports/charts/heatmap.png?year={dataset.year}").status_code == 200
    assert "matplotlib.pyplot" not in sys.modules


@pytest.mark.parametrize("url", [
    "/reports/councils/{slug}/chart.{ext}?year={year}",
    "/reports/charts/heatmap.{ext}?year={year}",
    "/reports/charts/heatmap.{ext}?year={year}&mode=remote",
    "/reports/charts/usage.{ext}?year={year}",
    "/reports/charts/sla.{ext}?year={year}",
    "/reports/councils/{slug}/sla.{ext}?year={year}",
])
@pytest.mark.parametrize("ext", ["png", "svg"])
def test_charts_are_real_images(dataset, world, client_for, url, ext):
    resp = client_for(world.manager).get(url.format(slug=world.council_a.slug, ext=ext, year=dataset.year))
    assert resp.status_code == 200
    if ext == "png":
        assert resp.mimetype == "image/png" and resp.data.startswith(PNG)
        from PIL import Image

        image = Image.open(io.BytesIO(resp.data))
        assert image.size[0] >= 600 and sum(1 for n in image.convert("L").histogram() if n) > 10  # drawn, not blank
    else:
        assert resp.mimetype == "image/svg+xml"
        root = ET.fromstring(resp.data)  # noqa: S314  (our own output)
        assert root.tag.endswith("svg")
        assert b"<script" not in resp.data
        assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["ETag"]


def test_cached_by_data_and_language(dataset, db, world, client_for, draws):
    from support.hours import services as hours

    client = client_for(world.manager)
    url = f"/reports/councils/{world.council_a.slug}/chart.png?year={dataset.today.year}"
    first = client.get(url)
    again = client.get(url)
    assert first.data == again.data and first.headers["ETag"] == again.headers["ETag"]
    assert draws == [("usage", "png")]
    # The browser revalidates: same picture, no body.
    assert client.get(url, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    # New figures: a new picture.
    hours.create_entry(world.council_a, {"date": dataset.today, "minutes": 90, "mode": "remote",
                                         "description": "Remote help"}, actor=world.technician)
    changed = client.get(url)
    assert changed.headers["ETag"] != first.headers["ETag"] and len(draws) == 2
    # Another language: another picture (labels are drawn in the reader's language).
    world.manager.preferred_language = "es"
    db.session.commit()
    spanish = client_for(world.manager).get(url)
    assert spanish.headers["ETag"] != changed.headers["ETag"] and len(draws) == 3


def test_the_disk_cache_serves_other_workers(dataset, world, app, client_for, draws):
    from reports import charts

    client = client_for(world.manager)
    url = f"/reports/charts/heatmap.svg?year={dataset.year}"
    body = client.get(url).data
    charts.cache().clear_memory()  # as another process would start: nothing in memory
    assert client.get(url).data == body
    assert draws == [("heatmap", "svg")]


def test_labels_are_in_the_readers_language(dataset, world):
    from flask_babel import force_locale

    from reports import figures

    with force_locale("ca"):
        spec = figures.council_usage(world.council_a, dataset.year)
    assert spec["labels"]["onsite"] == "Presencial"
    assert spec["months"][0] == "Gen"
    with force_locale("en"):
        spec = figures.council_usage(world.council_a, dataset.year)
    assert spec["labels"]["onsite"] == "On site" and spec["months"][0] == "Jan"


def test_dollar_signs_in_names_are_text(app):
    from reports import charts

    spec = charts.heatmap_spec("$x^2$ cost", [], [("Sant $Joan$", [None])], "en", {"used": "% used"})
    spec["months"] = ["Jan"]
    assert charts.draw(spec, "png").startswith(PNG)  # mathtext would fail or render maths


def test_api_usage_png(dataset, world, api_for, db):
    api = api_for(world.clerk_a)
    own = api.get(f"/api/v1/reports/usage.png?year={dataset.year}&council_id={world.council_a.id}")
    assert own.status_code == 200 and own.mimetype == "image/png" and own.data.startswith(PNG)
    # Without council_id: the councils the clerk sees, i.e. their own.
    assert api.get(f"/api/v1/reports/usage.png?year={dataset.year}").status_code == 200
    other = api.get(f"/api/v1/reports/usage.png?year={dataset.year}&council_id={world.council_b.id}")
    assert other.status_code == 404 and other.get_json()["error"]["code"] == "not_found"


def test_chart_cache_is_bounded(tmp_path, app):
    from reports.charts import ChartCache

    cache = ChartCache(str(tmp_path), memory_bytes=1000, max_files=10)
    for i in range(100):
        cache.put(f"{i:064x}", b"x" * 300)
    assert cache._size <= 1000
    cache.prune()
    assert len(list(tmp_path.glob("*/*"))) <= 10
