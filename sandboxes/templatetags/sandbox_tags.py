from django import template
from django.db.models import Count, Q

from sandboxes.models import SandboxRecord, SandboxState

register = template.Library()


@register.simple_tag
def sandbox_counts(organization):
    """Running and paused sandboxes as the organization's records last saw them."""
    return SandboxRecord.objects.for_organization(organization).live().aggregate(
        running=Count("pk", filter=Q(state=SandboxState.RUNNING)),
        paused=Count("pk", filter=Q(state=SandboxState.PAUSED)),
    )
