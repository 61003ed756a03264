"""Workflows across tenancy models: members and organizations."""

import secrets

from django.db import transaction

from portal import audit
from portal.models import Membership, Organization, Role, User


class LastAdminError(Exception):
    """The change would leave an organization without an admin."""

    message = "An organization needs at least one admin: make someone else admin first."


def temporary_password():
    return secrets.token_urlsafe(12)


def _user_for_email(email):
    """The user with this email, or a new account with a one-time password to hand over."""
    email = email.strip().lower()
    user = User.objects.filter(email__iexact=email).first()
    if user is not None:
        return user, None
    password = temporary_password()
    return User.objects.create_user(email=email, password=password), password


@transaction.atomic
def add_member(request, organization, email, role):
    """Returns (membership, temporary password if an account was created)."""
    user, password = _user_for_email(email)
    membership = Membership.objects.create(user=user, organization=organization, role=role)
    audit.record(
        request,
        "member.add",
        organization,
        target=user.email,
        details={"role": role, "account_created": password is not None},
    )
    return membership, password


def _lock_admins(organization):
    return list(
        Membership.objects.select_for_update().filter(organization=organization, role=Role.ADMIN)
    )


@transaction.atomic
def change_role(request, membership, role):
    admins = _lock_admins(membership.organization)
    membership.refresh_from_db()
    if membership.role == role:
        return membership
    if membership.role == Role.ADMIN and len(admins) <= 1:
        raise LastAdminError
    old = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    audit.record(
        request,
        "member.role_change",
        membership.organization,
        target=membership.user.email,
        details={"from": old, "to": role},
    )
    return membership


@transaction.atomic
def remove_member(request, membership):
    admins = _lock_admins(membership.organization)
    membership.refresh_from_db()
    if membership.role == Role.ADMIN and len(admins) <= 1:
        raise LastAdminError
    membership.delete()
    audit.record(
        request,
        "member.remove",
        membership.organization,
        target=membership.user.email,
        details={"role": membership.role},
    )


@transaction.atomic
def create_organization(request, name, slug, admin_email):
    """Returns (organization, temporary password if the first admin's account was created)."""
    organization = Organization.objects.create(name=name, slug=slug)
    audit.record(request, "organization.create", organization, target=slug, details={"name": name})
    _, password = add_member(request, organization, admin_email, Role.ADMIN)
    return organization, password
