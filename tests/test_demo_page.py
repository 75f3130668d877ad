"""The demo page in headless Chromium (Debian's, driven by Playwright): record from a fake
microphone fed by a WAV file, create the voice, speak with it; upload a clip with its
transcript, adapt it and watch the job finish; delete a voice."""

from __future__ import annotations

import shutil

import pytest
from service_helpers import LiveServer

from server.main import create_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def browser_page(tmp_path, spoken_clips):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which("chromium"):
        pytest.fail("Debian's chromium is missing (install it with .ci/run's apt step)")
    mic = tmp_path / "mic.wav"
    mic.write_bytes(spoken_clips[0][0])
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run",
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={mic}",
            "--autoplay-policy=no-user-gesture-required"])
        context = browser.new_context(permissions=["microphone"])
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        yield page, errors
        browser.close()


def test_record_create_speak_adapt_delete(service_settings, bundled_model, spoken_clips,
                                          browser_page, tmp_path):
    page, errors = browser_page
    upload = tmp_path / "upload.wav"
    upload.write_bytes(spoken_clips[1][0])
    expect = __import__("playwright.sync_api", fromlist=["expect"]).expect
    with LiveServer(create_app(service_settings, model=bundled_model)) as server:
        page.goto(server.url)
        # record three seconds from the (fake) microphone
        page.click("#record")
        page.wait_for_timeout(3000)
        page.click("#stop")
        expect(page.locator("#rec-status")).to_contain_text("recorded", timeout=10_000)
        expect(page.locator("#clips li")).to_have_count(1)
        page.fill("#name", "from the microphone")
        page.check("#consent")
        page.click("#create")
        expect(page.locator("#create-status")).to_contain_text("created", timeout=30_000)
        expect(page.locator("#voices li")).to_have_count(1)

        # speak with it: audio plays and can be downloaded; pictures are drawn
        page.fill("#text", "Hello from the browser.")
        page.click("#speak")
        expect(page.locator("#speak-status")).to_contain_text("done", timeout=60_000)
        page.wait_for_function("document.getElementById('player').duration > 0.5",
                               timeout=10_000)
        assert page.get_attribute("#download", "href").startswith("blob:")
        varied = page.evaluate("""() => {
            const c = document.getElementById('out-spec');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            return new Set(Array.from(d.filter((_, i) => i % 4 == 0))).size;
        }""")
        assert varied > 20, "the output spectrogram was not drawn"

        # a second voice from an uploaded clip with its transcript, then adapt it
        page.evaluate("() => { document.getElementById('clips').replaceChildren(); }")
        page.reload()
        page.set_input_files("#files", str(upload))
        page.fill("#name", "uploaded")
        page.fill("#transcripts", spoken_clips[1][1])
        page.check("#consent")
        page.click("#create")
        expect(page.locator("#voices li")).to_have_count(2, timeout=30_000)
        page.select_option("#adapt-mode", "sea-emb")
        page.click("#adapt")
        expect(page.locator("#job-status")).to_contain_text("succeeded", timeout=120_000)
        expect(page.locator("#voices li").nth(1)).to_contain_text("sea-emb")

        page.locator("#voices li").first.locator("button.delete").click()
        expect(page.locator("#voices li")).to_have_count(1)
    assert errors == []
