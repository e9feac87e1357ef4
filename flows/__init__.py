"""Prefect flows: the runbook phases. Orchestration and artifacts only; no SDK calls here."""
