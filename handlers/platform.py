"""WeChat's own notices to the account (mass and template sends finished, verification and
qualification results, card reviews, shake-around): no user is waiting for an answer, so each
is logged and answered "success"."""
from __future__ import annotations

import logging

from handlers import Context, on_event

log = logging.getLogger(__name__)

#: Events WeChat sends about the account itself, and the field worth a log line.
NOTICES = {
    "masssendjobfinish": "status", "templatesendjobfinish": "status",
    "qualification_verify_success": "expired_time", "qualification_verify_fail": "fail_reason",
    "naming_verify_success": "expired_time", "naming_verify_fail": "fail_reason",
    "annual_renew": "expired_time", "verify_expired": "expired_time",
    "card_pass_check": "card_id", "card_not_pass_check": "refuse_reason", "card_sku_remind": "detail",
    "poi_check_notify": "result", "shakearound_user_shake": None,
}


def notice(message, ctx: Context):
    field = NOTICES.get(message.event)
    log.info("WeChat notice %s%s", message.event, f": {getattr(message, field, '')}" if field else "")
    ctx.notes["route"] = "notice"
    return None


for _event in NOTICES:
    on_event(_event)(notice)
