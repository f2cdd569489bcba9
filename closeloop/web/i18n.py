"""The dashboard's message catalogue: every UI string, once per language (``en``, ``zh``).

Templates call ``t("key", name=value)``; a key missing in a language falls back to
English, and a test keeps both catalogues on the same keys. Statuses, flags and
clock names are keys too (``status.in_progress``, ``clock.resolve``).
"""

from __future__ import annotations

from collections.abc import Callable

LANGUAGES = ("en", "zh")
DEFAULT = "en"

EN: dict[str, str] = {
    "app.name": "closeloop", "app.tagline": "complaint operations",
    "nav.overview": "Overview", "nav.queue": "Department queue", "nav.signout": "Sign out",
    "nav.language": "中文", "nav.signed_in_as": "{name} · {role}",
    "role.member": "member", "role.lead": "lead", "role.manager": "operations manager", "role.admin": "admin",
    "signin.title": "Sign in", "signin.token": "API token", "signin.help":
        "Paste the token from `closeloop tokens create --role ROLE [--department D]`.",
    "signin.submit": "Sign in", "signin.bad_token": "Unknown or revoked token.",
    "signin.too_many": "Too many failed sign-ins from your address. Try again in {minutes} minute(s).",
    "signin.signed_out": "You are signed out.", "signin.expired": "Please sign in to continue.",
    "overview.title": "Operations overview", "overview.as_of": "as of {at}",
    "overview.open_complaints": "Open complaints", "overview.breached": "Breached tasks",
    "overview.at_risk": "At-risk tasks", "overview.promise_breached": "Past the customer promise",
    "overview.ack_overdue": "Acknowledge overdue",
    "overview.due_today": "Due today", "overview.active_tasks": "Active tasks",
    "overview.by_status": "Complaints by status", "overview.departments": "Departments",
    "overview.load": "Load per department (active tasks)", "overview.age": "Age of open complaints",
    "overview.recent": "Recently completed tasks", "overview.none_recent": "No task completed yet.",
    "overview.dead_letters": "Messages not delivered",
    "overview.dead_letters_help": "Nobody was told: re-send with `closeloop outbox retry --all-dead` "
                                  "(or POST /api/v1/outbox/ID/retry).",
    "overview.department": "Department", "overview.chart.complaints": "complaints",
    "overview.chart.status": "status", "overview.chart.age": "age (calendar days since received)",
    "age.<1d": "< 1 day", "age.1-3d": "1-3 days", "age.3-7d": "3-7 days", "age.7-30d": "7-30 days",
    "age.>=30d": "≥ 30 days",
    "queue.title": "Queue: {department}", "queue.department": "Department", "queue.show": "Show",
    "queue.empty": "No active tasks. Well done.", "queue.total": "{total} active tasks",
    "queue.zone": "Times in {zone}", "queue.task": "Task", "queue.complaint": "Complaint", "queue.status": "Status",
    "queue.due": "Due", "queue.assignee": "Assignee",
    "queue.actions": "Actions", "queue.filter.all": "All active", "queue.filter.overdue": "Overdue",
    "queue.filter.due_today": "Due today", "queue.showing": "{first}-{last} of {total}", "queue.prev": "previous",
    "queue.next": "next",
    "flag.overdue": "overdue", "flag.due_today": "due today",
    "action.acknowledge": "Acknowledge", "action.start": "Start", "action.complete": "Complete",
    "action.transfer": "Transfer", "action.outcome": "Outcome note", "action.reason": "Reason",
    "action.to": "To department", "action.root_cause": "Root cause", "action.root_cause_none": "(not known yet)",
    "action.root_cause_note": "Root-cause note",
    "ok.acknowledge": "Task {task} acknowledged.", "ok.start": "Task {task} started.",
    "ok.complete": "Task {task} completed.", "ok.transfer": "Task {task} transferred.",
    "err.stale": "Task {task} was changed by someone else after this page was loaded. "
                 "The queue below is current: check it and try again.",
    "err.illegal": "Task {task} cannot do that in its current state ({state}).",
    "err.reason": "A transfer needs a reason.", "err.outcome": "Completing a task needs an outcome note.",
    "err.to": "Choose another, active department to transfer to.",
    "err.root_cause": "Task {task} needs a valid root cause (\"undetermined\" needs a note saying what was checked).",
    "err.invalid": "Invalid input ({field}).",
    "err.not_found": "Task {task} does not exist.",
    "error.title": "Something is not right", "error.401": "Please sign in.",
    "error.403": "You do not have access to this page.", "error.403.department":
        "Your token is for department {mine}; it cannot open {other}.",
    "error.403.complaint": "Complaint {id} has no task in your department.",
    "error.403.role": "This page is for the operations manager.",
    "error.403.csrf": "The form was rejected: it did not come from this dashboard (missing or wrong "
                      "security token). Reload the page and try again.",
    "error.404": "Not found.", "error.409": "A conflicting change was made; reload and retry.",
    "error.422": "The request was not valid.", "error.500": "Internal error. It was logged.",
    "error.back": "Back to the start page",
    "complaint.title": "Complaint {id}", "complaint.facts": "Facts", "complaint.tasks": "Tasks",
    "complaint.clocks": "SLA clocks", "complaint.timeline": "Timeline", "complaint.source": "Source",
    "complaint.reference": "Reference",
    "complaint.received": "Received", "complaint.category": "Category", "complaint.product": "Product",
    "complaint.issue": "Issue", "complaint.channel": "Channel · region",
    "complaint.flags": "Risk flags", "complaint.root_cause": "Root cause", "complaint.transfers": "Transfers",
    "complaint.merged_from": "Merged from", "complaint.due": "Customer promise due",
    "clock.owner": "Owner", "clock.name": "Clock", "clock.state": "State", "clock.target": "Target (bh)",
    "clock.elapsed": "Elapsed (bh)", "clock.remaining": "Remaining (bh)", "clock.due_zone": "Due (local)",
    "clock.due_utc": "Due (UTC)", "clock.breached": "breached", "clock.help":
        "bh = business hours on the calendar of the clock's owner; paused time is not counted.",
    "clock.acknowledge": "acknowledge", "clock.resolve": "resolve", "clock.update": "update",
    "clock.first_response": "first response",
    "timeline.at": "When (UTC)", "timeline.actor": "Who", "timeline.what": "What",
    "task.id": "Task", "task.department": "Department", "task.kind": "Kind", "task.title": "Title",
    "task.outcome": "Outcome",
    "status.received": "received", "status.triaged": "triaged", "status.in_progress": "in progress",
    "status.awaiting_customer": "awaiting customer", "status.resolved": "resolved", "status.closed": "closed",
    "status.reopened": "reopened", "status.merged": "merged", "status.rejected": "rejected",
    "status.open": "open", "status.acknowledged": "acknowledged", "status.blocked": "blocked",
    "status.waiting": "waiting", "status.done": "done", "status.transferred": "transferred",
    "status.cancelled": "cancelled",
    "clockstate.on_track": "on track", "clockstate.at_risk": "at risk", "clockstate.breached": "breached",
    "clockstate.paused": "paused", "clockstate.met": "met", "clockstate.no_target": "no target",
    "clockstate.cancelled": "cancelled",
    "rootcause.product_defect": "product defect", "rootcause.process_gap": "process gap",
    "rootcause.policy_rule": "policy or compensation rule", "rootcause.information": "information and communication",
    "rootcause.system": "system or tooling", "rootcause.third_party": "partner or third party",
    "rootcause.customer_side": "customer side", "rootcause.force_majeure": "force majeure (weather, a flight change)",
    "rootcause.undetermined": "undetermined (a note is required)",
    "complaints.title": "Complaints", "complaints.for": "matching “{q}”", "complaints.any_status": "any status",
    "complaints.overdue": "past the promise", "complaints.sort": "Order", "complaints.total": "{total} complaints",
    "complaints.reference": "Reference", "complaints.subject": "Subject", "complaints.received": "Received",
    "complaints.none": "No complaint matches.", "nav.complaints": "Complaints", "export.label": "Export",
    "export.timeline": "Export the timeline",
    "search.placeholder": "Search: id, reference, customer, words", "search.submit": "Search",
    "sort.-received_at": "newest first", "sort.received_at": "oldest first", "sort.due_at": "due soonest",
    "sort.severity": "most severe", "sort.-id": "highest id",
    "risk.vulnerable_customer": "vulnerable customer", "risk.public_exposure": "public exposure",
    "risk.legal_threat": "legal threat", "risk.repeat_complainer": "repeat complainer",
    "risk.compensation_demanded": "compensation demanded",
}

