"""What ``/metrics`` says, sample by sample."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.support.browser import Browser


async def scrape(browser: Browser) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by name and labels."""
    response = await browser.request("GET", "/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
