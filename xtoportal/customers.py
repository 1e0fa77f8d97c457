"""Changing a customer, the same way for the API, the portal and the dashboard."""
from .events import Origin, changed_fields, emit
from .models import Customer

METADATA_MAX_KEYS = 50


class TooManyMetadataKeys(ValueError):
    pass


def merge_metadata(current: dict, update: dict) -> dict:
    """Keys merge; a key set to "" is removed; at most 50 keys remain."""
    merged = dict(current or {})
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    if len(merged) > METADATA_MAX_KEYS:
        raise TooManyMetadataKeys(f"metadata can hold at most {METADATA_MAX_KEYS} keys")
    return merged


def update_customer(customer: Customer, changes: dict, origin: Origin) -> Customer:
    """Apply `changes` (already validated) and emit `customer.updated` when anything actually changed."""
    before = customer.to_api()
    for field, value in changes.items():
        if field == "metadata":
            customer.metadata_ = merge_metadata(customer.metadata_, value)
        elif field == "default_payment_method":
            customer.default_payment_method_id = value
        else:
            setattr(customer, field, value)
    after = customer.to_api()
    previous = changed_fields(before, after)
    if previous:
        emit(customer.merchant_id, "customer.updated", after, origin, previous_attributes=previous)
    return customer