ZH: dict[str, str] = {
    "app.name": "closeloop", "app.tagline": "投诉运营",
    "nav.overview": "总览", "nav.queue": "部门队列", "nav.signout": "退出", "nav.language": "English",
    "nav.signed_in_as": "{name} · {role}",
    "role.member": "部门成员", "role.lead": "部门负责人", "role.manager": "运营经理", "role.admin": "管理员",
    "signin.title": "登录", "signin.token": "API 令牌",
    "signin.help": "粘贴 `closeloop tokens create --role 角色 [--department 部门]` 输出的令牌。",
    "signin.submit": "登录", "signin.bad_token": "令牌无效或已被吊销。",
    "signin.too_many": "您的地址登录失败次数过多，请 {minutes} 分钟后再试。", "signin.signed_out": "您已退出。",
    "signin.expired": "请先登录。",
    "overview.title": "运营总览", "overview.as_of": "截至 {at}", "overview.open_complaints": "未结投诉",
    "overview.breached": "已超时任务", "overview.at_risk": "临近超时任务", "overview.ack_overdue": "确认超时",
    "overview.promise_breached": "已超客户承诺",
    "overview.due_today": "今日到期", "overview.active_tasks": "进行中任务", "overview.by_status": "投诉状态分布",
    "overview.departments": "各部门", "overview.load": "各部门负载（进行中任务）", "overview.age": "未结投诉的时长分布",
    "overview.recent": "最近完成的任务",
    "overview.none_recent": "尚无已完成的任务。", "overview.department": "部门",
    "overview.dead_letters": "未送达的消息",
    "overview.dead_letters_help": "无人收到通知：用 `closeloop outbox retry --all-dead`"
                                  "（或 POST /api/v1/outbox/ID/retry）重发。",
    "overview.chart.complaints": "投诉数", "overview.chart.status": "状态",
    "overview.chart.age": "时长（自接收起的日历天数）",
    "age.<1d": "不足 1 天", "age.1-3d": "1-3 天", "age.3-7d": "3-7 天", "age.7-30d": "7-30 天",
    "age.>=30d": "30 天及以上",
    "queue.title": "队列：{department}", "queue.department": "部门", "queue.show": "显示",
    "queue.empty": "没有待办任务。", "queue.total": "共 {total} 个进行中任务", "queue.zone": "时间为 {zone} 时区",
    "queue.task": "任务", "queue.complaint": "投诉", "queue.status": "状态",
    "queue.due": "到期", "queue.assignee": "负责人", "queue.actions": "操作", "queue.filter.all": "全部进行中",
    "queue.filter.overdue": "已超时", "queue.filter.due_today": "今日到期",
    "queue.showing": "第 {first}-{last} 个，共 {total} 个", "queue.prev": "上一页", "queue.next": "下一页",
    "flag.overdue": "已超时", "flag.due_today": "今日到期",
    "action.acknowledge": "确认", "action.start": "开始处理", "action.complete": "完成", "action.transfer": "转交",
    "action.outcome": "处理结果", "action.reason": "原因", "action.to": "转交给部门", "action.root_cause": "根本原因",
    "action.root_cause_none": "（尚不清楚）", "action.root_cause_note": "根因说明",
    "ok.acknowledge": "任务 {task} 已确认。", "ok.start": "任务 {task} 已开始处理。",
    "ok.complete": "任务 {task} 已完成。", "ok.transfer": "任务 {task} 已转交。",
    "err.stale": "任务 {task} 在本页面加载后已被他人修改。下方队列为最新状态，请核对后重试。",
    "err.illegal": "任务 {task} 在当前状态（{state}）下不能执行该操作。", "err.reason": "转交必须填写原因。",
    "err.outcome": "完成任务必须填写处理结果。", "err.to": "请选择另一个有效的部门进行转交。",
    "err.root_cause": "任务 {task} 需要有效的根本原因（选择“无法确定”时须填写说明，写明核查了什么）。",
    "err.invalid": "输入无效（{field}）。", "err.not_found": "任务 {task} 不存在。",
    "error.title": "出现问题", "error.401": "请先登录。", "error.403": "您无权访问此页面。",
    "error.403.department": "您的令牌属于部门 {mine}，不能打开 {other} 的内容。",
    "error.403.complaint": "投诉 {id} 在您的部门没有任务。", "error.403.role": "此页面仅供运营经理使用。",
    "error.403.csrf": "表单被拒绝：它不是从本仪表板提交的（安全令牌缺失或错误）。请刷新页面后重试。",
    "error.404": "未找到。", "error.409": "存在冲突的修改，请刷新后重试。", "error.422": "请求无效。",
    "error.500": "内部错误，已记录。", "error.back": "返回首页",
    "complaint.title": "投诉 {id}", "complaint.facts": "基本信息", "complaint.tasks": "任务",
    "complaint.clocks": "SLA 计时", "complaint.timeline": "时间线", "complaint.source": "来源",
    "complaint.reference": "外部编号", "complaint.received": "收到时间", "complaint.category": "类别",
    "complaint.product": "产品", "complaint.issue": "问题", "complaint.channel": "渠道 · 地区",
    "complaint.flags": "风险标记", "complaint.root_cause": "根本原因", "complaint.transfers": "转交次数",
    "complaint.merged_from": "合并自", "complaint.due": "对客户承诺到期",
    "clock.owner": "归属", "clock.name": "计时", "clock.state": "状态", "clock.target": "目标（工时）",
    "clock.elapsed": "已用（工时）", "clock.remaining": "剩余（工时）", "clock.due_zone": "到期（当地）",
    "clock.due_utc": "到期（UTC）", "clock.breached": "已超时",
    "clock.help": "工时 = 按归属方工作日历计算的工作小时；暂停时间不计入。",
    "clock.acknowledge": "确认", "clock.resolve": "解决", "clock.update": "进展更新",
    "clock.first_response": "首次响应",
    "timeline.at": "时间（UTC）", "timeline.actor": "操作人", "timeline.what": "内容",
    "task.id": "任务", "task.department": "部门", "task.kind": "类型", "task.title": "标题", "task.outcome": "处理结果",
    "status.received": "已接收", "status.triaged": "已分诊", "status.in_progress": "处理中",
    "status.awaiting_customer": "等待客户", "status.resolved": "已解决", "status.closed": "已关闭",
    "status.reopened": "已重新打开", "status.merged": "已合并", "status.rejected": "已拒绝", "status.open": "待处理",
    "status.acknowledged": "已确认", "status.blocked": "受阻", "status.waiting": "等待中", "status.done": "已完成",
    "status.transferred": "已转交", "status.cancelled": "已取消",
    "clockstate.on_track": "正常", "clockstate.at_risk": "临近超时", "clockstate.breached": "已超时",
    "clockstate.paused": "已暂停", "clockstate.met": "已达成", "clockstate.no_target": "无目标",
    "clockstate.cancelled": "已取消",
    "rootcause.product_defect": "产品缺陷", "rootcause.process_gap": "流程缺口",
    "rootcause.policy_rule": "政策或补偿规则",
    "rootcause.information": "信息与沟通", "rootcause.system": "系统或工具", "rootcause.third_party": "合作方或第三方",
    "rootcause.customer_side": "客户方原因", "rootcause.force_majeure": "不可抗力（天气、航班变更）",
    "rootcause.undetermined": "无法确定（须填写说明）",
    "complaints.title": "投诉", "complaints.for": "匹配“{q}”", "complaints.any_status": "全部状态",
    "complaints.overdue": "已超客户承诺", "complaints.sort": "排序", "complaints.total": "共 {total} 件投诉",
    "complaints.reference": "编号", "complaints.subject": "主题", "complaints.received": "接收时间",
    "complaints.none": "没有匹配的投诉。", "nav.complaints": "投诉", "export.label": "导出",
    "export.timeline": "导出时间线",
    "search.placeholder": "搜索：编号、外部编号、客户、关键词", "search.submit": "搜索",
    "sort.-received_at": "最新在前", "sort.received_at": "最早在前", "sort.due_at": "最先到期",
    "sort.severity": "最严重在前", "sort.-id": "编号从大到小",
    "risk.vulnerable_customer": "弱势客户", "risk.public_exposure": "公开曝光",
    "risk.legal_threat": "法律威胁", "risk.repeat_complainer": "重复投诉",
    "risk.compensation_demanded": "要求赔偿",
}

CATALOGUES = {"en": EN, "zh": ZH}


def translator(language: str) -> Callable[..., str]:
    """``t(key, **values)`` for ``language`` (English fallback; an unknown key shows as itself)."""
    table = CATALOGUES.get(language, EN)

    def t(key: str, default: str | None = None, **values) -> str:
        text = table.get(key) or EN.get(key) or default or key
        return text.format(**values) if values else text

    return t


def pick(*candidates: str | None) -> str:
    """The first candidate that is a supported language, else the default."""
    for c in candidates:
        if c in LANGUAGES:
            return c
    return DEFAULT
