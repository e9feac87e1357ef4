"""Approvals in the Prefect UI: pause the flow run with a form; no answer in time means no.

``pause_flow_run(wait_for_input=...)`` shows the form (with a markdown description of what
will happen) on the paused run's page. The server fails a pause that outlives its timeout,
which would leave no way to carry on safely, so a watchdog answers "no" itself when the
operator's time is up; the server's own timeout is only a backstop a little later.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Generic, TypeVar
from uuid import UUID

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from pydantic import BaseModel, ConfigDict, Field

#: Extra seconds the server waits after our own timeout before it fails the paused run.
SERVER_GRACE_SECONDS = 60
TIMEOUT_COMMENT = "no answer before the approval timeout: treated as no"


class ApprovalSettings(BaseModel):
    """When a flow asks a person before a step that is hard to undo."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ask: bool | None = Field(
        default=None,
        description=(
            "Ask in the UI before overwriting tags with force. Unset: ask when the run comes "
            "from a deployment (a terminal run with --force was asked at the terminal)"
        ),
    )
    timeout_seconds: int = Field(
        default=3600, ge=1, le=7 * 24 * 3600, description="No answer within this time means no"
    )

    def should_ask(self) -> bool:
        if self.ask is not None:
            return self.ask
        return bool(flow_run.deployment_id)


class Approval(RunInput):
    """The approval form: nothing happens unless ``approve`` is ticked."""

    approve: bool = Field(default=False, description="Tick to approve; leave empty to refuse")
    comment: str = Field(default="", description="Why (kept in the run's log)")


class ForceApproval(Approval):
    """Approve overwriting target tags that hold another digest."""


class DeleteApproval(Approval):
    """Approve deleting the source; type the registry's name to confirm."""

    confirm_registry: str = Field(
        default="", description="Type the source registry's name exactly to confirm"
    )


A = TypeVar("A", bound=Approval)


@dataclass
class Answer(Generic[A]):
    """What the person answered (``timed_out`` when nobody did)."""

    form: A
    timed_out: bool


def _resume_with_no(run_id: UUID, done: threading.Event, timeout: float) -> None:
    if done.wait(timeout):
        return

    async def resume() -> None:
        async with get_client() as client:
            await client.resume_flow_run(
                run_id, run_input={"approve": False, "comment": TIMEOUT_COMMENT}
            )

    try:
        asyncio.run(resume())
    except Exception:
        pass  # answered meanwhile, or the server's own timeout will fail the run


def ask(form: type[A], description: str, timeout_seconds: int, **initial: object) -> Answer[A]:
    """Pause this flow run until a person submits ``form`` or the time is up (then "no")."""
    logger = get_run_logger()
    run_id = flow_run.id
    if run_id is None:
        raise RuntimeError("approvals need a flow run")
    done = threading.Event()
    watchdog = threading.Thread(
        target=_resume_with_no,
        args=(UUID(str(run_id)), done, float(timeout_seconds)),
        name="approval-timeout",
        daemon=True,
    )
    logger.info("waiting up to %ss for an approval in the UI", timeout_seconds)
    watchdog.start()
    try:
        answer = pause_flow_run(
            wait_for_input=form.with_initial_data(description=description, **initial),
            timeout=timeout_seconds + SERVER_GRACE_SECONDS,
            poll_interval=max(1, min(10, timeout_seconds // 5)),
        )
    finally:
        done.set()
    timed_out = answer.comment == TIMEOUT_COMMENT and not answer.approve
    logger.info(
        "approval: %s%s",
        "yes" if answer.approve else "no",
        f" ({answer.comment})" if answer.comment else "",
    )
    return Answer(form=answer, timed_out=timed_out)


def is_approved(approve: bool, confirm: str, expected: str) -> tuple[bool, str]:
    """An approval counts only when ticked *and* the registry name is typed back exactly."""
    if not approve:
        return False, "not approved"
    if confirm.strip() != expected:
        return False, f"approval ignored: the typed name {confirm!r} is not {expected!r}"
    return True, "approved"
