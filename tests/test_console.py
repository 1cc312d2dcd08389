"""The staff console through Flask's test client: security, FAQ edits, reports, agents."""
from __future__ import annotations

import io
import json
import re
import stat
import time

import pytest

from bot import counters, create_app
from bot.cli import main as cli
from bot.console.faq_files import FaqFiles, dumps, version_of
from bot.console.users import read_users
from bot.sim.pusher import PushBuilder, Pusher
from tests.console_helpers import EDITOR, PASSWORD, ROOT, VIEWER, console_app, csrf_of, log_in
from tests.helpers import APP_ID, TOKEN, ServedApp, bot_settings, until

USER = "oConsoleUser0000000000000001"


@pytest.fixture
def app(redis_server, tmp_path):
    return console_app(redis_server.url, tmp_path)


@pytest.fixture
def editor(app):
    client = app.test_client()
    assert log_in(client).status_code == 302
    return client


def page(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


def entry_file(app, faq_id: str) -> dict:
    files = app.extensions["wxbot_console"].files
    return files.find(faq_id).entry


def edit_form(client, faq_id: str) -> dict:
    """The edit form's fields as the browser would send them."""
    html = page(client, f"/console/faq/{faq_id}")
    data = {name: value for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html)}
    for name, value in re.findall(r'<input type="text" id="f_\w+" name="(\w+)" value="([^"]*)"', html):
        data[name] = value
    for name, value in re.findall(r'<textarea id="f_\w+" name="(\w+)"[^>]*>(.*?)</textarea>', html, re.S):
        data[name] = value
    for name in re.findall(r'<input type="checkbox" id="f_\w+" name="(\w+)" checked', html):
        data[name] = "on"
    import html as html_lib
    return {k: html_lib.unescape(v) for k, v in data.items()}


def save_through_preview(client, form: dict):
    preview = client.post("/console/faq/preview", data=form)
    assert preview.status_code == 200, preview.get_data(as_text=True)[:2000]
    html = preview.get_data(as_text=True)
    confirm = confirm_form(html)
    return client.post("/console/faq/save", data=confirm)


def confirm_form(html: str) -> dict:
    import html as html_lib
    block = html[html.index('action="/console/faq/save"'):]
    block = block[:block.index("</form>")]
    return {n: html_lib.unescape(v) for n, v in re.findall(r'name="(\w+)" value="([^"]*)"', block)}


# --- off unless configured; the callback and /healthz unaffected -----------------------------

def test_console_is_off_without_users_file(redis_server):
    app = create_app(bot_settings(redis_server.url))
    client = app.test_client()
    assert client.get("/console/login").status_code == 404
    assert client.get("/healthz").status_code == 200


def test_callback_and_healthz_unaffected_and_cookie_free(app):
    with ServedApp(app) as served:
        pusher = Pusher(served.url + "/wechat", TOKEN, APP_ID, "", mode="plaintext")
        response = pusher.push(PushBuilder().text(USER, "提现失败怎么办"))
        assert response.status_code == 200 and "Set-Cookie" not in response.headers
        assert "提现" in pusher.decode_reply(response)["Content"]
        health = app.test_client().get("/healthz")
        assert health.status_code == 200 and "Set-Cookie" not in health.headers


# --- login, cookies, rate limit, CSRF, roles -------------------------------------------------

def test_login_sets_a_strict_httponly_cookie_scoped_to_the_console(app):
    client = app.test_client()
    response = log_in(client)
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain http, no trusted proxy
    assert "问答库" in page(client, "/console/faq")


def test_pages_need_a_login(app):
    client = app.test_client()
    for path in ("/console/faq", "/console/stats", "/console/agents", "/console/asked", "/console/audit",
                 "/console/stats.csv", "/console/faq/withdraw_failed"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].endswith("/console/login")


