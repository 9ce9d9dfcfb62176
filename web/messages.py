"""What a person reads when a service refuses: plain Chinese by the service's stable error
code (`services/*/errors.py`). Codes missing here fall back to the service's own message."""

from __future__ import annotations

from typing import Any

from web.charts import fen_to_yuan

FRIENDLY: dict[str, str] = {
    "ALERT_NOT_FOUND": "没有找到这条预警。",
    "ALERT_ALREADY_DECIDED": "这条预警已经处理过了，不能改为另一种处理结果。",
    "RULE_VERSION_CONFLICT": "这条规则刚被别人修改过，请刷新后再改。",
    "UNKNOWN_ANOMALY_RULE": "没有这条预警规则。",
    "CREDIT_EVENT_PENDING": "处理结果已保存，但机构信用记录暂时没有写入；请稍后再次提交同样的处理结果。",
    "REDEMPTION_RECOVERED": "这笔消费的补贴已追回，不能再撤销或申请结算。",
    "UNAUTHENTICATED": "登录已失效，请重新登录。",
    "BEARER_TOKEN_EXPIRED": "登录已过期，请重新登录。",
    "TOKEN_EXPIRED": "二维码已过期，请让老人刷新二维码。",
    "BEARER_TOKEN_INVALID": "登录信息无效，请重新登录。",
    "INVALID_TERMINAL": "本机终端未登记或已停用，请联系机构管理员。",
    "ROLE_NOT_ALLOWED": "您的账号没有这项权限。",
    "OUT_OF_SCOPE": "这不在您负责的范围内。",
    "FORBIDDEN": "您的账号没有这项权限。",
    "NOT_FOUND": "没有找到相关记录。",
    "VALIDATION_ERROR": "填写的内容有误，请检查后再提交。",
    "FIELD_REQUIRED": "有必填项没有填写。",
    "TOKEN_USED": "这个二维码已经用过了，请让老人刷新二维码。",
    "TOKEN_REPLAYED": "这个二维码已经用过了，请让老人刷新二维码。",
    "SHORT_CODE_UNKNOWN": "这串数字不对或已过期，请核对老人手机上二维码下面的数字，或请老人刷新付款码。",
    "SHORT_CODE_LOCKED": "输错数字太多次，暂时不能用数字收款，请扫描二维码，或过十分钟再试。",
    "INSUFFICIENT_BALANCE": "补贴券余额不足。",
    "VOUCHER_EXPIRED": "补贴券已过期。",
    "NO_USABLE_VOUCHER": "没有可在本机构、本项服务使用的补贴券。",
    "DAY_LIMIT_REACHED": "今天的使用次数已经用完了。",
    "BENEFICIARY_INACTIVE": "老人的补贴资格已暂停。",
    "PROVIDER_NOT_APPROVED": "本机构目前不能受理补贴券。",
    "OUT_OF_PROVINCE": "这位老人的补贴券属于其他省份，只能在其所在省份的机构使用。",
    "PROVINCE_UNKNOWN": "无法确定这项操作所属的省份，请联系系统管理员。",
    "SERVICE_NOT_ALLOWED": "这项服务不在补贴范围内。",
    "IDEMPOTENCY_KEY_REUSED": "这笔交易已经提交过，内容不同，请重新开始。",
    "INVALID_NATIONAL_ID": "身份证号码不正确，请核对。",
    "NATIONAL_ID_AS_NUMBER": "身份证号被 Excel 当成了数字，后几位已经丢失。请把身份证号这一列设为“文本”格式，重新填写后再导入。",
    "DUPLICATE_BENEFICIARY": "这位老人已经登记过了。",
    "INVALID_TRANSITION": "当前状态下不能进行这个操作。",
    "BUDGET_EXCEEDED": "预算不足，无法发放。",
    "MAKER_CHECKER": "不能审批自己制作的结算申请，请由另一位财务人员审批。",
    "SAME_PERSON": "不能审批自己制作的结算申请，请由另一位财务人员审批。",
    "FILTER_NOT_SUPPORTED": "这组查询条件不适用，请换一种条件。",
    "RANGE_TOO_LARGE": "要导出的记录太多，请缩小查询范围。",
    "SERVICE_UNAVAILABLE": "系统暂时忙，请稍后再试。",
    # A person's lifecycle (docs/lifecycle.md).
    "EFFECTIVE_DATE_IN_FUTURE": "生效日期不能晚于今天（只有住院可以预先登记）。",
    "STATUS_IMPORT_ROW_INVALID": "事件不对：只能是 死亡、住院 或 出院。",
    "BENEFICIARY_DECEASED": "老人已去世，补贴券已全部作废。",
    "BENEFICIARY_PAUSED": "老人住院期间，补贴券暂停使用。",
    "INVALID_VALUE": "填写的内容有误，请检查后再提交。",
    # The voucher service's own codes (services/voucher/errors.py, service/redemption.py).
    "TOKEN_INVALID": "二维码无效，请让老人刷新二维码后重新扫描。",
    "PIN_REQUIRED": "这张卡需要输入密码。",
    "PIN_INCORRECT": "密码不对，请再试一次。",
    "CARD_LOCKED": "密码错误次数太多，这张卡已锁定，请联系民政部门。",
    "CARD_NOT_VALID": "这张卡已挂失或无效。",
    "BENEFICIARY_NOT_ACTIVE": "老人的补贴资格已暂停。",
    "VOUCHER_EXHAUSTED": "补贴券余额已用完。",
    "DAILY_LIMIT_REACHED": "今天的使用次数已经用完了。",
    "BILL_TOO_SMALL": "消费金额太小，不能使用这项补贴。",
    "SERVICE_NOT_OFFERED": "这项服务不在本机构的价目表上。",
    "BILL_MISMATCH": "金额与本机构价目表不符（价目表可能刚更新），请返回重新核对。",
    "QUANTITY_NOT_ALLOWED": "数量超过了价目表允许的单次上限。",
    "AMOUNT_REQUIRED": "按实际定价的项目需要填写单价。",
    "PRICE_ABOVE_MAXIMUM": "单价超过了价目表规定的最高价。",
    "INVALID_AMOUNT": "请输入正确的金额。",
    "REDEMPTION_VOIDED": "这笔交易已经撤销过了。",
    "REDEMPTION_ALREADY_CLAIMED": "这笔交易已经申请结算，不能撤销。",
    "IDEMPOTENCY_KEY_IN_USE": "这笔交易正在处理，请稍候再看结果。",
    "BENEFICIARY_EXISTS": "这位老人已经登记过了。",
    "PROXY_EXISTS": "这个家属账号已经有代办授权，无需再授权。",
    "BENEFICIARY_NOT_FOUND": "没有找到这位老人。",
    "BENEFICIARY_RECORD_CLOSED": "老人已去世，档案和评估不能再修改。",
    "SPOT_DRAW_NOT_FOUND": "没有找到这次复评抽查。",
    "ISSUANCE_RUN_NOT_FOUND": "没有找到这次发放记录。",
    "ISSUANCE_RUN_IN_PROGRESS": "这个项目这个月正在发放中，请稍后再试。",
    "ISSUANCE_LEASE_LOST": "发放被中断，已由另一次发放接续，请稍后查看结果。",
    "PROGRAM_NOT_FOUND": "没有这个补贴项目。",
    "PROGRAM_EXISTS": "这个项目代码已经用过了，请换一个。",
    "PROGRAM_REGION_MISMATCH": "项目的适用地区必须在本辖区之内。",
    "STATUS_TRANSITION_NOT_ALLOWED": "当前状态下不能进行这个操作。",
    "INVALID_PERIOD": "月份格式不对，请按 2026-11 这样填写。",
    "INVALID_REGION": "行政区划代码不正确。",
    "INVALID_PHONE": "手机号码不正确。",
    "SCORE_OUT_OF_RANGE": "评估分数超出了该项的分值范围。",
    "INVALID_ASSESSMENT_DATE": "评估日期不能晚于今天。",
    "UNSUPPORTED_FILE": "请上传 CSV 或 Excel 文件。",
    "LEDGER_UNAVAILABLE": "系统暂时忙，请稍后再试。",
    "LEDGER_REFUSED": "预算不足或账本拒绝了这笔发放。",
    "NO_BUDGET": "预算不足，无法发放。",
    # Receipts and disputes (services/voucher/service/reviews.py).
    "REDEMPTION_NOT_FOUND": "没有找到这笔交易。",
    "REVIEW_WINDOW_CLOSED": "已超过确认期限，不能再确认或申诉。如有问题请拨打 12349。",
    "REDEMPTION_ALREADY_REVIEWED": "这笔交易已经确认或申诉过了。",
    "DISPUTE_NOT_FOUND": "没有找到这条申诉。",
    "DISPUTE_ALREADY_DECIDED": "这条申诉已经处理过了。",
    "DISPUTE_NOT_DECIDED": "申诉还没有处理结果，暂时不能申请复核。",
    "APPEAL_ALREADY_MADE": "每条申诉只能申请一次复核。",
    "APPEAL_WINDOW_CLOSED": "已超过申请复核的期限。",
    # Home visits (services/voucher/service/visits.py).
    "VISIT_REQUIRED": "上门服务需要先完成上门签到和签退，且服务时长要够。",
    "VISIT_NOT_FOUND": "没有找到这次上门服务记录。",
    "VISIT_ALREADY_CHECKED_OUT": "这次上门服务已经签退了。",
    "VISIT_OUT_OF_RADIUS": "当前位置离老人登记的住址太远。",
    "VISIT_CODE_MISMATCH": "扫描的不是这位老人的付款码。",
    # Settlement (services/ledger/settlement/errors.py).
    "CLAIM_NOT_FOUND": "没有找到这笔结算申请。",
    "NOTHING_TO_CLAIM": "这个月没有可以申请结算的交易。",
    "CLAIM_LINES_REFUSED": "有交易不能结算（已撤销、已申请、已追回、老人申诉待处理，或不属于这个月），请刷新后再试。",
    "CLAIM_STATUS_CONFLICT": "这笔结算申请已经处理过了。",
    "MAKER_CHECKER_VIOLATION": "由您本人发起的事项不能由您自己审批或确认，请由另一位工作人员完成。",
    "VOUCHER_SERVICE_UNAVAILABLE": "系统暂时忙，请稍后再试。",
    "CLAIM_IN_PROGRESS": "这笔结算申请正在处理，请稍候刷新。",
    "REDEMPTION_CLAIMED": "这笔交易已经申请结算，不能撤销。",
    "BATCH_NOT_FOUND": "没有找到这个付款批次。",
    "NOTHING_TO_PAY": "没有可以付款的结算申请或护理补贴。",
    "BANK_ACCOUNT_MISSING": "有服务机构没有登记收款银行账户，请先补全。",
    "CLAIMS_NOT_PAYABLE": "有结算申请已经付款或已在别的批次中，请刷新后再选。",
    "CONFIRMATION_INVALID": "银行回单与这个批次对不上（批次号、明细号或金额不符），"
    "没有入账任何一笔，请核对后重新上传。",
    "FILE_TOO_LARGE": "文件太大了，请上传 5MB 以内的文件。",
    "PROVIDER_SERVICE_UNAVAILABLE": "系统暂时忙，请稍后再试。",
    # Co-payments (services/voucher/service/copay.py).
    "COPAYMENT_NOT_FOUND": "没有找到这笔自付款。",
    "NO_COPAYMENT_DUE": "这笔交易没有需要老人自付的钱。",
    "COPAYMENT_NOT_PAYABLE": "这笔自付款已经付过，或者交易已撤销，不用再付了。",
    "REFUND_EXCEEDS_CAPTURED": "退款不能超过已收的自付款。",
    "PAYMENT_PROVIDER_UNAVAILABLE": "在线支付暂时打不开，请稍后再试。",
    "PAYMENT_PROVIDER_REFUSED": "在线支付平台拒绝了这笔操作，请联系服务机构或民政部门处理。",
    # The provider service's codes (services/provider/errors.py).
    "ILLEGAL_TRANSITION": "当前状态下不能进行这个操作。",
    "PROVIDER_NOT_FOUND": "没有找到这家服务机构。",
    "PROVIDER_REVOKED": "这家服务机构已被撤销资格。",
    "APPLICATION_REFUSED": "这份申请已不予批准，不能再修改。",
    "DOCUMENT_TYPE_NOT_ALLOWED": "证照文件只能是 PDF、JPG 或 PNG 格式（按文件内容判断，改文件名没有用）。",
    "DOCUMENT_TOO_LARGE": "证照文件太大了，请压缩到 5MB 以内再上传。",
    "DOCUMENT_LIMIT_REACHED": "这家机构上传的证照已达上限，请联系民政部门。",
    "DOCUMENT_NOT_FOUND": "没有找到这份证照文件。",
    "TERMINAL_NOT_FOUND": "没有找到这台终端。",
    "TERMINAL_ALREADY_REVOKED": "这台终端已经停用了。",
    "TERMINAL_SECRET_GONE": "这台终端已经开通了，它的密钥只在开通后 10 分钟内能再显示。没有记下的话，请停用它，再开通一台新的。",
    "USCC_ALREADY_REGISTERED": "这个统一社会信用代码已经登记过了。",
    "BANK_CHANGE_NOT_FOUND": "没有找到这条收款账户变更申请。",
    "BANK_CHANGE_NOT_PENDING": "这条收款账户变更已经处理过了（或已被新的申请替代），请刷新后再看。",
    "INTERNAL_ERROR": "系统出了点问题，请稍后再试。",
}


