"""The provider service's rules: applying, the status workflow, the credit record, price lists,
terminals, nearby search and the directory feed. No FastAPI here; SQL is in repository.py.

Every change transaction locks the provider row first and then takes the next directory
version (see repository.py for the lock order); the change is stamped with that version so
that the voucher service, polling `directory(since)`, sees it within its poll interval.
"""

from services.provider.service.access import (  # noqa: F401
    cipher,
    ensure_admin_of,
    ensure_officer_of,
    is_insider,
    load_provider,
    mask_account_number,
)
from services.provider.service.bank_account import (  # noqa: F401
    decide as decide_bank_change,
)
from services.provider.service.bank_account import (  # noqa: F401
    list_changes as bank_account_changes,
)
from services.provider.service.bank_account import (  # noqa: F401
    pending_in_region as pending_bank_account_changes,
)
from services.provider.service.registry import (  # noqa: F401
    apply,
    changes,
    check_region,
    check_uscc,
    read,
    registry,
    update_price_list,
    update_profile,
)
from services.provider.service.search import directory, nearby  # noqa: F401
from services.provider.service.terminals import (  # noqa: F401
    issue_terminal,
    list_terminals,
    rename_terminal,
    revoke_terminal,
    terminal_principal,
)
from services.provider.service.workflow import (  # noqa: F401
    add_credit_event,
    change_status,
    credit_record,
    history,
)
