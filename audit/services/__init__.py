"""The audit trail's services: callers record with :func:`record`.

One module per part: ``recording`` (appending events to the chain), ``checkpoints``
(signing its head, copying each checkpoint off the machine, reading a kept copy back) and
``verification`` (walking the chain and holding it to its checkpoints); other modules
import these names from here.
"""

from audit.services.checkpoints import (
    COPY_WHAT,
    checkpoint_line,
    checkpoint_lines,
    create_checkpoint,
    head,
    keep_copy,
    read_checkpoint_lines,
)
from audit.services.recording import (
    append_events,
    append_statement,
    appended,
    collected,
    pseudonym,
    record,
    update_and_record,
)
from audit.services.verification import (
    ENDS_BEFORE,
    check_trail,
    check_uploaded_copy,
    iter_chain_rows,
    run_verification,
    stale_checkpoints,
    verify_trail,
)

__all__ = [
    "COPY_WHAT",
    "ENDS_BEFORE",
    "append_events",
    "append_statement",
    "appended",
    "check_trail",
    "check_uploaded_copy",
    "checkpoint_line",
    "checkpoint_lines",
    "collected",
    "create_checkpoint",
    "head",
    "iter_chain_rows",
    "keep_copy",
    "pseudonym",
    "read_checkpoint_lines",
    "record",
    "run_verification",
    "stale_checkpoints",
    "update_and_record",
    "verify_trail",
]