# A refusal whose code has no sentence above: a plain one for its kind (never English).
BY_STATUS: dict[int, str] = {
    400: "提交的内容有误，请检查后再试。",
    401: "登录已失效，请重新登录。",
    403: "您的账号没有这项权限。",
    404: "没有找到相关记录。",
    409: "当前状态下不能进行这个操作，请刷新页面看看最新情况。",
    413: "上传的内容太大了。",
    422: "填写的内容有误，请检查后再提交。",
    423: "已被锁定，请联系民政部门。",
    429: "操作太频繁了，请稍后再试。",
}


# A refusal whose words depend on the field it names (the code alone is too general to say
# what to correct): (code, field) -> words.
BY_FIELD: dict[tuple[str, str], str] = {
    ("INVALID_VALUE", "until"): "出院日期不能早于生效日期（住院开始的那天），请改正后再提交。",
    ("INVALID_VALUE", "to_region_code"): "老人已经住在这个地区了；迁居请选择新的迁入地。",
}


def with_figures(code: str, details: Any) -> str | None:
    """A refusal said with the figures the service sent beside its code (`details`): the
    attempts left on a card, a voucher's daily limit, the amount a bill must exceed, the
    columns a file lacks. None when the code has no such words or the figures are missing
    (FRIENDLY's words then stand)."""
    d = details if isinstance(details, dict) else {}
    if code == "PIN_INCORRECT" and isinstance(d.get("attempts_left"), int):
        left = d["attempts_left"]
        return f"密码不对，请老人重新输入。还可以再试 {left} 次，连续输错 5 次卡会被锁定。"
    if code == "DAILY_LIMIT_REACHED":
        if isinstance(d.get("day_limit_count"), int):
            n = d["day_limit_count"]
            return f"这张补贴券每天最多用 {n} 次，今天的 {n} 次已经用完了，明天可以再用。"
        if isinstance(d.get("day_cap_fen"), int):
            cap = fen_to_yuan(d["day_cap_fen"])
            return f"这张补贴券每天最多补贴 {cap} 元，今天的额度已经用完了，明天可以再用。"
    if code == "BILL_TOO_SMALL" and isinstance(d.get("per_use_fen"), int):
        per_use = fen_to_yuan(d["per_use_fen"])
        return (
            f"这项补贴每次补 {per_use} 元，消费金额要超过 {per_use} 元才能用。"
            "可以再加一项服务，或这次请老人自己付款。"
        )
    if code == "MISSING_COLUMNS" and d.get("headings"):
        return (
            f"文件缺少这些列：{'、'.join(map(str, d['headings']))}。"
            "请下载导入页上的模板，按模板第一行的列名填写后再上传。"
        )
    return None