def test_secure_cookie_behind_tls_only_when_the_proxy_is_trusted(redis_server, tmp_path):
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    for proxies, secure in ((0, False), (1, True)):
        app = console_app(redis_server.url, tmp_path / str(proxies), BOT_CONSOLE_PROXIES=proxies)
        client = app.test_client()
        token = csrf_of(client.get("/console/login", headers=forwarded).get_data(as_text=True))
        response = client.post("/console/login", headers=forwarded,
                               data={"csrf": token, "username": EDITOR, "password": PASSWORD})
        assert response.status_code == 302
        assert ("Secure" in response.headers["Set-Cookie"]) is secure


def test_https_on_the_socket_gives_a_secure_cookie(app):
    client = app.test_client()
    token = csrf_of(client.get("/console/login", base_url="https://localhost").get_data(as_text=True))
    response = client.post("/console/login", base_url="https://localhost",
                           data={"csrf": token, "username": EDITOR, "password": PASSWORD})
    assert "Secure" in response.headers["Set-Cookie"]


def test_wrong_password_then_rate_limited(app):
    client = app.test_client()
    for _ in range(app.config["BOT_CONSOLE_LOGIN_LIMIT"]):
        response = log_in(client, EDITOR, "wrong password!")
        assert response.status_code == 401 and "用户名或密码不对" in response.get_data(as_text=True)
    response = log_in(client, EDITOR, PASSWORD)  # the right password, too late
    assert response.status_code == 401 and "次数过多" in response.get_data(as_text=True)
    assert log_in(app.test_client(), VIEWER, PASSWORD).status_code == 401  # same address: refused too


def test_unknown_user_refused(app):
    assert log_in(app.test_client(), "nobody", PASSWORD).status_code == 401


def test_post_without_or_with_a_foreign_csrf_token_is_refused(app, editor):
    form = edit_form(editor, "withdraw_failed")
    no_token = {k: v for k, v in form.items() if k != "csrf"}
    response = editor.post("/console/faq/preview", data=no_token)
    assert response.status_code == 400 and "CSRF" in response.get_data(as_text=True)
    other = app.test_client()
    log_in(other)
    foreign = {**form, "csrf": csrf_of(page(other, "/console/faq/withdraw_failed"))}
    assert editor.post("/console/faq/preview", data=foreign).status_code == 400
    cross_site = editor.post("/console/faq/preview", data=form, headers={"Origin": "https://evil.example"})
    assert cross_site.status_code == 400
    assert editor.post("/console/faq/preview", data=form).status_code == 200


def test_viewer_sees_but_cannot_change(app):
    viewer = app.test_client()
    assert log_in(viewer, VIEWER).status_code == 302
    html = page(viewer, "/console/faq/withdraw_failed")
    assert "只读" in html and 'id="preview"' not in html and "readonly" in html
    before = (app.extensions["wxbot_console"].files.dir / "funds.json").read_bytes()
    form = edit_form(viewer, "withdraw_failed")
    form["f_answer"] = "查看者想改的回复内容，不应该被保存。"
    assert viewer.post("/console/faq/preview", data=form).status_code == 403
    found = app.extensions["wxbot_console"].files.find("withdraw_failed")
    save = {"csrf": form["csrf"], "faq_id": "withdraw_failed", "base": found.version, "file": found.file,
            "after": json.dumps({**found.entry, "answer": "x" * 20})}
    assert viewer.post("/console/faq/save", data=save).status_code == 403
    assert (app.extensions["wxbot_console"].files.dir / "funds.json").read_bytes() == before


def test_removed_user_is_logged_out(app, editor, tmp_path):
    users = tmp_path / "users.json"
    data = json.loads(users.read_text())
    del data["users"][EDITOR]
    users.write_text(json.dumps(data))
    until(lambda: editor.get("/console/faq").status_code == 302, 5, "logout of a removed user")


# --- FAQ edits ------------------------------------------------------------------------------

