"""The engine's own audit reasons (:mod:`closeloop.domain.reasons`) in each language a reader or a customer
is served in: pure data plus :func:`translate_reason`, used by the dashboard (its ``reason`` filter) and by the
customer notices alike, so the two cannot read a stored reason differently.

English is the text as stored (:data:`~closeloop.domain.reasons.SYSTEM_REASONS` itself); every other language
translates every code with the same ``{parameters}`` (``tests/unit/test_system_reasons.py`` keeps it so).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from closeloop.domain.reasons import SYSTEM_REASONS, EngineReason, SystemReason, stored_reason

R = SystemReason

#: The Chinese text of each system reason, ``{name}`` its parameters (each read in turn by :func:`translate_reason`).
ZH_REASONS: dict[SystemReason, str] = {
    R.TASK_TAKEN_UP: "任务 {task}（{department}）已开始处理",
    R.ACKNOWLEDGED_BY_PAUSE: "暂停即视为确认",
    R.DEPENDENCIES_FINISHED: "其依赖的任务均已完成",
    R.ALL_TASKS_CANCELLED: "所有任务均已取消",
    R.DEPARTMENT_TASKS_FINISHED: "所有部门任务均已完成",
    R.COMPLAINT_RESOLVED: "投诉已解决：{reason}",
    R.COMPLAINT_REOPENED: "投诉已重新打开：{reason}",
    R.CUSTOMER_SATISFIED: "客户满意",
    R.CUSTOMER_NOT_SATISFIED: "客户不满意：{note}",
    R.CUSTOMER_NOT_SATISFIED_SILENT: "客户不满意：未说明原因",
    R.CUSTOMER_ANSWER_BY_LINK: "客户通过链接作答",
    R.MERGED_SAME_TASK: "投诉 {duplicate} 已并入投诉 {survivor}，后者已有相同任务",
    R.WAITING_ON_CUSTOMER: "等待客户：{reason}",
    R.CUSTOMER_ANSWERED: "客户已回复",
    R.CUSTOMER_MESSAGE: "客户经 {channel} 发来消息",
    R.CUSTOMER_MESSAGE_NO_CHANNEL: "客户发来消息（渠道未知）",
    R.NO_CUSTOMER_RESPONSE: "已关闭：客户未回应",
    R.NO_CUSTOMER_RESPONSE_CAUSE: "已关闭：客户未回应，客户没有答复",
    R.FOLLOW_UP_DUE: "客户回访",
    R.PROMISE_NOT_KEPT: "未在 {due} 前兑现",
    R.PERSONAL_DATA_ERASED: "已应要求删除个人数据",
    R.ROOT_CAUSE_ASKED: "等待根本原因",
    R.EFFECTIVENESS_CHECK_DUE: "有效性检查到期",
    R.EFFECTIVENESS_COUNTS: "实施前 {days} 天内有 {before} 件匹配投诉，实施后 {days} 天内有 {after} 件",
    R.EFFECTIVENESS_COUNTS_REDUCTION: "实施前 {days} 天内有 {before} 件匹配投诉，实施后 {days} 天内有 {after} 件"
    "（降幅 {reduction}）",
    R.FIX_DID_NOT_WORK: "改进未见效：{why}",
    R.JUDGED_INEFFECTIVE: "{actor} 判定无效",
    R.REPLAY_ACTION_DONE: "纠正措施已完成（回放模型）",
    R.REPLAY_FOLLOW_UP: "回放的回访",
}

#: Language -> the text of every system reason in it (English: the stored text).
REASON_TEXTS: dict[str, dict[SystemReason, str]] = {"en": SYSTEM_REASONS, "zh": ZH_REASONS}


#: A reader's names of an engine value, by parameter name (``{"department": code -> its name}``).
Names = Mapping[str, Callable[[Any], str]]


def translate_reason(text: str, language: str, data: Mapping[str, Any] | None = None, *,
                     names: Names | None = None) -> str:
    """A stored audit reason in ``language`` (``"en"``, ``"zh"``; any other: English, the stored text): one of
    the engine's own, known by the code its audit row stored in ``data``
    (:func:`~closeloop.domain.reasons.stored_reason`; a row without one, or no ``data``: recognised from
    ``text``), in that language, each parameter likewise (a nested system reason translated, a parameter named
    in ``names`` as that function renders it (the dashboard: a department code as its name), a person's words
    and the engine's other values as written); a reason a person wrote, unchanged. Raises nothing."""
    found = stored_reason(text, data)
    return text if found is None else _words(found, language, names or {})


def _words(reason: EngineReason, language: str, names: Names) -> str:
    table = REASON_TEXTS.get(language, SYSTEM_REASONS)
    return table[reason.code].format(**{k: _words(v, language, names) if isinstance(v, EngineReason)
                                        else names[k](v) if k in names else v for k, v in reason.params.items()})
