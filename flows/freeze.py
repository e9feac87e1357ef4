"""Source tenant: freeze the source registry while it is migrated, and unfreeze it after.

Freezing sets ``writeEnabled=false`` (and with ``delete_too`` ``deleteEnabled=false``) on every
repository in scope, so no push made during the migration is silently missed. The locks from
before are recorded first (``<source>/freeze.json`` in the container); unfreezing restores
exactly those. A plain OCI registry has no locks: the run says so and what to do instead.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.states import Completed, Failed, State

from acr_migrate.freeze import FreezeOptions, freeze_markdown, frozen, merged_record, now
from acr_migrate.models import ConfigError, RegistryEndpoint
from acr_migrate.preflight import Need, refusal
from acr_migrate.storage import StorageSettings
from flows.artifacts import artifact_key, markdown
from tasks.freeze import load_freeze_record, read_locks, save_freeze_record, set_locks
from tasks.preflight import preflight


@flow(name="freeze-source", log_prints=False)
def freeze_source(
    source: RegistryEndpoint,
    storage: StorageSettings,
    options: FreezeOptions = FreezeOptions(),  # noqa: B008 - pydantic defaults are immutable
) -> State:
    """Forbid pushes (and with ``delete_too`` deletes) to the repositories in scope; the locks
    from before are recorded first, for ``unfreeze-source``."""
    problems = preflight(storage, [Need(source, "source")], container_must_exist=False)
    if problems:
        return Failed(message=refusal(problems))
    try:
        current = read_locks(source, options.include, options.exclude)
    except ConfigError as exc:
        return Failed(message=str(exc))
    wanted = [frozen(locks, options.delete_too) for locks in current]
    text = freeze_markdown(
        source.login_server, list(zip(current, wanted, strict=True)), "Freeze", options.dry_run
    )
    markdown(artifact_key("freeze", source.name), text, f"Freeze of {source.name}")
    if options.dry_run:
        return Completed(message=f"dry run: {len(current)} repositories would be frozen")
    earlier = load_freeze_record(storage, source.name)
    url = save_freeze_record(
        storage, source.name, merged_record(earlier, source.login_server, current)
    )
    after = set_locks(source, wanted)
    get_run_logger().info("locks before the freeze recorded at %s", url)
    still_open = [locks.repository for locks in after if locks.write_enabled]
    if still_open:
        return Failed(message=f"{len(still_open)} repositories still take pushes: {still_open[:5]}")
    return Completed(
        message=f"froze {len(after)} repositories of {source.name}; unfreeze-source restores them"
    )


@flow(name="unfreeze-source", log_prints=False)
def unfreeze_source(
    source: RegistryEndpoint, storage: StorageSettings, dry_run: bool = False
) -> State:
    """Give every repository the freeze recorded back exactly the locks it had before."""
    record = load_freeze_record(storage, source.name)
    if record is None or not record.active:
        when = f" (restored at {record.restored_at})" if record else ""
        return Completed(message=f"nothing to unfreeze: no active freeze of {source.name}{when}")
    repositories = [locks.repository for locks in record.previous]
    found = read_locks(source, repositories, []) if repositories else []
    current = {c.repository: c for c in found}
    wanted = [locks for locks in record.previous if locks.repository in current]
    pairs = [(current[locks.repository], locks) for locks in wanted]
    markdown(
        artifact_key("unfreeze", source.name),
        freeze_markdown(source.login_server, pairs, "Unfreeze", dry_run),
        f"Unfreeze of {source.name}",
    )
    if dry_run:
        return Completed(message=f"dry run: {len(wanted)} repositories would be restored")
    after = set_locks(source, wanted)
    expected = {locks.repository: locks for locks in wanted}
    differ = [a.repository for a in after if a != expected[a.repository]]
    if differ:
        return Failed(
            message=f"{len(differ)} repositories did not take their locks back: {differ[:5]}"
        )
    save_freeze_record(storage, source.name, record.model_copy(update={"restored_at": now()}))
    gone = len(record.previous) - len(wanted)
    return Completed(
        message=f"restored the locks of {len(after)} repositories of {source.name}"
        + (f" ({gone} deleted since the freeze)" if gone else "")
    )
