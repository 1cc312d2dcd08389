"""The console's pages (Flask views); the work is done by the modules they call.

No user data travels in a URL: messages, texts and openids are only ever in
POST bodies or in the page, masked. Every POST carries the CSRF token;
changes need the editor role and go through FaqFiles.save (checks, version,
backup), then into the audit log.
"""
from __future__ import annotations

import json
import logging
import time
from datetime import datetime

from flask import (Blueprint, Response, abort, current_app, flash, g, redirect, render_template, request,
                   session, url_for)
from redis import RedisError
from werkzeug.exceptions import HTTPException

from bot import counters
from bot.console import charts, entry_form, reports, security
from bot.console.faq_files import Conflict, Refused, version_of
from bot.faq import render
from bot.masking import mask_openid, mask_text

log = logging.getLogger(__name__)
PERIODS = (7, 30, 90)


def _svc():
    return current_app.extensions["wxbot"]


def _console():
    return current_app.extensions["wxbot_console"]


def _days_arg() -> int:
    days = request.args.get("days", type=int) or 7
    return days if days in PERIODS else 7


REASONS = {"request": "用户要求转人工", "scam_alert": "疑似诈骗，优先", "fallback": "机器人没答上",
           "left_message": "留言"}


def _when(ts) -> str:
    """A time as staff read it: in the agents' service-hours timezone."""
    if not ts:
        return "-"
    return datetime.fromtimestamp(int(float(ts)), _svc().hours.timezone).strftime("%Y-%m-%d %H:%M")


