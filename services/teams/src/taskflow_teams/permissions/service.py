"""The permission catalogue as the API shows it: read from taskflow_contracts.permissions,
the one place permissions, their descriptions and the built-in roles' grants are written."""

from __future__ import annotations

from taskflow_contracts import permissions as P

from taskflow_teams.permissions.schemas import BuiltInRoleRead, PermissionCatalogue, PermissionRead


def catalogue() -> PermissionCatalogue:
    return PermissionCatalogue(
        permissions=[
            PermissionRead(name=name, description=P.DESCRIPTIONS[name])
            for name in sorted(P.ALL_PERMISSIONS)
        ],
        built_in_roles=[
            BuiltInRoleRead(name=name, permissions=sorted(granted))
            for name, granted in P.BUILT_IN_ROLES.items()
        ],
    )