def test_edit_shows_the_diff_then_writes_in_the_same_layout_and_the_bot_serves_it(app, editor):
    files = app.extensions["wxbot_console"].files
    original = entry_file(app, "withdraw_failed")
    form = edit_form(editor, "withdraw_failed")
    new_answer = "提现失败的话，请先确认银行卡状态正常，然后重试一次；仍失败请拨打 {hotline}。"
    form["f_answer"] = new_answer
    preview = editor.post("/console/faq/preview", data=form)
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200 and 'id="diff"' in html and "确认保存" in html
    assert "请先确认银行卡状态正常" in html
    assert entry_file(app, "withdraw_failed") == original  # nothing written yet
    saved = editor.post("/console/faq/save", data=confirm_form(html))
    assert saved.status_code == 302
    entry = entry_file(app, "withdraw_failed")
    assert entry == {**original, "answer": new_answer}  # every other field kept, in its order
    assert list(entry) == list(original)
    text = (files.dir / "funds.json").read_text(encoding="utf-8")
    assert text == dumps(json.loads(text)) + "\n"  # the layout staff edit by hand
    assert len(list(files.backup_dir.glob("*-wang-funds.json"))) == 1
    router = app.extensions["wxbot"].router
    until(lambda: "银行卡状态正常" in router.answer("withdraw_failed").reply, 5, "hot reload")
    record = app.extensions["wxbot_console"].audit.recent(1)[0]
    assert record["who"] == EDITOR and record["faq_id"] == "withdraw_failed" and record["after"]["answer"] == new_answer


def test_schema_error_is_shown_and_nothing_written(app, editor):
    before = (app.extensions["wxbot_console"].files.dir / "funds.json").read_bytes()
    form = edit_form(editor, "withdraw_failed")
    form["f_answer"] = "太短"
    response = editor.post("/console/faq/preview", data=form)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "格式不对" in html and "answer" in html
    assert "太短" in html  # what was typed stays in the form
    assert (app.extensions["wxbot_console"].files.dir / "funds.json").read_bytes() == before


def test_conflict_check_errors_refuse_a_save_too(app, editor):
    form = edit_form(editor, "withdraw_failed")
    form["f_answer"] = "请拨打 {hotlne} 联系我们处理提现的问题。"
    html = editor.post("/console/faq/preview", data=form).get_data(as_text=True)
    assert "占位符 {hotlne}" in html


def test_second_save_of_the_same_entry_is_refused_and_nothing_is_lost(app, editor):
    other = app.test_client()
    log_in(other)
    first, second = edit_form(editor, "withdraw_failed"), edit_form(other, "withdraw_failed")
    first["f_answer"] = "第一位同事的回复：请确认银行卡状态后重试，仍失败请拨打 {hotline}。"
    second["f_answer"] = "第二位同事的回复：请检查余额和限额后再试，仍失败请拨打 {hotline}。"
    confirm_first = confirm_form(editor.post("/console/faq/preview", data=first).get_data(as_text=True))
    confirm_second = confirm_form(other.post("/console/faq/preview", data=second).get_data(as_text=True))
    assert editor.post("/console/faq/save", data=confirm_first).status_code == 302
    refused = other.post("/console/faq/save", data=confirm_second)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 409 and "刚被别人改过" in html
    assert "第二位同事的回复" in html and "第一位同事的回复" in html  # both versions on the page
    assert entry_file(app, "withdraw_failed")["answer"].startswith("第一位同事")