def make_blueprint() -> Blueprint:
    bp = Blueprint("console", __name__, template_folder="templates", static_folder="static",
                   static_url_path="/static")

    @bp.before_request
    def guard():
        settings = _svc().settings
        g.user = security.current_user(_console().users, settings.BOT_CONSOLE_SESSION_HOURS)
        if request.method == "POST":
            security.check_csrf()
        if g.user is None and request.endpoint not in ("console.login", "console.static"):
            return redirect(url_for("console.login"))

    @bp.after_request
    def headers(response):
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Content-Security-Policy"] = ("default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                                                       "script-src 'none'; form-action 'self'; frame-ancestors 'none'")
        return response

    @bp.context_processor
    def template_globals():
        return {"csrf_token": security.csrf_token, "user": g.get("user"), "when": _when,
                "route_names": reports.ROUTE_NAMES, "reason_names": REASONS, "can_edit": (g.get("user") or ("", ""))[1] == "editor"}

    @bp.errorhandler(400)
    def bad_request(exc):
        if getattr(exc, "description", "") == "csrf":
            return render_template("message.html", title="请求被拒绝",
                                   text="表单已过期或不是从本控制台提交的（CSRF 校验失败）。请刷新页面后再试。"), 400
        return render_template("message.html", title="请求有误", text="请求的内容不完整，请返回重试。"), 400

    @bp.errorhandler(403)
    def forbidden(exc):
        return render_template("message.html", title="没有权限",
                               text="您的账号是只读（viewer）角色，不能修改问答。需要修改请联系管理员。"), 403

    @bp.errorhandler(Exception)
    def failed(exc):
        if isinstance(exc, HTTPException):
            return render_template("message.html", title="没有找到" if exc.code == 404 else exc.name,
                                   text="没有这个页面或这条问答。" if exc.code == 404 else exc.description), exc.code
        log.exception("console page failed")
        return render_template("message.html", title="出错了", text="页面出错了，已记录日志。请稍后再试。"), 500

    @bp.errorhandler(RedisError)
    def redis_down(exc):
        return render_template("message.html", title="数据暂时读不到",
                               text="Redis 暂时连不上，统计和登录稍后恢复；问答库的修改不受影响。"), 503

    # --- login ----------------------------------------------------------------------------------
    @bp.route("/login", methods=["GET", "POST"])
    def login():
        error = None
        if request.method == "POST":
            from bot.console.users import authenticate

            name = request.form.get("username", "").strip()
            password = request.form.get("password", "")
            storage, address = _svc().storage, security.client_address()
            limit = _svc().settings.BOT_CONSOLE_LOGIN_LIMIT
            if counters.login_blocked(storage, name, address, limit):
                error = "登录失败次数过多，请 15 分钟后再试。"
            else:
                role = authenticate(_console().users, name, password)
                if role:
                    counters.login_succeeded(storage, name)
                    security.start_session(name, role)
                    _console().audit.record(name, "login")
                    return redirect(url_for("console.faq_list"))
                counters.login_failed(storage, name, address)
                error = "用户名或密码不对。"
        return render_template("login.html", error=error), (401 if error else 200)

    @bp.route("/logout", methods=["POST"])
    def logout():
        session.clear()
        return redirect(url_for("console.login"))

    @bp.route("/")
    def home():
        return redirect(url_for("console.faq_list"))

    # --- FAQ ------------------------------------------------------------------------------------
    @bp.route("/faq")
    def faq_list():
        query = request.args.get("q", "").strip()
        rows = _console().files.entries()
        if query:
            rows = [r for r in rows if query.lower() in json.dumps(r.entry, ensure_ascii=False).lower()]
        health = _svc().router.health()
        return render_template("faq_list.html", rows=rows, query=query, health=health)

    @bp.route("/faq/new")
    def faq_new():
        files = _console().files.files()
        entry = {"enabled": True}
        return render_template("faq_edit.html", entry=entry, fields=entry_form.fields(), base=version_of(None),
                               is_new=True, files=files, file=request.args.get("file") or (files[0] if files else ""),
                               shown=entry_form.shown_value)

    @bp.route("/faq/<faq_id>")
    def faq_edit(faq_id: str):
        found = _console().files.find(faq_id)
        if found is None:
            abort(404)
        return render_template("faq_edit.html", entry=found.entry, fields=entry_form.fields(), base=found.version,
                               is_new=False, file=found.file, files=[found.file], shown=entry_form.shown_value)

    @bp.route("/faq/preview", methods=["POST"])
    @security.editor_only
    def faq_preview():
        form = request.form
        base = form.get("base", "")
        is_new = form.get("is_new") == "1"
        found = None if is_new else _console().files.find(form.get("faq_id", ""))
        if not is_new and found is None:
            return _conflict(form.get("faq_id", ""), None, None)
        try:
            after = entry_form.entry_from_form(form, found.entry if found else None)
        except entry_form.FormError as exc:
            return render_template("faq_edit.html", entry=found.entry if found else {}, fields=entry_form.fields(),
                                   base=base, is_new=is_new, file=form.get("file", ""), files=[form.get("file", "")],
                                   shown=entry_form.shown_value, form_error=str(exc), posted=form), 422
        if form.get("action") == "disable":
            after = {**after, "enabled": False}
        elif form.get("action") == "enable":
            after = {**after, "enabled": True}
        faq_id = found.entry["id"] if found else str(after.get("id", ""))
        label = {"disable": "停用", "enable": "启用"}.get(form.get("action", ""), "新增" if is_new else "修改")
        try:
            proposal = _console().files.propose(faq_id, after, base, form.get("file"))
        except (Conflict, Refused, ValueError):
            return _preview(faq_id, after, base, form.get("file"), label)
        if not proposal.ok:  # back to the form, as typed, with the errors
            return render_template("faq_edit.html", entry=found.entry if found else {}, fields=entry_form.fields(),
                                   base=base, is_new=is_new, file=form.get("file", ""), files=[form.get("file", "")],
                                   shown=entry_form.shown_value, problems=proposal.new_errors, posted=form), 422
        return _render_preview(proposal, after, base, label)

    def _preview(faq_id: str, after: dict | None, base: str, file: str | None, action: str, extra: dict | None = None):
        try:
            proposal = _console().files.propose(faq_id, after, base, file)
        except Conflict as exc:
            return _conflict(faq_id, exc.current, after)
        except Refused as exc:
            return render_template("message.html", title="不能保存", text="；".join(str(p) for p in exc.problems)), 422
        except ValueError:
            abort(400)
        return _render_preview(proposal, after, base, action, extra)

    def _render_preview(proposal, after, base: str, action: str, extra: dict | None = None):
        page = render_template("faq_preview.html", p=proposal, base=base, action=action,
                               after_json=json.dumps(after, ensure_ascii=False), extra=extra or {})
        return page, (200 if proposal.ok else 422)

    def _conflict(faq_id: str, current: dict | None, mine: dict | None):
        return render_template("faq_conflict.html", faq_id=faq_id, current=current, mine=mine,
                               current_json=json.dumps(current, ensure_ascii=False, indent=2) if current else "",
                               mine_json=json.dumps(mine, ensure_ascii=False, indent=2) if mine else ""), 409

    @bp.route("/faq/resubmit", methods=["POST"])
    @security.editor_only
    def faq_resubmit():
        """A version kept from a conflict, checked again over the entry as it is now."""
        form = request.form
        try:
            after = json.loads(form.get("after", "null"))
        except json.JSONDecodeError:
            abort(400)
        faq_id = form.get("faq_id", "")
        return _preview(faq_id, after, version_of(_found_entry(faq_id)), form.get("file"), "修改")

    @bp.route("/faq/save", methods=["POST"])
    @security.editor_only
    def faq_save():
        form = request.form
        faq_id, base, file, action = form.get("faq_id", ""), form.get("base", ""), form.get("file"), form.get("action", "")
        try:
            after = json.loads(form.get("after", "null"))
        except json.JSONDecodeError:
            abort(400)
        if after is not None and not isinstance(after, dict):
            abort(400)
        name = g.user[0]
        try:
            saved = _console().files.save(faq_id, after, base, file, who=name)
        except Conflict as exc:
            return _conflict(faq_id, exc.current, after)
        except Refused:
            return _preview(faq_id, after, version_of(_found_entry(faq_id)), file, action)
        except ValueError:
            abort(400)
        _console().audit.record(name, "faq", label=action, faq_id=faq_id, file=saved.file, before=saved.before,
                                after=saved.after, backup=saved.backup)
        if form.get("example"):
            _svc().best_effort(lambda: _svc().storage.forget_unmatched(form["example"]), None)
        flash(f"已保存{action}：{faq_id}。机器人会在 {_svc().settings.BOT_RELOAD_INTERVAL:g} 秒内用上新内容。")
        if form.get("example"):
            return redirect(url_for("console.asked"))
        return redirect(url_for("console.faq_edit", faq_id=faq_id) if after else url_for("console.faq_list"))

    def _found_entry(faq_id: str):
        found = _console().files.find(faq_id)
        return found.entry if found else None

    # --- audit and undo -------------------------------------------------------------------------
    @bp.route("/audit")
    def audit():
        return render_template("audit.html", rows=_console().audit.recent(200))

    @bp.route("/audit/undo", methods=["POST"])
    @security.editor_only
    def undo():
        record = _console().audit.get(request.form.get("seq", type=int) or -1)
        if not record or record.get("action") != "faq":
            abort(404)
        return _preview(record["faq_id"], record.get("before"), version_of(record.get("after")), record.get("file"),
                        "撤销")

    # --- try it ---------------------------------------------------------------------------------
    @bp.route("/try", methods=["GET", "POST"])
    def try_it():
        text = request.form.get("text", "").strip()[:600] if request.method == "POST" else ""
        decision = None
        if text:
            decision, _ = _svc().router.route(text)
        router = _svc().router
        candidates = [(c, router.nearest(text, c.faq_id)) for c in (decision.candidates if decision else ())]
        return render_template("try.html", text=text, decision=decision, candidates=candidates)

    # --- what users ask -------------------------------------------------------------------------
    @bp.route("/asked")
    def asked():
        svc = _svc()
        rows = []
        for text, count in svc.storage.top_unmatched(100):
            candidates = svc.router.route(text)[0].candidates
            rows.append((mask_text(text), count, candidates[0].faq_id if candidates else None))
        entries = [(e.entry["id"], render(e.entry.get("question", ""), svc.brand, strict=False))
                   for e in _console().files.entries()]
        return render_template("asked.html", rows=rows, entries=entries, field=entry_form.example_field())

    @bp.route("/asked/add", methods=["POST"])
    @security.editor_only
    def add_example():
        text = mask_text(request.form.get("text", "").strip())
        found = _console().files.find(request.form.get("faq_id", ""))
        if not text or found is None:
            abort(400)
        return _preview(found.entry["id"], entry_form.with_example(found.entry, text), found.version, found.file,
                        "添加例句", extra={"example": text})

    def _period():
        svc = _svc()
        n = _days_arg()
        names = counters.last_days(n, time.time(), svc.hours.timezone)
        return n, counters.read_days(svc.storage, names)

    @bp.route("/stats")
    def stats():
        n, days = _period()
        rows = reports.daily_rows(days)
        labels = [r["day"][5:] for r in rows]
        mix = reports.route_mix(days, "asked:")
        main = [name for name, _ in mix[:6]]
        volume = charts.bars(labels, [(reports.ROUTE_NAMES.get(name, name),
                                       [days[d].get(f"asked:{name}", 0) for d in days]) for name in main],
                             "每天用户提问，按机器人的判断")
        rate = charts.lines(labels, [("没答上比例", [r["fallback_rate"] for r in rows])], "没答上比例", top=1,
                            fmt=lambda v: f"{v * 100:.0f}%", width=charts.HALF)
        help_chart = charts.bars(labels, [("转人工", [r["handoffs"] for r in rows]),
                                          ("诈骗警报", [r["scam_alerts"] for r in rows]),
                                          ("举报假冒", [r["reported"] for r in rows]),
                                          ("留言工单", [r["tickets"] for r in rows])], "转人工、诈骗警报和举报",
                                width=charts.HALF)
        faq_titles = {e.entry["id"]: e.entry.get("question", "") for e in _console().files.entries()}
        reported = _svc().storage.top_reported(10)
        return render_template("stats.html", n=n, periods=PERIODS, rows=rows, total=reports.totals(rows, days),
                               columns=reports.COLUMNS, volume=volume, rate=rate, help_chart=help_chart,
                               mix=reports.route_mix(days), top=reports.top_faq(days), faq_titles=faq_titles,
                               reported=reported)

    @bp.route("/stats.csv")
    def stats_csv():
        n, days = _period()
        body = reports.to_csv(reports.daily_rows(days))
        return Response(body, mimetype="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="bot-stats-{n}d.csv"'})

    # --- how agents do --------------------------------------------------------------------------
    @bp.route("/agents")
    def agents():
        svc = _svc()
        n, days = _period()
        per_agent = reports.agent_days(days)
        labels = [counters.shown_day(d).strftime("%m-%d") for d in days]

        def avg(data, total, count):
            return [round(v[total] / v[count], 2) if v.get(count) else None for v in data.values()]

        csat = charts.lines(labels, [(a, avg(d, "rating_total", "ratings")) for a, d in sorted(per_agent.items())],
                            "每位客服的平均满意度（1–5）", top=5, ticks=5, width=charts.HALF)
        sessions_chart = charts.bars(labels, [(a, [v.get("sessions", 0) for v in d.values()])
                                              for a, d in sorted(per_agent.items())], "每天接待的会话",
                                     width=charts.HALF)
        summary = []
        for account, data in sorted(per_agent.items()):
            total = {k: sum(v.get(k, 0) for v in data.values()) for k in counters.AGENT_FIELDS}
            summary.append({"account": account, **total,
                            "avg_wait": round(total["wait_total"] / total["waits"]) if total["waits"] else None,
                            "csat": round(total["rating_total"] / total["ratings"], 2) if total["ratings"] else None})
        storage = svc.storage
        live = []
        for state, rows in storage.handoff_lists().items():
            for openid, since in rows:
                record = storage.get_kf_session(openid) or {}
                live.append({"user": mask_openid(openid), "state": state, "since": since,
                             "account": record.get("account") or "", "priority": record.get("priority") == "1",
                             "reason": record.get("reason", ""),
                             "context": mask_text(record.get("context") or record.get("context_text") or "")})
        tickets = [{"number": t.get("number"), "user": mask_openid(t.get("openid")), "text": mask_text(t.get("text", "")),
                    "created": t.get("created"), "priority": t.get("priority") == "1", "status": t.get("status")}
                   for t in storage.open_tickets(100)]
        return render_template("agents.html", n=n, periods=PERIODS, csat=csat, sessions_chart=sessions_chart,
                               summary=summary, live=live, tickets=tickets, all_time=storage.agent_stats())

    return bp
