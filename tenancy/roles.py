"""Roles and what each may do. Pure module: no ORM."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    APPROVER = "approver"
    PREPARER = "preparer"
    VIEWER = "viewer"


ROLE_LABELS = {
    Role.OWNER: "Owner",
    Role.ADMIN: "Admin",
    Role.APPROVER: "Approver",
    Role.PREPARER: "Preparer",
    Role.VIEWER: "Viewer",
}


class Capability(StrEnum):
    VIEW = "view"  # see documents of the GSTINs the member may access
    EXPORT = "export"
    ACT = "act"  # take IMS actions (accept / reject / pending / reset)
    APPROVE = "approve"  # approve or return a batch proposed by someone else
    MANAGE_MEMBERS = "manage_members"  # invite, set roles, grant GSTINs
    MANAGE_REGISTRATIONS = "manage_registrations"
    SYNC = "sync"  # run syncs and pushes against the portal


_CAPABILITIES: dict[Role, frozenset[Capability]] = {
    Role.OWNER: frozenset(Capability),
    Role.ADMIN: frozenset(Capability),
    Role.APPROVER: frozenset(
        {Capability.VIEW, Capability.EXPORT, Capability.ACT, Capability.APPROVE, Capability.SYNC}
    ),
    Role.PREPARER: frozenset({Capability.VIEW, Capability.EXPORT, Capability.ACT, Capability.SYNC}),
    Role.VIEWER: frozenset({Capability.VIEW, Capability.EXPORT}),
}

# Roles that see every GSTIN of the tenant; the others see only the GSTINs granted to them.
ALL_GSTIN_ROLES = frozenset({Role.OWNER, Role.ADMIN})


def can(role: str, capability: Capability) -> bool:
    """Whether a member with ``role`` has ``capability`` (unknown roles have none)."""
    try:
        return capability in _CAPABILITIES[Role(role)]
    except ValueError:
        return False


def sees_all_gstins(role: str) -> bool:
    return role in ALL_GSTIN_ROLES


class Scope(StrEnum):
    """What an API token may be used for (docs/access.md §1). The member's role still applies on top."""

    READ = "read"  # every GET of the API
    REGISTER_WRITE = "register-write"  # purchase register and supplier master upserts from an ERP
    ACT = "act"  # IMS actions, bulk actions, syncs, pushes, imports, rules and settings
    APPROVE = "approve"  # approval decisions and approval policies


SCOPE_LABELS = {
    Scope.READ: "Read (every GET)",
    Scope.REGISTER_WRITE: "Register write (purchase register and supplier upserts)",
    Scope.ACT: "Act (IMS actions, bulk actions, syncs, pushes, imports, rules)",
    Scope.APPROVE: "Approve (approval decisions and policies)",
}