def test_disable_add_and_undo(app, editor):
    router = app.extensions["wxbot"].router
    form = edit_form(editor, "withdraw_failed")
    form["action"] = "disable"
    assert save_through_preview(editor, form).status_code == 302
    assert entry_file(app, "withdraw_failed")["enabled"] is False
    until(lambda: router.route("提现失败怎么办")[0].faq_id != "withdraw_failed", 5, "disabled entry dropped")

    new = {"csrf": form["csrf"], "base": version_of(None), "is_new": "1", "file": "service.json", "action": "edit",
           "f_id": "console_test_entry", "f_category": "测试", "f_question": "控制台新增的测试问题？",
           "f_keywords": "控制台测试口令\n测试口令", "f_answer": "这是从控制台新增的一条回复，用来测试。", "f_enabled": "on"}
    assert save_through_preview(editor, new).status_code == 302
    assert entry_file(app, "console_test_entry")["question"] == "控制台新增的测试问题？"
    # a new entry's examples are learnt: served once the model for the edited corpus is trained
    until(lambda: router.route("控制台测试口令")[0].faq_id == "console_test_entry", 90, "new entry served")

    audit = app.extensions["wxbot_console"].audit
    for record in audit.recent(10):  # undo both, newest first
        if record.get("action") != "faq":
            continue
        preview = editor.post("/console/audit/undo", data={"csrf": form["csrf"], "seq": record["seq"]})
        assert preview.status_code == 200
        assert editor.post("/console/faq/save", data=confirm_form(preview.get_data(as_text=True))).status_code == 302
    files = app.extensions["wxbot_console"].files
    assert files.find("console_test_entry") is None
    assert files.find("withdraw_failed").entry == json.loads((ROOT / "faq_data" / "funds.json").read_text())[
        "entries"][[e["id"] for e in json.loads((ROOT / "faq_data" / "funds.json").read_text())["entries"]].index(
        "withdraw_failed")]
    assert (files.dir / "funds.json").read_bytes() == (ROOT / "faq_data" / "funds.json").read_bytes()


def test_search(editor):
    html = page(editor, "/console/faq?q=提现失败")
    assert "/console/faq/withdraw_failed" in html and "/console/faq/wallet_intro" not in html


# --- files: layout and checks ---------------------------------------------------------------

@pytest.mark.parametrize("name", [p.name for p in sorted((ROOT / "faq_data").glob("*.json")) if p.name != "schema.json"])
def test_layout_of_every_corpus_file_round_trips(name):
    text = (ROOT / "faq_data" / name).read_text(encoding="utf-8")
    assert dumps(json.loads(text)) + "\n" == text


def test_an_entry_changed_on_disk_since_it_was_read_is_a_conflict(tmp_path):
    import shutil

    from bot.console.faq_files import Conflict

    shutil.copytree(ROOT / "faq_data", tmp_path / "faq")
    files = FaqFiles(tmp_path / "faq", ROOT / "config" / "brand.json", tmp_path / "backups")
    found = files.find("withdraw_failed")
    path = tmp_path / "faq" / found.file
    path.write_text(path.read_text(encoding="utf-8").replace("提现失败或一直不到账怎么办？", "提现失败怎么办？"),
                    encoding="utf-8")  # a hand edit in between
    with pytest.raises(Conflict):
        files.save("withdraw_failed", {**found.entry, "answer": "新的回复内容，至少十个字。"}, found.version)


# --- what users ask, counters ----------------------------------------------------------------

def test_unanswered_questions_become_examples(app, editor):
    storage = app.extensions["wxbot"].storage
    texts = ["钱包里的钱怎么一直转不出去呀 13812345678", "转出去的钱卡住了", "钱取不出来了怎么回事"]
    for i, text in enumerate(texts):
        for _ in range(3 - i):
            storage.count_unmatched(__import__("bot.masking", fromlist=["mask_text"]).mask_text(text))
    html = page(editor, "/console/asked")
    assert "138****5678" in html and "13812345678" not in html
    assert html.index("转不出去") < html.index("卡住了") < html.index("取不出来")  # most frequent first
    token = csrf_of(html)
    for text in ("钱包里的钱怎么一直转不出去呀 138****5678", "转出去的钱卡住了", "钱取不出来了怎么回事"):
        preview = editor.post("/console/asked/add", data={"csrf": token, "text": text, "faq_id": "withdraw_failed"})
        assert preview.status_code == 200, preview.get_data(as_text=True)[:1500]
        assert editor.post("/console/faq/save", data=confirm_form(preview.get_data(as_text=True))).status_code == 302
    entry = entry_file(app, "withdraw_failed")
    from bot.console.entry_form import example_field
    assert entry[example_field()][-3:] == ["钱包里的钱怎么一直转不出去呀 138****5678", "转出去的钱卡住了", "钱取不出来了怎么回事"]
    assert storage.top_unmatched(10) == []


