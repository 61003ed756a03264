from django_tasks import task

from templates_app import services


@task()
def follow_build(build_id):
    """Start (or resume, by its E2B IDs) and follow one template build to its end.

    Safe to run twice: a second task finds the build claimed and returns. Before following,
    it hands any build whose worker died to a new task.
    """
    services.recover_stale_builds()
    build = services.follow(build_id)
    return build.status if build is not None else "followed elsewhere"
