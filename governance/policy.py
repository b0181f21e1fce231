"""Pure policy rules: no ORM queries, no I/O, only the attributes passed in.

The policy engine proper (scan result → decision) grows here; for now, the
routing requirements a backend must meet to be approved for a category.
"""

import datetime as dt
from typing import Protocol


class RoutingRequirements(Protocol):
    name: str
    blocks_all: bool
    allowed_hosting_classes: list[str]
    forbid_training: bool
    forbid_consumer_products: bool
    require_zero_retention: bool
    allowed_regions: list[str]
    require_dpa: bool


class BackendAttributes(Protocol):
    name: str
    hosting_class: str
    trains_on_inputs: bool
    consumer_product: bool
    provider_retention_days: int | None
    region: str
    dpa_signed: bool
    dpa_expires_on: dt.date | None


HOSTING_LABELS = {
    "on_prem": "on-premise",
    "private_cloud": "private cloud",
    "external_api": "external API",
}


def unmet_requirements(
    category: RoutingRequirements, backend: BackendAttributes, *, today: dt.date
) -> list[str]:
    """Why ``backend`` may not serve ``category``, one sentence per broken requirement.

    An empty list means every requirement holds. ``today`` decides whether a
    signed DPA has expired.
    """
    if category.blocks_all:
        return [f"{category.name} is prohibited: no backend may receive it."]
    problems = []
    allowed = category.allowed_hosting_classes
    if allowed and backend.hosting_class not in allowed:
        wanted = " or ".join(HOSTING_LABELS.get(h, h) for h in allowed)
        got = HOSTING_LABELS.get(backend.hosting_class, backend.hosting_class)
        problems.append(f"{category.name} needs a {wanted} backend; {backend.name} is {got}.")
    if category.forbid_training and backend.trains_on_inputs:
        problems.append(f"{category.name} forbids backends that train on inputs.")
    if category.forbid_consumer_products and backend.consumer_product:
        problems.append(f"{category.name} forbids consumer products.")
    if category.require_zero_retention and backend.provider_retention_days != 0:
        problems.append(f"{category.name} needs zero data retention at the provider.")
    if category.allowed_regions and backend.region not in category.allowed_regions:
        regions = ", ".join(category.allowed_regions)
        where = backend.region or "an unknown region"
        problems.append(f"{category.name} may only go to {regions}; {backend.name} is in {where}.")
    # A DPA binds a third-party processor; hardware we run ourselves has none.
    if category.require_dpa and backend.hosting_class != "on_prem":
        if not backend.dpa_signed:
            problems.append(f"{category.name} needs a signed data processing agreement.")
        elif backend.dpa_expires_on is not None and backend.dpa_expires_on < today:
            problems.append(
                f"{category.name} needs a data processing agreement; "
                f"{backend.name}'s expired on {backend.dpa_expires_on.isoformat()}."
            )
    return problems