def test_counters_by_day_from_real_pushes_stats_and_csv(app, editor):
    storage = app.extensions["wxbot"].storage
    with ServedApp(app) as served:
        pusher = Pusher(served.url + "/wechat", TOKEN, APP_ID, "", mode="plaintext")
        for text in ("提现失败怎么办", "提现一直不到账", "qwertyuiop zzz", "你好"):
            assert pusher.push(PushBuilder().text(USER, text)).status_code == 200
    today = counters.day_of(time.time(), app.extensions["wxbot"].hours.timezone)
    day = counters.read_days(storage, [today])[today]
    assert day["asked:faq"] == 2 and day["faq:withdraw_failed"] == 2 and day["asked:fallback"] == 1
    assert day["route:faq"] == 2 and sum(v for k, v in day.items() if k.startswith("route:")) == 4
    assert 0 < storage.redis.ttl(counters.day_key(storage, today)) <= counters.DAY_TTL
    html = page(editor, "/console/stats?days=7")
    assert html.count("<svg") >= 3 and "withdraw_failed" in html
    assert re.search(r'id="kpi-fallback">25\.0%<', html)
    csv_text = editor.get("/console/stats.csv?days=7").get_data(as_text=True)
    lines = csv_text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("日期,推送总数,用户提问") and len(lines) == 8
    last = lines[-1].split(",")
    assert last[1] == "4" and last[2] == "4" and last[6] == "0.25"


def test_agents_page_masks_users_and_shows_the_context_line(app, editor):
    storage = app.extensions["wxbot"].storage
    storage.start_waiting(USER, "kf1001@demo", priority=True, reason="scam_alert")
    storage.redis.hset(storage.key("kf", USER), "context", "话题：提现失败；手机 13812345678")
    storage.create_ticket("oConsoleTicket00000000000001", "我的卡号 6222021234567890123 提现失败")
    push = {"agent": "kf1001@demo", "waited": 42}
    storage.apply([counters.count_push(storage, "kf_session", push, time.time(), app.extensions["wxbot"].hours.timezone)])
    storage.apply([counters.count_push(storage, "rating", {"rating": ("kf1001@demo", 4)}, time.time(),
                                       app.extensions["wxbot"].hours.timezone)])
    html = page(editor, "/console/agents?days=30")
    assert USER not in html and "oCon***001" in html
    assert "话题：提现失败" in html and "13812345678" not in html and "138****5678" in html
    assert "6222021234567890123" not in html and "6222****0123" in html
    assert "kf1001@demo" in html and "42 秒" in html and ">4.0<" in html


def test_no_user_data_in_any_url(app, editor):
    storage = app.extensions["wxbot"].storage
    storage.start_waiting(USER, "kf1001@demo")
    storage.count_unmatched("我的手机号 138****5678 登录不了")
    for path in ("/console/faq", "/console/asked", "/console/agents", "/console/stats", "/console/audit"):
        for url in re.findall(r'(?:href|action|src)="([^"]*)"', page(editor, path)):
            assert USER not in url and "138" not in url and "%" not in url.replace("%Y", ""), url


def test_try_it_shows_route_candidates_and_reply(editor):
    html = page(editor, "/console/try")
    response = editor.post("/console/try", data={"csrf": csrf_of(html), "text": "提现失败怎么办"})
    html = response.get_data(as_text=True)
    assert 'id="try-route">faq<' in html and "withdraw_failed" in html and 'id="candidates"' in html
    assert 'id="try-reply"' in html


# --- the users file --------------------------------------------------------------------------

