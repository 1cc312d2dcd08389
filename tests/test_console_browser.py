"""The staff console in a real browser: Debian's headless Chromium driven by selenium.

One browser for the module (a fresh profile), the app served on 127.0.0.1, the
bot reached by real signed pushes. Each page is saved as a screenshot under
var/screenshots/console/ for a person to look at.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.support.wait import WebDriverWait

from bot import counters
from bot.masking import mask_text
from bot.sim.pusher import PushBuilder, Pusher
from tests.console_helpers import EDITOR, PASSWORD, ROOT, VIEWER, console_app
from tests.helpers import APP_ID, TOKEN, ServedApp, until

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SHOTS = ROOT / "var" / "screenshots" / "console"
USER = "oBrowserUser0000000000000001"
NEW_ANSWER = "【浏览器测试】提现失败请先确认银行卡状态正常、余额充足，再重试一次；仍失败请拨打 {hotline}。"


@pytest.fixture(scope="module")
def site(redis_server, tmp_path_factory):
    app = console_app(redis_server.url, tmp_path_factory.mktemp("console"))
    with ServedApp(app) as served:
        served.pusher = Pusher(served.url + "/wechat", TOKEN, APP_ID, "", mode="plaintext")
        yield served


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    for path in (CHROMIUM, CHROMEDRIVER):
        assert Path(path).exists(), f"{path} missing: tools/test.sh installs chromium and chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1360,1000",
                "--lang=zh-CN", f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def shot(driver, name: str) -> None:
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1360, min(max(900, height + 40), 4000))
    driver.save_screenshot(str(SHOTS / f"{name}.png"))
    driver.set_window_size(1360, 1000)


def text_of(driver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def log_in(driver, site, name: str) -> None:
    driver.delete_all_cookies()
    driver.get(site.url + "/console/login")
    driver.find_element(By.ID, "username").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    click(driver, "login-submit")
    assert "问答库" in driver.find_element(By.TAG_NAME, "h1").text


def click(driver, element_id: str) -> None:
    """Click a submit button and wait for the next page (bounded)."""
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.ID, element_id).click()

    def left(_driver) -> bool:
        # Chromium reports the old page's node as stale, or (mid-navigation) as not in the document.
        try:
            old.is_enabled()
        except WebDriverException:   # StaleElementReferenceException is one of these
            return True
        return False

    WebDriverWait(driver, 15).until(left)


def set_field(driver, field_id: str, value: str) -> None:
    element = driver.find_element(By.ID, field_id)
    element.clear()
    element.send_keys(value)


def bot_reply(site, text: str) -> str:
    return site.pusher.decode_reply(site.pusher.push(PushBuilder().text(USER, text))).get("Content", "")


def test_log_in(browser, site):
    browser.get(site.url + "/console/login")
    shot(browser, "01-login")
    log_in(browser, site, EDITOR)
    assert "withdraw_failed" in text_of(browser)
    shot(browser, "02-faq-list")


def test_edit_an_answer_and_the_bot_serves_it(browser, site):
    log_in(browser, site, EDITOR)
    browser.get(site.url + "/console/faq/withdraw_failed")
    shot(browser, "03-faq-edit")
    set_field(browser, "f_answer", NEW_ANSWER)
    click(browser, "preview")
    assert browser.find_element(By.ID, "check-ok").is_displayed()
    assert "浏览器测试" in browser.find_element(By.ID, "diff").text
    shot(browser, "04-faq-preview-diff")
    click(browser, "confirm-save")
    assert "已保存" in browser.find_element(By.ID, "flash").text
    reply = until(lambda: (lambda r: r if "浏览器测试" in r else None)(bot_reply(site, "提现失败怎么办")), 10,
                  "the bot serving the edited answer")
    assert "余额充足" in reply


def test_a_schema_error_is_shown(browser, site):
    log_in(browser, site, EDITOR)
    browser.get(site.url + "/console/faq/payment_failed")
    set_field(browser, "f_question", "付")
    click(browser, "preview")
    errors = browser.find_element(By.ID, "check-errors").text
    assert "不能保存" in errors and "格式不对" in errors and "question" in errors
    assert browser.find_element(By.ID, "f_question").get_attribute("value") == "付"
    shot(browser, "05-faq-schema-error")


def test_a_forged_csrf_token_is_refused(browser, site):
    log_in(browser, site, EDITOR)
    browser.get(site.url + "/console/faq/payment_failed")
    browser.execute_script("document.querySelector('#entry-form input[name=csrf]').value = 'forged';")
    click(browser, "preview")
    assert "CSRF" in browser.find_element(By.ID, "message").text
    shot(browser, "06-csrf-refused")


def test_a_viewer_cannot_edit(browser, site):
    log_in(browser, site, VIEWER)
    browser.get(site.url + "/console/faq/withdraw_failed")
    assert browser.find_element(By.ID, "readonly-note").is_displayed()
    assert not browser.find_elements(By.ID, "preview")
    assert browser.find_element(By.ID, "f_answer").get_attribute("readonly") is not None
    assert not browser.find_elements(By.ID, "new-entry")
    shot(browser, "07-viewer-readonly")


def test_the_charts_are_rendered(browser, site):
    app = site.app
    storage, tz = app.extensions["wxbot"].storage, app.extensions["wxbot"].hours.timezone
    for text in ("提现失败怎么办", "怎么注册账号", "银行卡怎么绑定", "这是什么东西啊啊", "你好",
                 "工号 KF0999 是你们的客服吗", "转人工"):
        bot_reply(site, text)
    now = time.time()
    for day, (faq, fallback, account, score) in enumerate([(30, 6, "kf1001@demo", 5), (42, 9, "kf1002@demo", 4),
                                                          (25, 3, "kf1001@demo", 4), (38, 7, "kf1002@demo", 3)], 1):
        notes = {"asked": "faq", "faq_id": "withdraw_failed"}
        writes = [counters.count_push(storage, "faq", notes, now - day * 86400, tz) for _ in range(faq)]
        writes += [counters.count_push(storage, "fallback", {"asked": "fallback"}, now - day * 86400, tz)
                   for _ in range(fallback)]
        writes += [counters.count_push(storage, "kf_session", {"agent": account, "waited": 20 * day}, now - day * 86400, tz),
                   counters.count_push(storage, "rating", {"rating": (account, score)}, now - day * 86400, tz)]
        storage.apply(writes)
    storage.count_unmatched(mask_text("我的手机 13912345678 收不到验证码"))
    log_in(browser, site, EDITOR)
    browser.get(site.url + "/console/stats?days=7")
    charts = browser.find_elements(By.CSS_SELECTOR, "svg.chart")
    assert len(charts) >= 3
    assert all(c.size["width"] > 300 and c.size["height"] > 80 for c in charts)
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.chart rect.bar")) >= 5
    assert browser.find_elements(By.CSS_SELECTOR, "svg.chart polyline.line")
    assert "KF0999" in browser.find_element(By.ID, "reported").text
    shot(browser, "08-stats")
    browser.get(site.url + "/console/agents?days=7")
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.chart circle.dot")) >= 2
    shot(browser, "09-agents")
    browser.get(site.url + "/console/asked")
    assert "139****5678" in text_of(browser)
    shot(browser, "10-asked")
    browser.get(site.url + "/console/try")
    set_field(browser, "try-text", "提现一直不到账怎么办")
    click(browser, "try-send")
    assert browser.find_element(By.ID, "try-route").text == "faq"
    assert "提现" in browser.find_element(By.ID, "try-reply").text
    shot(browser, "11-try")
    browser.get(site.url + "/console/audit")
    assert "withdraw_failed" in text_of(browser)
    shot(browser, "12-audit")


def teardown_module(module):
    shutil.rmtree(SHOTS / "tmp", ignore_errors=True)