def test_add_user_command_writes_an_argon2_hash_readable_only_by_its_owner(tmp_path, monkeypatch):
    path = tmp_path / "users.json"
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert cli(["console", "add-user", "zhao", "--role", "editor", "--file", str(path), "--password-stdin"]) == 0
    users = read_users(path)
    assert users["zhao"]["role"] == "editor" and users["zhao"]["hash"].startswith("$argon2id$")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli(["console", "add-user", "qian", "--file", str(path), "--password-stdin"]) == 1
    assert "qian" not in read_users(path)


def test_counting_costs_a_push_no_extra_round_trip(app, monkeypatch):
    """A FAQ text is two round trips (admission, then the reply's pipeline), the day's counters in the second."""
    import redis

    calls = []
    execute, pipeline_execute = redis.Redis.execute_command, redis.client.Pipeline.execute
    monkeypatch.setattr(redis.Redis, "execute_command",
                        lambda self, *args, **kw: calls.append(args[0]) or execute(self, *args, **kw))
    monkeypatch.setattr(redis.client.Pipeline, "execute",
                        lambda self, *a, **kw: calls.append([c[0][0] for c in self.command_stack]) or
                        pipeline_execute(self, *a, **kw))
    with ServedApp(app) as served:
        pusher = Pusher(served.url + "/wechat", TOKEN, APP_ID, "", mode="plaintext")
        pusher.push(PushBuilder().text(USER, "你好"))  # first push: scripts and connections warmed up
        calls.clear()
        assert "提现" in pusher.decode_reply(pusher.push(PushBuilder().text(USER, "提现失败怎么办")))["Content"]
    assert len(calls) == 2, calls
    assert calls[1].count("HINCRBY") >= 3


def test_a_field_the_schema_gains_is_editable_and_takes_the_examples(monkeypatch):
    from bot.console import entry_form

    schema = json.loads(json.dumps(entry_form._schema()))
    schema["$defs"]["entry"]["properties"]["examples"] = {"type": "array", "items": {"$ref": "#/$defs/text"}}
    monkeypatch.setattr(entry_form, "_schema", lambda: schema)
    assert ("examples", "lines") in [(f.name, f.kind) for f in entry_form.fields()]
    assert entry_form.example_field() == "examples"
    base = {"id": "x_entry", "question": "问题", "examples": ["一句"], "owner_note": "kept"}
    edited = entry_form.entry_from_form({"f_question": "问题", "f_examples": "一句\n两句\n", "f_enabled": "on"}, base)
    assert edited["examples"] == ["一句", "两句"] and edited["owner_note"] == "kept" and "enabled" not in edited
    assert entry_form.with_example(edited, "三句")["examples"] == ["一句", "两句", "三句"]


def test_chart_labels_are_escaped():
    from bot.console import charts

    svg = str(charts.bars(["<b>"], [("<script>", [3])], "t"))
    assert "<script>" not in svg and "&lt;script&gt;" in svg and svg.count('class="bar"') == 1


def test_unknown_entry_is_a_page_not_found(editor):
    response = editor.get("/console/faq/no_such_entry")
    assert response.status_code == 404 and "没有找到" in response.get_data(as_text=True)


def test_an_entry_keeps_its_id(app, editor):
    found = app.extensions["wxbot_console"].files.find("withdraw_failed")
    token = csrf_of(page(editor, "/console/faq"))
    response = editor.post("/console/faq/save", data={
        "csrf": token, "faq_id": "withdraw_failed", "base": found.version, "file": found.file,
        "after": json.dumps({**found.entry, "id": "renamed_entry"})})
    assert response.status_code == 400 and app.extensions["wxbot_console"].files.find("renamed_entry") is None


def test_console_path_may_not_take_the_callback(redis_server, tmp_path):
    with pytest.raises(ValueError):
        console_app(redis_server.url, tmp_path, BOT_CONSOLE_PATH="/wechat")
